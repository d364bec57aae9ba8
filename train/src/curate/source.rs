//! Judge datasets in JSON Lines with a field mapping: which field of a row holds the instruction,
//! the response(s), the rubric, the reference and the gold judgment, so that a public dataset can
//! be used as published.
//!
//! A field the mapping names but a row lacks is an error (the mapping is wrong, or the file is
//! not the dataset it claims to be); a field that is present but null or blank is a null value,
//! which the null filter drops and counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use selene_judge::{BinaryRubric, Gold, JudgeItem, Label, LabelSet, ScoreRubric, TaskInput};
use serde::Deserialize;
use serde_json::Value;

use super::judgment::Judgment;
use crate::error::{Error, Result, jsonl_lines};

/// One dataset of a curation config.
///
/// ```json
/// {"path": "hhh/hhh_helpful.jsonl", "task": "pairwise",
///  "fields": {"user_input": "input", "response_a": "output_1", "response_b": "output_2", "gold": "label"},
///  "labels": {"1": "A", "2": "B"}, "limit": 100}
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// The JSON Lines file, relative to the config file.
    pub path: PathBuf,
    pub task: Task,
    /// Item field → row field (dots reach into nested objects).
    pub fields: Fields,
    /// Values for item fields that are the same on every row (a dataset-wide rubric).
    #[serde(default)]
    pub constants: Constants,
    /// Gold values as written in the file (`"1"`, `"true"`, `"tie"`) → `A`, `B`, `Tie`, `Yes`,
    /// `No`, a score, or `null` for "no judgment" (dropped by the null filter, like BiGGen's -1).
    /// Values not listed are read as they are.
    #[serde(default)]
    pub labels: BTreeMap<String, Option<String>>,
    /// Use at most this many rows (the first ones).
    pub limit: Option<usize>,
    /// Drop rows whose reward-model score is below a threshold.
    pub reward: Option<RewardSpec>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Pairwise,
    Absolute,
    Classification,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    pub id: Option<String>,
    pub user_input: Option<String>,
    pub response: Option<String>,
    pub response_a: Option<String>,
    pub response_b: Option<String>,
    /// Pairwise datasets of (preferred, non-preferred) responses, placed at random positions.
    pub preferred: Option<String>,
    pub non_preferred: Option<String>,
    pub reference: Option<String>,
    pub rubric_objective: Option<String>,
    /// One field holding a list of descriptions, or one field per score.
    pub rubric_scores: Option<OneOrMany>,
    pub rubric_yes: Option<String>,
    pub rubric_no: Option<String>,
    pub gold: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constants {
    pub rubric_objective: Option<String>,
    pub rubric_scores: Option<Vec<String>>,
    pub rubric_yes: Option<String>,
    pub rubric_no: Option<String>,
}

/// Scores from a reward model, computed elsewhere (ArmoRM in the paper), one JSON object per
/// line: `{"id": "<item id>", "score": 0.12}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardSpec {
    pub scores: PathBuf,
    pub threshold: f64,
}

/// A row that became an item, with where it came from.
#[derive(Clone, Debug)]
pub struct SourceItem {
    pub item: JudgeItem,
    pub gold: Judgment,
    pub dataset: String,
    pub line: usize,
}

/// What reading a dataset gave: items, and rows left out with the reason.
#[derive(Default)]
pub struct Read {
    pub items: Vec<SourceItem>,
    /// Rows with a null value, by the field that was null.
    pub null: BTreeMap<String, usize>,
    /// Rows whose gold is a fractional score (a mean of ratings), which has no rejected score.
    pub fractional_gold: usize,
}

impl DatasetSpec {
    /// Reads the rows (up to `limit`), relative to `base` (the config file's folder).
    pub fn read(&self, base: &Path) -> Result<Read> {
        let path = base.join(&self.path);
        self.check_mapping(&path)?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let mut read = Read::default();
        for (line, text) in jsonl_lines(&path)?.into_iter().take(self.limit.unwrap_or(usize::MAX)) {
            let row: Value = serde_json::from_str(&text).map_err(|e| Error::at_line(&path, line, "JSON", e))?;
            if !row.is_object() {
                return Err(Error::at_line(&path, line, "row", "is not a JSON object"));
            }
            let row = Row { row: &row, path: &path, line };
            match self.item(&row, &name)? {
                RowOutcome::Item(item) => {
                    read.items.push(SourceItem { item: *item.0, gold: item.1, dataset: name.clone(), line })
                }
                RowOutcome::Null(field) => *read.null.entry(field).or_default() += 1,
                RowOutcome::FractionalGold => read.fractional_gold += 1,
            }
        }
        Ok(read)
    }

