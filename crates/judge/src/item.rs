//! What is judged: one item, as the CLI reads it from JSON Lines and the browser from a form.
//!
//! The JSON is checked field by field against the task it names (a misspelt `refrence` would
//! otherwise silently select the template without a reference), and every error names the
//! field.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::label::{Label, LabelSet};
use crate::template::Variable;

/// One item to judge.
///
/// # JSON schema
///
/// One object per item (one line per item in a `.jsonl` file):
///
/// | field | type | tasks | meaning |
/// |---|---|---|---|
/// | `task` | `"absolute"`, `"classification"` or `"pairwise"` | all | required |
/// | `id` | string | all | optional; copied to the output |
/// | `user_input` | string | all | required: the instruction the response(s) answer |
/// | `response` | string | absolute, classification | required: the response judged |
/// | `response_a`, `response_b` | string | pairwise | required: the two responses compared |
/// | `reference` | string | absolute, classification | optional: a reference answer; selects the template "with reference" |
/// | `rubric.objective` | string | all | required for absolute and classification; optional for pairwise (without it the rubric-less pairwise template is used) |
/// | `rubric.scores` | array of strings | absolute | required: `scores[0]` describes score 1, `scores[1]` score 2, …; the scale is 1 to the array's length (the trained templates take exactly 5) |
/// | `rubric.yes`, `rubric.no` | string | classification | required: what a Yes and a No mean |
/// | `gold` | number, or `"Yes"`/`"No"`, or `"A"`/`"B"` | all | optional: the expected result, for evaluation; absolute gold may be fractional (a mean of ratings) but must lie on the scale |
///
/// ```json
/// {"task": "absolute", "id": "q1", "user_input": "Explain DNS.", "response": "DNS maps names to addresses.",
///  "rubric": {"objective": "Is the explanation accurate?", "scores": ["Wrong.", "Mostly wrong.", "Partly right.", "Mostly right.", "Fully right."]},
///  "reference": "DNS translates domain names to IP addresses.", "gold": 4}
/// {"task": "classification", "user_input": "Is 7 prime?", "response": "Yes.",
///  "rubric": {"objective": "Is the answer correct?", "yes": "The answer is correct.", "no": "The answer is wrong."}}
/// {"task": "pairwise", "user_input": "Say hi.", "response_a": "Hi!", "response_b": "Go away.", "gold": "A"}
/// ```
///
/// Any other field is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawItem", into = "RawItem")]
pub struct JudgeItem {
    pub id: Option<String>,
    /// The instruction the response(s) answer.
    pub user_input: String,
    pub task: TaskInput,
    /// The expected result, when the item comes with one.
    pub gold: Option<Gold>,
}

/// The task-specific part of an item.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskInput {
    /// A score on the rubric's scale.
    Absolute { response: String, rubric: ScoreRubric, reference: Option<String> },
    /// A Yes/No judgement.
    Classification { response: String, rubric: BinaryRubric, reference: Option<String> },
    /// Which of two responses is better.
    Pairwise { response_a: String, response_b: String, objective: Option<String> },
}

/// An absolute-scoring rubric: `scores[i]` describes score `i + 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRubric {
    pub objective: String,
    pub scores: Vec<String>,
}

/// A classification rubric.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryRubric {
    pub objective: String,
    pub yes: String,
    pub no: String,
}

/// An expected result; in JSON a number or a label's string, as items give it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Gold {
    /// Absolute tasks: a rating, possibly the mean of several.
    Score(f64),
    /// Classification (`Yes`/`No`) and pairwise (`A`/`B`).
    Label(Label),
}

/// The three kinds of judging task; in JSON `"absolute"`, `"classification"` or `"pairwise"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Absolute,
    Classification,
    Pairwise,
}

impl TaskKind {
    /// Every kind, in the order the paper's tables list them.
    pub const ALL: [TaskKind; 3] = [TaskKind::Absolute, TaskKind::Pairwise, TaskKind::Classification];

    /// The JSON name: `absolute`, `classification` or `pairwise`.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Absolute => "absolute",
            TaskKind::Classification => "classification",
            TaskKind::Pairwise => "pairwise",
        }
    }
}

/// Why an item's JSON was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// The JSON field at fault, e.g. `rubric.scores`.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item field `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for ItemError {}

impl JudgeItem {
    /// The item's kind of task.
    pub fn kind(&self) -> TaskKind {
        match self.task {
            TaskInput::Absolute { .. } => TaskKind::Absolute,
            TaskInput::Classification { .. } => TaskKind::Classification,
            TaskInput::Pairwise { .. } => TaskKind::Pairwise,
        }
    }

