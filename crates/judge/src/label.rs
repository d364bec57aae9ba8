//! The answers a judge can give.
//!
//! One enum serves every task so that verdicts, gold labels and token distributions compare
//! with `==`; a [`LabelSet`] says which labels one task accepts, and is what the parser and the
//! distribution code are given instead of the task itself, so a 1-10 scale needs no new code.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// One result of a judgement. In JSON a score is a number and every other label a string
/// (`"Yes"`, `"No"`, `"A"`, `"B"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    /// An absolute score on the task's scale.
    Score(u32),
    Yes,
    No,
    /// Pairwise: the first response shown is better.
    A,
    /// Pairwise: the second response shown is better.
    B,
}

/// The two positions of a pairwise comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    A,
    B,
}

/// The labels one task accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelSet {
    /// Integer scores `min..=max` (Selene's templates use 1-5).
    Scores { min: u32, max: u32 },
    /// Classification.
    YesNo,
    /// Pairwise preference.
    AB,
}

impl Label {
    /// The pairwise side this label names, if it is `A` or `B`.
    pub fn side(self) -> Option<Side> {
        match self {
            Label::A => Some(Side::A),
            Label::B => Some(Side::B),
            _ => None,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Score(score) => write!(f, "{score}"),
            Label::Yes => f.write_str("Yes"),
            Label::No => f.write_str("No"),
            Label::A => f.write_str("A"),
            Label::B => f.write_str("B"),
        }
    }
}

impl Side {
    /// The other position: what a label means once the two responses trade places.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

impl From<Side> for Label {
    fn from(side: Side) -> Label {
        match side {
            Side::A => Label::A,
            Side::B => Label::B,
        }
    }
}

impl LabelSet {
    /// Selene's absolute scale, 1 to 5.
    pub const SCORES_1_TO_5: LabelSet = LabelSet::Scores { min: 1, max: 5 };

    /// Every label of the set, in order (ascending scores; Yes before No; A before B).
    pub fn labels(&self) -> Vec<Label> {
        match *self {
            LabelSet::Scores { min, max } => (min..=max).map(Label::Score).collect(),
            LabelSet::YesNo => vec![Label::Yes, Label::No],
            LabelSet::AB => vec![Label::A, Label::B],
        }
    }

    /// Whether `label` belongs to the set.
    pub fn contains(&self, label: Label) -> bool {
        match (*self, label) {
            (LabelSet::Scores { min, max }, Label::Score(score)) => (min..=max).contains(&score),
            (LabelSet::YesNo, Label::Yes | Label::No) => true,
            (LabelSet::AB, Label::A | Label::B) => true,
            _ => false,
        }
    }

    /// How the set reads in error messages: `1-5`, `Yes/No`, `A/B`.
    pub fn describe(&self) -> String {
        match *self {
            LabelSet::Scores { min, max } => format!("{min}-{max}"),
            LabelSet::YesNo => "Yes/No".to_owned(),
            LabelSet::AB => "A/B".to_owned(),
        }
    }
}

impl Serialize for Label {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Label::Score(score) => serializer.serialize_u32(*score),
            other => serializer.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Label, D::Error> {
        deserializer.deserialize_any(LabelVisitor)
    }
}

struct LabelVisitor;

impl Visitor<'_> for LabelVisitor {
    type Value = Label;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole-number score or one of \"Yes\", \"No\", \"A\", \"B\"")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Label, E> {
        u32::try_from(value).map(Label::Score).map_err(|_| E::custom(format!("score {value} is too large")))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Label, E> {
        u64::try_from(value)
            .map_err(|_| E::custom(format!("score {value} is negative")))
            .and_then(|value| self.visit_u64(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Label, E> {
        match value {
            "Yes" => Ok(Label::Yes),
            "No" => Ok(Label::No),
            "A" => Ok(Label::A),
            "B" => Ok(Label::B),
            other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_json() {
        for label in [Label::Score(4), Label::Yes, Label::No, Label::A, Label::B] {
            let json = serde_json::to_string(&label).unwrap();
            assert_eq!(serde_json::from_str::<Label>(&json).unwrap(), label, "{json}");
        }
        assert_eq!(serde_json::to_string(&Label::Score(3)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&Label::Yes).unwrap(), "\"Yes\"");
    }

    #[test]
    fn bad_labels_are_rejected() {
        for json in ["\"yes\"", "\"C\"", "-1", "4.5", "null"] {
            assert!(serde_json::from_str::<Label>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn sets_know_their_members() {
        let ten = LabelSet::Scores { min: 1, max: 10 };
        assert!(ten.contains(Label::Score(10)));
        assert!(!LabelSet::SCORES_1_TO_5.contains(Label::Score(6)));
        assert!(!LabelSet::SCORES_1_TO_5.contains(Label::Score(0)));
        assert!(!LabelSet::YesNo.contains(Label::A));
        assert_eq!(LabelSet::AB.labels(), vec![Label::A, Label::B]);
        assert_eq!(ten.labels().len(), 10);
    }

    #[test]
    fn sides_swap() {
        assert_eq!(Side::A.other(), Side::B);
        assert_eq!(Label::from(Side::B).side(), Some(Side::B));
        assert_eq!(Label::Yes.side(), None);
    }
}