    /// Refuses mappings that cannot describe the task, before any row is read.
    fn check_mapping(&self, path: &Path) -> Result<()> {
        let f = &self.fields;
        let need = |present: bool, field: &str| match present {
            true => Ok(()),
            false => Err(Error::file(path, format!("fields.{field}"), format!("required for task {:?}", self.task))),
        };
        let refuse = |present: bool, field: &str| match present {
            true => Err(Error::file(path, format!("fields.{field}"), format!("not used by task {:?}", self.task))),
            false => Ok(()),
        };
        need(f.user_input.is_some(), "user_input")?;
        match self.task {
            Task::Pairwise => {
                refuse(f.response.is_some(), "response")?;
                refuse(f.reference.is_some(), "reference")?;
                let by_position = f.response_a.is_some() || f.response_b.is_some();
                let by_preference = f.preferred.is_some() || f.non_preferred.is_some();
                if by_position == by_preference {
                    return Err(Error::file(
                        path,
                        "fields",
                        "a pairwise dataset maps either response_a, response_b and gold, or preferred and non_preferred",
                    ));
                }
                if by_position {
                    need(f.response_a.is_some(), "response_a")?;
                    need(f.response_b.is_some(), "response_b")?;
                    need(f.gold.is_some(), "gold")?;
                } else {
                    need(f.preferred.is_some(), "preferred")?;
                    need(f.non_preferred.is_some(), "non_preferred")?;
                    refuse(f.gold.is_some(), "gold")?;
                }
            }
            Task::Absolute | Task::Classification => {
                need(f.response.is_some(), "response")?;
                need(f.gold.is_some(), "gold")?;
                refuse(f.response_a.is_some() || f.preferred.is_some(), "response_a")?;
                need(f.rubric_objective.is_some() || self.constants.rubric_objective.is_some(), "rubric_objective")?;
                if self.task == Task::Absolute {
                    need(f.rubric_scores.is_some() || self.constants.rubric_scores.is_some(), "rubric_scores")?;
                } else {
                    need(f.rubric_yes.is_some() || self.constants.rubric_yes.is_some(), "rubric_yes")?;
                    need(f.rubric_no.is_some() || self.constants.rubric_no.is_some(), "rubric_no")?;
                }
            }
        }
        Ok(())
    }

    fn item(&self, row: &Row, dataset: &str) -> Result<RowOutcome> {
        let f = &self.fields;
        let mut nulls = Vec::new();
        let mut text = |field: &str, mapped: &Option<String>, constant: &Option<String>| -> Result<Option<String>> {
            let value = match (mapped, constant) {
                (Some(key), _) => row.string(key, field)?,
                (None, Some(c)) => Some(c.clone()),
                (None, None) => return Ok(None),
            };
            if super::filters::is_null(value.as_deref()) {
                nulls.push(field.to_owned());
            }
            Ok(value)
        };
        let user_input = text("user_input", &f.user_input, &None)?;
        let id = match &f.id {
            Some(key) => row.string(key, "id")?,
            None => None,
        };
        let task = match self.task {
            Task::Pairwise => {
                let (a, b) = match f.preferred.is_some() {
                    true => (text("preferred", &f.preferred, &None)?, text("non_preferred", &f.non_preferred, &None)?),
                    false => (text("response_a", &f.response_a, &None)?, text("response_b", &f.response_b, &None)?),
                };
                let objective = text("rubric_objective", &f.rubric_objective, &self.constants.rubric_objective)?;
                TaskInput::Pairwise { response_a: a.unwrap_or_default(), response_b: b.unwrap_or_default(), objective }
            }
            Task::Absolute | Task::Classification => {
                let response = text("response", &f.response, &None)?.unwrap_or_default();
                let reference = text("reference", &f.reference, &None)?;
                let objective = text("rubric_objective", &f.rubric_objective, &self.constants.rubric_objective)?
                    .unwrap_or_default();
                if self.task == Task::Absolute {
                    let scores = match (&f.rubric_scores, &self.constants.rubric_scores) {
                        (Some(mapping), _) => row.strings(mapping, "rubric_scores")?,
                        (None, Some(c)) => c.iter().map(|s| Some(s.clone())).collect(),
                        (None, None) => unreachable!("checked by check_mapping"),
                    };
                    if scores.iter().any(|s| super::filters::is_null(s.as_deref())) {
                        nulls.push("rubric_scores".to_owned());
                    }
                    let scores = scores.into_iter().map(Option::unwrap_or_default).collect();
                    TaskInput::Absolute { response, rubric: ScoreRubric { objective, scores }, reference }
                } else {
                    let yes = text("rubric_yes", &f.rubric_yes, &self.constants.rubric_yes)?.unwrap_or_default();
                    let no = text("rubric_no", &f.rubric_no, &self.constants.rubric_no)?.unwrap_or_default();
                    TaskInput::Classification { response, rubric: BinaryRubric { objective, yes, no }, reference }
                }
            }
        };
        let gold_value = match &f.gold {
            Some(key) => Some(row.value(key, "gold")?),
            None => None,
        };
        if gold_value.is_some_and(|v| v.is_null() || written(v).is_some_and(|w| self.labels.get(&w) == Some(&None))) {
            nulls.push("gold".to_owned());
        }
        if let Some(field) = nulls.into_iter().next() {
            return Ok(RowOutcome::Null(field));
        }
        let mut item = JudgeItem { id, user_input: user_input.unwrap_or_default(), task, gold: None };
        let labels = item.labels();
        if let TaskInput::Absolute { rubric, .. } = &item.task
            && rubric.scores.len() < 2
        {
            return Err(row.error("rubric_scores", "a scale needs at least 2 score descriptions"));
        }
        let gold = match gold_value {
            None => Judgment::Label(Label::A), // (preferred, non-preferred): the preferred one is shown first
            Some(value) => match self.gold(value, labels).map_err(|why| row.error("gold", why))? {
                Some(gold) => gold,
                None => return Ok(RowOutcome::FractionalGold),
            },
        };
        if item.id.is_none() {
            item.id = Some(format!("{dataset}:{}", row.line));
        }
        item.gold = match gold {
            Judgment::Label(Label::Score(s)) => Some(Gold::Score(f64::from(s))),
            Judgment::Label(label) => Some(Gold::Label(label)),
            Judgment::Tie => None,
        };
        Ok(RowOutcome::Item((Box::new(item), gold)))
    }