    /// The labels a verdict on this item may carry.
    pub fn labels(&self) -> LabelSet {
        match &self.task {
            TaskInput::Absolute { rubric, .. } => LabelSet::Scores { min: 1, max: scale_max(rubric) },
            TaskInput::Classification { .. } => LabelSet::YesNo,
            TaskInput::Pairwise { .. } => LabelSet::AB,
        }
    }

    /// The same pairwise item with the responses in the other order (and the gold label
    /// following its response); `None` for other tasks.
    pub fn swapped(&self) -> Option<JudgeItem> {
        let TaskInput::Pairwise { response_a, response_b, objective } = &self.task else {
            return None;
        };
        let gold = self.gold.map(|gold| match gold {
            Gold::Label(label) => Gold::Label(label.side().map_or(label, |side| side.other().into())),
            score => score,
        });
        Some(JudgeItem {
            id: self.id.clone(),
            user_input: self.user_input.clone(),
            task: TaskInput::Pairwise {
                response_a: response_b.clone(),
                response_b: response_a.clone(),
                objective: objective.clone(),
            },
            gold,
        })
    }

    /// Every template value the item supplies.
    pub(crate) fn supplied(&self) -> Vec<(Variable, &str)> {
        let mut supplied = vec![(Variable::UserInput, self.user_input.as_str())];
        match &self.task {
            TaskInput::Absolute { response, rubric, reference } => {
                supplied.push((Variable::AssistantResponse, response.as_str()));
                supplied.push((Variable::RubricObjective, rubric.objective.as_str()));
                for (number, description) in (1..).zip(&rubric.scores) {
                    supplied.push((Variable::RubricScoreDescription(number), description.as_str()));
                }
                supplied.extend(reference.as_deref().map(|r| (Variable::ReferenceResponse, r)));
            }
            TaskInput::Classification { response, rubric, reference } => {
                supplied.push((Variable::AssistantResponse, response.as_str()));
                supplied.push((Variable::RubricObjective, rubric.objective.as_str()));
                supplied.push((Variable::RubricYesDescription, rubric.yes.as_str()));
                supplied.push((Variable::RubricNoDescription, rubric.no.as_str()));
                supplied.extend(reference.as_deref().map(|r| (Variable::ReferenceResponse, r)));
            }
            TaskInput::Pairwise { response_a, response_b, objective } => {
                supplied.push((Variable::AssistantResponseA, response_a.as_str()));
                supplied.push((Variable::AssistantResponseB, response_b.as_str()));
                supplied.extend(objective.as_deref().map(|o| (Variable::RubricObjective, o)));
            }
        }
        supplied
    }
}

/// The JSON field of an item that supplies `variable`, for error messages.
pub(crate) fn field_for(variable: Variable) -> String {
    match variable {
        Variable::UserInput => "user_input".to_owned(),
        Variable::AssistantResponse => "response".to_owned(),
        Variable::AssistantResponseA => "response_a".to_owned(),
        Variable::AssistantResponseB => "response_b".to_owned(),
        Variable::RubricObjective => "rubric.objective".to_owned(),
        Variable::RubricScoreDescription(n) => format!("rubric.scores[{}]", n - 1),
        Variable::RubricYesDescription => "rubric.yes".to_owned(),
        Variable::RubricNoDescription => "rubric.no".to_owned(),
        Variable::ReferenceResponse => "reference".to_owned(),
    }
}

fn scale_max(rubric: &ScoreRubric) -> u32 {
    u32::try_from(rubric.scores.len()).unwrap_or(u32::MAX)
}

// The JSON shape: every field optional, so that the conversion below can say which one is
// missing or misplaced for the task at hand.

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    task: TaskKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    user_input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_b: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rubric: Option<RawRubric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gold: Option<serde_json::Value>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRubric {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    objective: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scores: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    yes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    no: Option<String>,
}

/// Checks one task's fields: takes the required ones and refuses the ones it has no use for.
struct FieldCheck {
    task: TaskKind,
}

impl FieldCheck {
    fn required<T>(&self, field: &str, value: Option<T>) -> Result<T, ItemError> {
        value.ok_or_else(|| error(field, format!("required for task `{}`", self.task.name())))
    }

    fn absent<T>(&self, field: &str, value: &Option<T>) -> Result<(), ItemError> {
        match value {
            Some(_) => Err(error(field, format!("not used by task `{}`", self.task.name()))),
            None => Ok(()),
        }
    }
}

fn error(field: &str, reason: impl Into<String>) -> ItemError {
    ItemError { field: field.to_owned(), reason: reason.into() }
}

impl TryFrom<RawItem> for JudgeItem {
    type Error = ItemError;

