//! Probabilities over labels, read from the model's log-probabilities at the result token.
//!
//! A sampled result is one draw; the distribution the model held at that position says how
//! sure it was and, for scores, gives an expected value finer than the integer scale (the
//! G-Eval idea). The runtime reports the top candidate tokens at one position; this module
//! says which position ([`find_result_token`]) and what the candidates mean
//! ([`label_distribution`]). Selene was not trained for this use, so the numbers are a
//! diagnostic to validate against benchmarks, not a replacement for the sampled verdict.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::label::{Label, LabelSet};
use crate::verdict::{ParseFailure, Verdict, parse_verdict};

/// A probability distribution over a task's labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelDistribution {
    /// Every label of the set, in set order, with its probability; normalized over the label
    /// tokens among the candidates, so the probabilities sum to 1.
    pub probabilities: Vec<(Label, f64)>,
    /// The most probable label (the first in set order on a tie).
    pub top: Label,
    /// The probability of `top`.
    pub confidence: f64,
    /// Σ score × probability, for score labels.
    pub expected_score: Option<f64>,
    /// How much of the candidates' raw probability fell on label tokens (at most 1 when the
    /// log-probabilities are normalized over the vocabulary); a small value means the model
    /// meant to write something else there.
    pub label_mass: f64,
}

/// Why no distribution could be computed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DistributionError {
    #[error("candidate {index} (`{token}`) has log-probability {logprob}, which is not a number below +∞")]
    NotFinite { index: usize, token: String, logprob: f32 },
    #[error("no candidate token is a label ({labels}), or all such candidates have probability 0")]
    NoLabelTokens { labels: String },
}

/// Where the result value sits in a generation's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultToken {
    /// Index of the token holding the result value; its candidates are the ones to pass to
    /// [`label_distribution`].
    pub index: usize,
    /// The verdict parsed from the tokens' text.
    pub verdict: Verdict,
}

/// Why the result token could not be found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResultTokenError {
    #[error("the output does not parse: {0}")]
    Parse(#[from] ParseFailure),
    #[error(
        "the result value shares token {index} (`{token}`) with other text, so that token's \
         candidates are not a choice between labels"
    )]
    SharedToken { index: usize, token: String },
}

/// Turns the candidates for one token position — `(token text, log-probability)` pairs — into
/// a distribution over `labels`. Token texts are compared after trimming whitespace (`" 4"` and
/// `"4"` are the same label, and their probabilities add up); Yes/No ignore case; other
/// candidates are ignored.
pub fn label_distribution<S: AsRef<str>>(
    candidates: &[(S, f32)],
    labels: LabelSet,
) -> Result<LabelDistribution, DistributionError> {
    let all_labels = labels.labels();
    let mut masses = vec![0.0_f64; all_labels.len()];
    for (index, (token, logprob)) in candidates.iter().enumerate() {
        let token = token.as_ref();
        if logprob.is_nan() || *logprob == f32::INFINITY {
            return Err(DistributionError::NotFinite { index, token: token.to_owned(), logprob: *logprob });
        }
        if let Some(slot) = token_label(token, labels).and_then(|label| all_labels.iter().position(|l| *l == label)) {
            masses[slot] += f64::from(*logprob).exp();
        }
    }
    let label_mass: f64 = masses.iter().sum();
    if label_mass <= 0.0 {
        return Err(DistributionError::NoLabelTokens { labels: labels.describe() });
    }
    let probabilities: Vec<(Label, f64)> =
        all_labels.iter().zip(&masses).map(|(label, mass)| (*label, mass / label_mass)).collect();
    let (top, confidence) = probabilities
        .iter()
        .fold((all_labels[0], f64::NEG_INFINITY), |best, &(label, p)| if p > best.1 { (label, p) } else { best });
    let expected_score = match labels {
        LabelSet::Scores { .. } => Some(
            probabilities
                .iter()
                .map(|(label, p)| match label {
                    Label::Score(score) => f64::from(*score) * p,
                    _ => 0.0,
                })
                .sum(),
        ),
        LabelSet::YesNo | LabelSet::AB => None,
    };
    Ok(LabelDistribution { probabilities, top, confidence, expected_score, label_mass })
}

/// Finds, in a generation given as its tokens' bytes (in order; their concatenation is the
/// generated text), the token that holds the result value: the value the parser reads after
/// `Result:` (or the marker it fell back to). Also returns the verdict itself.
pub fn find_result_token<T: AsRef<[u8]>>(tokens: &[T], labels: LabelSet) -> Result<ResultToken, ResultTokenError> {
    let bytes: Vec<u8> = tokens.iter().flat_map(|token| token.as_ref().iter().copied()).collect();
    // A generation cut off by the token limit may end inside a character; what precedes is whole.
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default(),
    };
    let verdict = parse_verdict(text, labels)?;
    let mut token_start = 0;
    for (index, token) in tokens.iter().enumerate() {
        let token = token.as_ref();
        let token_end = token_start + token.len();
        if (token_start..token_end).contains(&verdict.result_span.start) {
            let token_text = String::from_utf8_lossy(token);
            if token_label(&token_text, labels) != Some(verdict.result) {
                return Err(ResultTokenError::SharedToken { index, token: token_text.into_owned() });
            }
            return Ok(ResultToken { index, verdict });
        }
        token_start = token_end;
    }
    // The span lies inside the text, and the text is made of the tokens.
    unreachable!("result span {:?} outside a text of {} bytes", verdict.result_span, text.len())
}