    /// The gold judgment of a value; `None` for a fractional score.
    fn gold(&self, value: &Value, labels: LabelSet) -> Result<Option<Judgment>, String> {
        let written = written(value).ok_or_else(|| format!("{value} is not a judgment"))?;
        let mapped = self.labels.get(&written).cloned().flatten().unwrap_or(written);
        let judgment = match mapped.as_str() {
            "Tie" | "tie" if labels == LabelSet::AB => Judgment::Tie,
            "A" => Judgment::Label(Label::A),
            "B" => Judgment::Label(Label::B),
            "Yes" => Judgment::Label(Label::Yes),
            "No" => Judgment::Label(Label::No),
            number => match number.parse::<f64>() {
                Ok(score) if score.fract() != 0.0 => return Ok(None),
                Ok(score) => Judgment::Label(Label::Score(score as u32)),
                Err(_) => return Err(format!("{mapped:?} is not {} (map it with \"labels\")", labels.describe())),
            },
        };
        match judgment {
            Judgment::Label(label) if !labels.contains(label) => {
                Err(format!("{mapped} is not {} (map it with \"labels\")", labels.describe()))
            }
            j => Ok(Some(j)),
        }
    }
}

/// A gold value as text, the way `labels` keys write it.
fn written(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

enum RowOutcome {
    Item((Box<JudgeItem>, Judgment)),
    Null(String),
    FractionalGold,
}

struct Row<'a> {
    row: &'a Value,
    path: &'a Path,
    line: usize,
}

impl Row<'_> {
    fn error(&self, field: &str, why: impl std::fmt::Display) -> Error {
        Error::at_line(self.path, self.line, field, why)
    }

    /// The value at `key` (dotted path); absent is an error naming the item field and the key.
    fn value(&self, key: &str, field: &str) -> Result<&Value> {
        key.split('.')
            .try_fold(self.row, |v, part| v.get(part))
            .ok_or_else(|| self.error(field, format!("the row has no field `{key}`")))
    }

    /// A text value: strings as they are, numbers written out, null as `None`.
    fn string(&self, key: &str, field: &str) -> Result<Option<String>> {
        match self.value(key, field)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            Value::Number(n) => Ok(Some(n.to_string())),
            other => Err(self.error(field, format!("`{key}` is {other}, not text"))),
        }
    }

    fn strings(&self, mapping: &OneOrMany, field: &str) -> Result<Vec<Option<String>>> {
        match mapping {
            OneOrMany::Many(keys) => keys.iter().map(|k| self.string(k, field)).collect(),
            OneOrMany::One(key) => match self.value(key, field)? {
                Value::Array(items) => items
                    .iter()
                    .map(|v| match v {
                        Value::Null => Ok(None),
                        Value::String(s) => Ok(Some(s.clone())),
                        other => Err(self.error(field, format!("`{key}` holds {other}, not text"))),
                    })
                    .collect(),
                other => Err(self.error(field, format!("`{key}` is {other}, not a list of descriptions"))),
            },
        }
    }
}
