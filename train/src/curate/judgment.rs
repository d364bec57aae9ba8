//! Judgments and how a rejected one is chosen for a chosen (gold) one, as the paper describes
//! (§2.2): the opposite for binary tasks, a score at least two points away on a scale (both sides
//! where both exist: 4 or 5 for a gold 2, 1 or 5 for a gold 3), and A or B at random when the gold
//! judgment of a pairwise item is a tie.

use std::fmt;

use selene_judge::{Label, LabelSet, ParseFailure, parse_verdict};

use selene_runtime::Rng;

/// What a judge concludes: one of the task's labels, or a tie (pairwise datasets that allow one;
/// Selene's templates have no tie label, so a tie is only ever a chosen judgment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judgment {
    Label(Label),
    Tie,
}

impl fmt::Display for Judgment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Judgment::Label(label) => write!(f, "{label}"),
            Judgment::Tie => f.write_str("Tie"),
        }
    }
}

/// The rejected judgment for `gold` on a task with `labels`, or `None` when the scale is too
/// short for a score two points away.
pub fn rejected_for(gold: Judgment, labels: LabelSet, rng: &mut Rng) -> Option<Judgment> {
    let label = match gold {
        Judgment::Tie => return Some(Judgment::Label(if rng.below(2) == 0 { Label::A } else { Label::B })),
        Judgment::Label(label) => label,
    };
    let rejected = match (label, labels) {
        (Label::A, _) => Label::B,
        (Label::B, _) => Label::A,
        (Label::Yes, _) => Label::No,
        (Label::No, _) => Label::Yes,
        (Label::Score(gold), LabelSet::Scores { min, max }) => {
            let far: Vec<u32> = (min..=max).filter(|s| s.abs_diff(gold) >= 2).collect();
            if far.is_empty() {
                return None;
            }
            Label::Score(far[rng.below(far.len())])
        }
        (Label::Score(_), _) => return None,
    };
    Some(Judgment::Label(rejected))
}

/// How a written evaluation relates to the judgment it was asked to argue for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consistency {
    Consistent,
    /// The text's result is another judgment.
    Mismatch(String),
    /// No result could be read from the text.
    Unreadable(String),
}

/// Parses the result of `text` (selene-judge's parser, as at inference) and compares it with
/// `target`. A tie is read from the last `**Result:**` line, which the label parser does not know.
pub fn check(text: &str, target: Judgment, labels: LabelSet) -> Consistency {
    match (parse_verdict(text, labels), target) {
        (Ok(verdict), Judgment::Label(label)) if verdict.result == label => Consistency::Consistent,
        (Ok(verdict), _) => Consistency::Mismatch(verdict.result.to_string()),
        (Err(_), Judgment::Tie) if states_tie(text) => Consistency::Consistent,
        (Err(ParseFailure { reason }), _) => Consistency::Unreadable(reason),
    }
}

fn states_tie(text: &str) -> bool {
    text.rfind("**Result:**").is_some_and(|at| {
        let rest = text[at + "**Result:**".len()..].trim_start();
        rest.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("tie"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(gold: u32) -> Vec<u32> {
        let mut seen: Vec<u32> = (0..200)
            .map(|i| {
                let mut rng = Rng::derive(1, &[i]);
                match rejected_for(Judgment::Label(Label::Score(gold)), LabelSet::SCORES_1_TO_5, &mut rng) {
                    Some(Judgment::Label(Label::Score(s))) => s,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        seen.sort();
        seen.dedup();
        seen
    }

    #[test]
    fn the_papers_rules() {
        assert_eq!(scores(2), [4, 5], "the paper's example: 4 or 5 for a gold 2");
        assert_eq!(scores(3), [1, 5]);
        assert_eq!(scores(1), [3, 4, 5]);
        assert_eq!(scores(5), [1, 2, 3]);
        let mut rng = Rng::new(0);
        let flip = |l| rejected_for(Judgment::Label(l), LabelSet::AB, &mut Rng::new(0));
        assert_eq!(flip(Label::A), Some(Judgment::Label(Label::B)));
        assert_eq!(
            rejected_for(Judgment::Label(Label::Yes), LabelSet::YesNo, &mut rng),
            Some(Judgment::Label(Label::No))
        );
        let ties: Vec<_> = (0..50).map(|_| rejected_for(Judgment::Tie, LabelSet::AB, &mut rng).unwrap()).collect();
        assert!(ties.contains(&Judgment::Label(Label::A)) && ties.contains(&Judgment::Label(Label::B)));
        let short = LabelSet::Scores { min: 1, max: 2 };
        assert_eq!(rejected_for(Judgment::Label(Label::Score(1)), short, &mut rng), None);
    }

    #[test]
    fn consistency_reads_the_result() {
        let ab = LabelSet::AB;
        let a = Judgment::Label(Label::A);
        assert_eq!(check("**Reasoning:** A is right.\n\n**Result:** A", a, ab), Consistency::Consistent);
        assert_eq!(check("**Reasoning:** B wins.\n\n**Result:** B", a, ab), Consistency::Mismatch("B".into()));
        assert!(matches!(check("**Reasoning:** hmm", a, ab), Consistency::Unreadable(_)));
        assert_eq!(check("**Reasoning:** equal.\n\n**Result:** Tie", Judgment::Tie, ab), Consistency::Consistent);
        assert!(matches!(check("**Result:** A", Judgment::Tie, ab), Consistency::Mismatch(_)));
    }
}