/// The label a single token stands for, if it is exactly one (whitespace aside).
fn token_label(token: &str, labels: LabelSet) -> Option<Label> {
    let token = token.trim();
    let label = match labels {
        LabelSet::Scores { .. } if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) => {
            Label::Score(token.parse().ok()?)
        }
        LabelSet::YesNo if token.eq_ignore_ascii_case("yes") => Label::Yes,
        LabelSet::YesNo if token.eq_ignore_ascii_case("no") => Label::No,
        LabelSet::AB if token == "A" => Label::A,
        LabelSet::AB if token == "B" => Label::B,
        _ => return None,
    };
    labels.contains(label).then_some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The candidates are f32 log-probabilities.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn hand_computed_scores() {
        // Raw probabilities: "4" 0.5, " 4" 0.1, "5" 0.2, "3" 0.1, "Four" 0.05 (ignored), "6" 0.05 (off-scale).
        let candidates: Vec<(&str, f32)> =
            vec![("4", 0.5), (" 4", 0.1), ("5", 0.2), ("3", 0.1), ("Four", 0.05), ("6", 0.05)]
                .into_iter()
                .map(|(t, p)| (t, (p as f32).ln()))
                .collect();
        let distribution = label_distribution(&candidates, LabelSet::SCORES_1_TO_5).unwrap();
        let p: Vec<f64> = distribution.probabilities.iter().map(|(_, p)| *p).collect();
        let expected = [0.0, 0.0, 0.1 / 0.9, 0.6 / 0.9, 0.2 / 0.9];
        assert!(p.iter().zip(expected).all(|(a, b)| close(*a, b)), "{p:?}");
        assert_eq!(distribution.top, Label::Score(4));
        assert!(close(distribution.confidence, 0.6 / 0.9));
        assert!(close(distribution.expected_score.unwrap(), (3.0 * 0.1 + 4.0 * 0.6 + 5.0 * 0.2) / 0.9));
        assert!(close(distribution.label_mass, 0.9));
    }

    #[test]
    fn yes_no_ignores_case_and_ties_go_to_the_first_label() {
        let candidates = [(" yes", 0.25_f32.ln()), ("No", 0.25_f32.ln()), ("Maybe", 0.5_f32.ln())];
        let distribution = label_distribution(&candidates, LabelSet::YesNo).unwrap();
        assert_eq!((distribution.top, distribution.expected_score), (Label::Yes, None));
        assert!(close(distribution.confidence, 0.5));
    }

    #[test]
    fn bad_candidates_are_errors() {
        let nan = label_distribution(&[("A", f32::NAN)], LabelSet::AB).unwrap_err();
        assert!(matches!(nan, DistributionError::NotFinite { index: 0, .. }));
        let none = label_distribution(&[("a", -0.1_f32), ("C", -1.0)], LabelSet::AB).unwrap_err();
        assert!(matches!(none, DistributionError::NoLabelTokens { .. }));
        let zero = label_distribution(&[("A", f32::NEG_INFINITY)], LabelSet::AB).unwrap_err();
        assert!(matches!(zero, DistributionError::NoLabelTokens { .. }));
    }

    #[test]
    fn finds_the_result_token() {
        let tokens = ["**", "Reason", "ing", ":**", " Good", ".\n\n", "**", "Result", ":**", " ", "4", "<|eot_id|>"];
        let found = find_result_token(&tokens, LabelSet::SCORES_1_TO_5).unwrap();
        assert_eq!((found.index, found.verdict.result), (10, Label::Score(4)));
        let tokens = ["**Result:**", " Response", " B"];
        assert_eq!(find_result_token(&tokens, LabelSet::AB).unwrap().index, 2);
        let tokens = ["Result:", " Yes", "."];
        assert_eq!(find_result_token(&tokens, LabelSet::YesNo).unwrap().index, 1);
    }

    #[test]
    fn result_token_failures() {
        let shared = find_result_token(&["Result:", " 4/", "5"], LabelSet::SCORES_1_TO_5).unwrap_err();
        assert_eq!(shared, ResultTokenError::SharedToken { index: 1, token: " 4/".into() });
        let unparsed = find_result_token(&["Result:", " maybe"], LabelSet::SCORES_1_TO_5).unwrap_err();
        assert!(matches!(unparsed, ResultTokenError::Parse(_)));
        // A cut-off multi-byte character at the end does not hide the result.
        let cut: [&[u8]; 3] = [b"Result:", b" B ", &[0xE2, 0x9C]];
        assert_eq!(find_result_token(&cut, LabelSet::AB).unwrap().index, 1);
    }
}