    fn try_from(raw: RawItem) -> Result<JudgeItem, ItemError> {
        let check = FieldCheck { task: raw.task };
        let rubric = raw.rubric.unwrap_or_default();
        let task = match raw.task {
            TaskKind::Absolute | TaskKind::Classification => {
                check.absent("response_a", &raw.response_a)?;
                check.absent("response_b", &raw.response_b)?;
                let response = check.required("response", raw.response)?;
                let objective = check.required("rubric.objective", rubric.objective)?;
                if raw.task == TaskKind::Absolute {
                    check.absent("rubric.yes", &rubric.yes)?;
                    check.absent("rubric.no", &rubric.no)?;
                    let scores = check.required("rubric.scores", rubric.scores)?;
                    if scores.len() < 2 {
                        return Err(error("rubric.scores", "a scale needs at least 2 score descriptions"));
                    }
                    TaskInput::Absolute {
                        response,
                        rubric: ScoreRubric { objective, scores },
                        reference: raw.reference,
                    }
                } else {
                    check.absent("rubric.scores", &rubric.scores)?;
                    let yes = check.required("rubric.yes", rubric.yes)?;
                    let no = check.required("rubric.no", rubric.no)?;
                    TaskInput::Classification {
                        response,
                        rubric: BinaryRubric { objective, yes, no },
                        reference: raw.reference,
                    }
                }
            }
            TaskKind::Pairwise => {
                check.absent("response", &raw.response)?;
                check.absent("reference", &raw.reference)?;
                check.absent("rubric.scores", &rubric.scores)?;
                check.absent("rubric.yes", &rubric.yes)?;
                check.absent("rubric.no", &rubric.no)?;
                TaskInput::Pairwise {
                    response_a: check.required("response_a", raw.response_a)?,
                    response_b: check.required("response_b", raw.response_b)?,
                    objective: rubric.objective,
                }
            }
        };
        let mut item = JudgeItem { id: raw.id, user_input: raw.user_input, task, gold: None };
        item.gold = raw.gold.map(|gold| checked_gold(gold, item.labels())).transpose()?;
        Ok(item)
    }
}

fn checked_gold(gold: serde_json::Value, labels: LabelSet) -> Result<Gold, ItemError> {
    let expected = || error("gold", format!("expected {}, found {gold}", labels.describe()));
    match (&gold, labels) {
        (serde_json::Value::Number(number), LabelSet::Scores { min, max }) => {
            let score = number.as_f64().ok_or_else(expected)?;
            if (f64::from(min)..=f64::from(max)).contains(&score) {
                Ok(Gold::Score(score))
            } else {
                Err(error("gold", format!("{score} is outside the rubric's scale {min}-{max}")))
            }
        }
        (serde_json::Value::String(_), LabelSet::YesNo | LabelSet::AB) => {
            let label = Label::deserialize(&gold).map_err(|_| expected())?;
            if labels.contains(label) { Ok(Gold::Label(label)) } else { Err(expected()) }
        }
        _ => Err(expected()),
    }
}

impl From<JudgeItem> for RawItem {
    fn from(item: JudgeItem) -> RawItem {
        let gold = item.gold.map(|gold| match gold {
            Gold::Score(score) => serde_json::Value::from(score),
            Gold::Label(label) => serde_json::Value::from(label.to_string()),
        });
        let mut raw = RawItem {
            task: TaskKind::Absolute,
            id: item.id,
            user_input: item.user_input,
            response: None,
            response_a: None,
            response_b: None,
            reference: None,
            rubric: None,
            gold,
        };
        match item.task {
            TaskInput::Absolute { response, rubric, reference } => {
                raw.response = Some(response);
                raw.reference = reference;
                raw.rubric = Some(RawRubric {
                    objective: Some(rubric.objective),
                    scores: Some(rubric.scores),
                    ..RawRubric::default()
                });
            }
            TaskInput::Classification { response, rubric, reference } => {
                raw.task = TaskKind::Classification;
                raw.response = Some(response);
                raw.reference = reference;
                raw.rubric = Some(RawRubric {
                    objective: Some(rubric.objective),
                    yes: Some(rubric.yes),
                    no: Some(rubric.no),
                    ..RawRubric::default()
                });
            }
            TaskInput::Pairwise { response_a, response_b, objective } => {
                raw.task = TaskKind::Pairwise;
                raw.response_a = Some(response_a);
                raw.response_b = Some(response_b);
                raw.rubric =
                    objective.map(|objective| RawRubric { objective: Some(objective), ..RawRubric::default() });
            }
        }
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<JudgeItem, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    const ABSOLUTE: &str = r#"{"task": "absolute", "id": "q1", "user_input": "Explain DNS.", "response": "DNS maps names.",
        "rubric": {"objective": "Accurate?", "scores": ["1", "2", "3", "4", "5"]}, "reference": "DNS...", "gold": 3.5}"#;

