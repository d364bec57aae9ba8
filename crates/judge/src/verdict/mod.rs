//! Turns what a judge model printed into a typed verdict, or a failure that says why.
//!
//! Evidence is weighed in three tiers, and the first tier that holds any result decides:
//! 1. `Result` markers — Selene's trained `**Result:** …`, in any of the spellings models use,
//!    and Prometheus' `[RESULT] …`;
//! 2. other result markers — `Score:`, `Rating:`, `Verdict:`, `Judgment:`, `Grade:`;
//! 3. a `[[X]]` anywhere, or a last line that is nothing but a label.
//!
//! Within the deciding tier every marker must agree: a repeated result is fine, two different
//! ones, an ambiguous one (`3 or 4`) or an invalid one (`6` on a 1-5 scale) make the whole
//! output a failure. Benchmarks count failures as wrong, so a wrong guess would cost the same as
//! a refusal but hide the problem; a refusal keeps the parse-failure rate honest.

mod markers;
mod text;
mod value;

use std::ops::Range;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::label::{Label, LabelSet};
use markers::{Marker, MarkerKind, find_markers};
use value::{Reading, read_bare_line, read_double_brackets, read_marker_value};

/// A parsed judgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The judge's explanation, if it gave one.
    pub reasoning: Option<String>,
    pub result: Label,
    /// Byte range of the result's value in the parsed text (the digits of `4/5`, the letter of
    /// `Response A`), where the runtime finds the token whose probabilities it reports. Not
    /// serialized: a verdict read back from JSON has an empty span.
    #[serde(skip)]
    pub result_span: Range<usize>,
}

/// Why no verdict could be read.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("{reason}")]
pub struct ParseFailure {
    pub reason: String,
}

/// Parses a judge's output against the labels its task accepts.
pub fn parse_verdict(text: &str, labels: LabelSet) -> Result<Verdict, ParseFailure> {
    if text.trim().is_empty() {
        return Err(failure("the output is empty"));
    }
    let markers = find_markers(text);
    let mut empty_marker = None;
    for kind in [MarkerKind::Result, MarkerKind::OtherResult] {
        let tier: Vec<&Marker> = markers.iter().filter(|m| m.kind == kind).collect();
        let readings = tier.iter().map(|m| (m.start, read_marker_value(text, m.value_start, labels)));
        match decide(readings)? {
            Some((label, span, start)) => return Ok(verdict(text, &markers, label, span, start)),
            None => empty_marker = empty_marker.or(tier.first().map(|m| m.start)),
        }
    }

    let last_line = last_line(text);
    let mut readings = read_double_brackets(text, labels);
    readings.push((last_line.start, read_bare_line(text, last_line, labels)));
    if let Some((label, span, start)) = decide(readings.into_iter())? {
        return Ok(verdict(text, &markers, label, span, start));
    }

    Err(match empty_marker {
        Some(at) => {
            failure(format!("found `{}` but no result ({}) after it", text::line_excerpt(text, at), labels.describe()))
        }
        None => failure(format!("no result found: expected `**Result:**` followed by {}", labels.describe())),
    })
}

/// The verdict of one tier: the label all its readings agree on, an error, or `None` when the
/// tier holds nothing.
fn decide(
    readings: impl Iterator<Item = (usize, Reading)>,
) -> Result<Option<(Label, Range<usize>, usize)>, ParseFailure> {
    let mut chosen: Option<(Label, Range<usize>, usize)> = None;
    for (start, reading) in readings {
        match reading {
            Reading::Invalid(reason) => return Err(failure(reason)),
            Reading::Nothing => {}
            Reading::Label { label, span } => match &chosen {
                None => chosen = Some((label, span, start)),
                Some((first, _, _)) if *first == label => {}
                Some((first, _, _)) => {
                    return Err(failure(format!("conflicting results: {first} and then {label}")));
                }
            },
        }
    }
    Ok(chosen)
}

fn verdict(text: &str, markers: &[Marker], result: Label, result_span: Range<usize>, result_start: usize) -> Verdict {
    Verdict { reasoning: reasoning(text, markers, result_start), result, result_span }
}

/// The text after a reasoning marker up to the next result marker, or failing a reasoning
/// marker, everything before the result.
fn reasoning(text: &str, markers: &[Marker], result_start: usize) -> Option<String> {
    let range = match markers.iter().find(|m| m.kind == MarkerKind::Reasoning) {
        Some(reasoning) => {
            let end = markers
                .iter()
                .filter(|m| m.kind != MarkerKind::Reasoning && m.start >= reasoning.value_start)
                .map(|m| m.start)
                .chain(std::iter::once(result_start).filter(|&start| start >= reasoning.value_start))
                .min()
                .unwrap_or(text.len());
            reasoning.value_start..end
        }
        None => 0..result_start,
    };
    let reasoning = text[range].trim();
    (!reasoning.is_empty()).then(|| reasoning.to_owned())
}

/// The last line holding anything but whitespace.
fn last_line(text: &str) -> Range<usize> {
    let end = text.trim_end().len();
    let start = text[..end].rfind('\n').map_or(0, |newline| newline + 1);
    start..end
}

fn failure(reason: impl Into<String>) -> ParseFailure {
    ParseFailure { reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selene_format_with_reasoning() {
        let text = "**Reasoning:** The response is accurate and concise.\n\n**Result:** 4";
        let verdict = parse_verdict(text, LabelSet::SCORES_1_TO_5).unwrap();
        assert_eq!(verdict.result, Label::Score(4));
        assert_eq!(verdict.reasoning.as_deref(), Some("The response is accurate and concise."));
        assert_eq!(&text[verdict.result_span], "4");
    }

    #[test]
    fn result_before_reasoning() {
        let text = "**Result:** B\n\n**Reasoning:** B answers the question.";
        let verdict = parse_verdict(text, LabelSet::AB).unwrap();
        assert_eq!((verdict.result, verdict.reasoning.as_deref()), (Label::B, Some("B answers the question.")));
    }

    #[test]
    fn tiers_prefer_result_markers() {
        let text = "Score: 2 for style, Score: 5 for accuracy.\n**Result:** 4";
        assert_eq!(parse_verdict(text, LabelSet::SCORES_1_TO_5).unwrap().result, Label::Score(4));
        let text = "The response is fine.\nScore: 3";
        assert_eq!(parse_verdict(text, LabelSet::SCORES_1_TO_5).unwrap().result, Label::Score(3));
    }

    #[test]
    fn repeated_results_must_agree() {
        let same = "**Result:** A\n\n**Result:** A";
        assert_eq!(parse_verdict(same, LabelSet::AB).unwrap().result, Label::A);
        let different = "**Result:** A\n\nOn reflection:\n**Result:** B";
        assert!(parse_verdict(different, LabelSet::AB).unwrap_err().reason.contains("conflicting"));
    }

    #[test]
    fn fallbacks_without_markers() {
        let verdict = parse_verdict("Both are close, but the first is clearer.\n\nA", LabelSet::AB).unwrap();
        assert_eq!(verdict.result, Label::A);
        assert_eq!(verdict.reasoning.as_deref(), Some("Both are close, but the first is clearer."));
        let verdict = parse_verdict("My final verdict is [[B]] since it is complete.", LabelSet::AB).unwrap();
        assert_eq!((verdict.result, verdict.reasoning.as_deref()), (Label::B, Some("My final verdict is")));
    }

    #[test]
    fn failures_explain_themselves() {
        let cases = [
            ("", "empty"),
            ("**Reasoning:** The response is thorough but", "no result found"),
            ("**Reasoning:** Good.\n\n**Result:**", "no result (1-5) after it"),
            ("**Result:** 3 or 4", "ambiguous"),
        ];
        for (text, reason) in cases {
            let error = parse_verdict(text, LabelSet::SCORES_1_TO_5).unwrap_err();
            assert!(error.reason.contains(reason), "{text:?}: {error}");
        }
    }
}