    #[test]
    fn the_documented_examples_parse() {
        let source = include_str!("item.rs");
        let start = source.find("/// ```json\n").unwrap() + "/// ```json\n".len();
        let end = start + source[start..].find("/// ```\n").unwrap();
        let json: String = source[start..end].lines().map(|line| line.trim_start_matches("///")).collect();
        let items: Vec<JudgeItem> =
            serde_json::Deserializer::from_str(&json).into_iter().collect::<Result<_, _>>().unwrap();
        let labels: Vec<LabelSet> = items.iter().map(JudgeItem::labels).collect();
        assert_eq!(labels, [LabelSet::SCORES_1_TO_5, LabelSet::YesNo, LabelSet::AB]);
        assert_eq!(items[0].gold, Some(Gold::Score(4.0)));
        assert!(matches!(items[2].task, TaskInput::Pairwise { objective: None, .. }));
    }

    #[test]
    fn fractional_gold_and_classification_gold() {
        assert_eq!(parse(ABSOLUTE).unwrap().gold, Some(Gold::Score(3.5)));
        let item = parse(
            r#"{"task": "classification", "user_input": "Is 7 prime?", "response": "Yes.",
            "rubric": {"objective": "Correct?", "yes": "Correct.", "no": "Wrong."}, "gold": "No"}"#,
        )
        .unwrap();
        assert_eq!(item.gold, Some(Gold::Label(Label::No)));
    }

    #[test]
    fn items_round_trip() {
        let item = parse(ABSOLUTE).unwrap();
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(parse(&json).unwrap(), item);
        let pairwise = parse(r#"{"task": "pairwise", "user_input": "u", "response_a": "a", "response_b": "b", "rubric": {"objective": "o"}}"#).unwrap();
        assert_eq!(parse(&serde_json::to_string(&pairwise).unwrap()).unwrap(), pairwise);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"task": "absolute", "user_input": "u", "response": "r", "rubric": {"objective": "o"}}"#,
                "rubric.scores",
            ),
            (
                r#"{"task": "absolute", "user_input": "u", "response": "r", "rubric": {"objective": "o", "scores": ["x"]}}"#,
                "rubric.scores",
            ),
            (
                r#"{"task": "absolute", "user_input": "u", "rubric": {"objective": "o", "scores": ["x", "y"]}}"#,
                "response",
            ),
            (
                r#"{"task": "classification", "user_input": "u", "response": "r", "rubric": {"objective": "o", "yes": "y"}}"#,
                "rubric.no",
            ),
            (
                r#"{"task": "classification", "user_input": "u", "response": "r", "rubric": {"objective": "o", "yes": "y", "no": "n", "scores": []}}"#,
                "rubric.scores",
            ),
            (r#"{"task": "pairwise", "user_input": "u", "response_a": "a"}"#, "response_b"),
            (
                r#"{"task": "pairwise", "user_input": "u", "response_a": "a", "response_b": "b", "reference": "r"}"#,
                "reference",
            ),
            (r#"{"task": "pairwise", "user_input": "u", "response_a": "a", "response_b": "b", "gold": "Yes"}"#, "gold"),
            (
                r#"{"task": "absolute", "user_input": "u", "response": "r", "rubric": {"objective": "o", "scores": ["x", "y"]}, "gold": 3}"#,
                "gold",
            ),
            (
                r#"{"task": "absolute", "user_input": "u", "response": "r", "rubric": {"objective": "o", "scores": ["x", "y"]}, "gold": "A"}"#,
                "gold",
            ),
        ];
        for (json, field) in cases {
            let message = parse(json).unwrap_err();
            assert!(message.contains(&format!("`{field}`")), "{json}\n→ {message}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let typo = r#"{"task": "absolute", "user_input": "u", "response": "r", "refrence": "x",
            "rubric": {"objective": "o", "scores": ["x", "y"]}}"#;
        assert!(parse(typo).unwrap_err().contains("refrence"));
        assert!(parse(r#"{"task": "judge", "user_input": "u"}"#).is_err());
    }

    #[test]
    fn swapping_moves_responses_and_gold() {
        let item = parse(
            r#"{"task": "pairwise", "user_input": "u", "response_a": "first", "response_b": "second", "gold": "A"}"#,
        )
        .unwrap();
        let swapped = item.swapped().unwrap();
        assert_eq!(swapped.gold, Some(Gold::Label(Label::B)));
        assert!(matches!(&swapped.task, TaskInput::Pairwise { response_a, .. } if response_a == "second"));
        assert_eq!(swapped.swapped().unwrap(), item);
        assert_eq!(parse(ABSOLUTE).unwrap().swapped(), None);
    }
}
