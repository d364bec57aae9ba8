//! Adapters from published judge-benchmark rows to judge items with their gold labels.
//!
//! The rows are the SFR-Judge evaluation suite's JSONL files (in the project's shared data).
//! Each adapter maps one row the way that suite prompted the model, so results compare with
//! the paper: the instruction alone as `user_input` (BiGGen's system prompt is not shown to the
//! judge), references and rubrics where the benchmark has them, and no rubric for HHH and
//! EvalBiasBench, which therefore get the rubric-less pairwise template.

mod python_literal;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::item::{Gold, JudgeItem, ScoreRubric, TaskInput};
use crate::label::Label;

/// A benchmark file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BenchmarkFormat {
    /// `evalbiasbench/*.jsonl`: pairwise, `instruction`, `response1`, `response2`, `label` 1|2.
    EvalBiasBench,
    /// `hhh/*.jsonl`: pairwise, `input`, `output_1`, `output_2`, `label` 1|2.
    Hhh,
    /// `mt_bench_single/*.jsonl`: absolute with reference; gold is the mean of `gpt4_score`
    /// (GPT-4's ratings, not human ones).
    MtBenchSingle,
    /// `biggen-bench/*.jsonl`: absolute with reference; gold is `human_score`, and rows with
    /// `human_score` -1 (no rating) are skipped.
    BiggenBench,
}

/// Why a row could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("benchmark row, field `{field}`: {reason}")]
pub struct BenchmarkError {
    pub field: String,
    pub reason: String,
}

const ALL: [BenchmarkFormat; 4] = [
    BenchmarkFormat::EvalBiasBench,
    BenchmarkFormat::Hhh,
    BenchmarkFormat::MtBenchSingle,
    BenchmarkFormat::BiggenBench,
];

impl BenchmarkFormat {
    /// The name, which is also the benchmark's folder name in the shared data.
    pub fn name(self) -> &'static str {
        match self {
            BenchmarkFormat::EvalBiasBench => "evalbiasbench",
            BenchmarkFormat::Hhh => "hhh",
            BenchmarkFormat::MtBenchSingle => "mt_bench_single",
            BenchmarkFormat::BiggenBench => "biggen-bench",
        }
    }

    /// The format with this [`name`](Self::name), if any.
    pub fn from_name(name: &str) -> Option<BenchmarkFormat> {
        ALL.into_iter().find(|format| format.name() == name)
    }

    /// Converts one JSON row (one line of the file) into an item carrying its gold label;
    /// `Ok(None)` for a row the benchmark marks as unusable.
    pub fn item(self, row: &str) -> Result<Option<JudgeItem>, BenchmarkError> {
        let row: Map<String, Value> =
            serde_json::from_str(row).map_err(|e| error("(row)", format!("not a JSON object: {e}")))?;
        let row = Row(&row);
        match self {
            BenchmarkFormat::EvalBiasBench => row.pairwise("instruction", "response1", "response2").map(Some),
            BenchmarkFormat::Hhh => row.pairwise("input", "output_1", "output_2").map(Some),
            BenchmarkFormat::MtBenchSingle => {
                let rubric = rubric_from_text(row.string("rubric")?).map_err(|reason| error("rubric", reason))?;
                let ratings = row.numbers("gpt4_score")?;
                let gold = ratings.iter().sum::<f64>() / ratings.len() as f64;
                row.absolute(rubric, gold, "gpt4_score").map(Some)
            }
            BenchmarkFormat::BiggenBench => {
                let human_score = row.integer("human_score")?;
                if human_score == -1 {
                    return Ok(None);
                }
                let rubric = biggen_rubric(row.value("score_rubric")?)?;
                row.absolute(rubric, human_score as f64, "human_score").map(Some)
            }
        }
    }
}

fn error(field: &str, reason: impl Into<String>) -> BenchmarkError {
    BenchmarkError { field: field.to_owned(), reason: reason.into() }
}

struct Row<'a>(&'a Map<String, Value>);

impl Row<'_> {
    fn value(&self, field: &str) -> Result<&Value, BenchmarkError> {
        self.0.get(field).ok_or_else(|| error(field, "missing"))
    }

    fn string(&self, field: &str) -> Result<&str, BenchmarkError> {
        self.value(field)?.as_str().ok_or_else(|| error(field, "not a string"))
    }

    fn integer(&self, field: &str) -> Result<i64, BenchmarkError> {
        self.value(field)?.as_i64().ok_or_else(|| error(field, "not an integer"))
    }

    fn numbers(&self, field: &str) -> Result<Vec<f64>, BenchmarkError> {
        let numbers: Option<Vec<f64>> =
            self.value(field)?.as_array().and_then(|a| a.iter().map(Value::as_f64).collect());
        numbers.filter(|n| !n.is_empty()).ok_or_else(|| error(field, "not a non-empty list of numbers"))
    }

    fn pairwise(&self, instruction: &str, first: &str, second: &str) -> Result<JudgeItem, BenchmarkError> {
        let gold = match self.integer("label")? {
            1 => Label::A,
            2 => Label::B,
            other => return Err(error("label", format!("expected 1 or 2, found {other}"))),
        };
        Ok(JudgeItem {
            id: None,
            user_input: self.string(instruction)?.to_owned(),
            task: TaskInput::Pairwise {
                response_a: self.string(first)?.to_owned(),
                response_b: self.string(second)?.to_owned(),
                objective: None,
            },
            gold: Some(Gold::Label(gold)),
        })
    }

    fn absolute(&self, rubric: ScoreRubric, gold: f64, gold_field: &str) -> Result<JudgeItem, BenchmarkError> {
        let scale = 1.0..=rubric.scores.len() as f64;
        if !scale.contains(&gold) {
            return Err(error(gold_field, format!("{gold} is outside the rubric's scale 1-{}", rubric.scores.len())));
        }
        Ok(JudgeItem {
            id: self.0.get("id").and_then(Value::as_str).map(str::to_owned),
            user_input: self.string("input")?.to_owned(),
            task: TaskInput::Absolute {
                response: self.string("response")?.to_owned(),
                rubric,
                reference: Some(self.string("reference_answer")?.to_owned()),
            },
            gold: Some(Gold::Score(gold)),
        })
    }
}

/// `[objective]\nScore 1: …\nScore 2: …` (Prometheus' rubric text) → a rubric.
fn rubric_from_text(text: &str) -> Result<ScoreRubric, String> {
    let mut lines = text.lines();
    let objective = lines
        .next()
        .and_then(|line| line.strip_prefix('[')?.strip_suffix(']'))
        .ok_or("the first line is not `[objective]`")?;
    let scores = lines
        .enumerate()
        .map(|(index, line)| {
            let prefix = format!("Score {}: ", index + 1);
            line.strip_prefix(&prefix)
                .map(str::to_owned)
                .ok_or_else(|| format!("line {} does not start with `{prefix}`", index + 2))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if scores.len() < 2 {
        return Err("fewer than 2 score descriptions".to_owned());
    }
    Ok(ScoreRubric { objective: objective.to_owned(), scores })
}

/// BiGGen's `score_rubric`: `{criteria, score1_description … score5_description}`, as a JSON
/// object or as the text of a Python dict.
fn biggen_rubric(value: &Value) -> Result<ScoreRubric, BenchmarkError> {
    let field = "score_rubric";
    let entries: Vec<(String, String)> = match value {
        Value::Object(object) => object
            .iter()
            .map(|(key, value)| {
                Ok((
                    key.clone(),
                    value.as_str().ok_or_else(|| error(field, format!("`{key}` is not a string")))?.to_owned(),
                ))
            })
            .collect::<Result<_, BenchmarkError>>()?,
        Value::String(text) => python_literal::string_dict(text).map_err(|reason| error(field, reason))?,
        _ => return Err(error(field, "neither an object nor the text of a dict")),
    };
    let take = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| error(field, format!("no `{key}`")))
    };
    Ok(ScoreRubric {
        objective: take("criteria")?,
        scores: (1..=5).map(|n| take(&format!("score{n}_description"))).collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for format in ALL {
            assert_eq!(BenchmarkFormat::from_name(format.name()), Some(format));
        }
        assert_eq!(BenchmarkFormat::from_name("hhh_alignment"), None);
    }

    #[test]
    fn pairwise_rows() {
        let row = r#"{"input": "q", "output_1": "good", "output_2": "bad", "label": 2}"#;
        let item = BenchmarkFormat::Hhh.item(row).unwrap().unwrap();
        assert_eq!(item.gold, Some(Gold::Label(Label::B)));
        assert!(
            matches!(item.task, TaskInput::Pairwise { ref response_a, objective: None, .. } if response_a == "good")
        );
        let bad = BenchmarkFormat::EvalBiasBench
            .item(r#"{"instruction": "q", "response1": "a", "response2": "b", "label": 3}"#);
        assert_eq!(bad.unwrap_err().field, "label");
    }

    #[test]
    fn biggen_rows_with_a_python_rubric_and_missing_scores() {
        let rubric_text = "{'criteria': 'Plan?', 'score1_description': 'a', 'score2_description': 'b', \
                      'score3_description': 'c', 'score4_description': 'd', 'score5_description': 'e'}";
        let row = serde_json::json!({"id": "p0", "input": "i", "response": "r", "reference_answer": "ref",
            "score_rubric": rubric_text, "human_score": 4, "system_prompt": "s"});
        let item = BenchmarkFormat::BiggenBench.item(&row.to_string()).unwrap().unwrap();
        assert_eq!((item.id.as_deref(), item.gold), (Some("p0"), Some(Gold::Score(4.0))));
        let TaskInput::Absolute { rubric, .. } = item.task else { panic!("not absolute") };
        assert_eq!((rubric.objective.as_str(), rubric.scores[4].as_str()), ("Plan?", "e"));

        let unrated = serde_json::json!({"human_score": -1});
        assert_eq!(BenchmarkFormat::BiggenBench.item(&unrated.to_string()), Ok(None));
        let off_scale = serde_json::json!({"input": "i", "response": "r", "reference_answer": "ref",
            "score_rubric": rubric_text, "human_score": 6});
        assert_eq!(BenchmarkFormat::BiggenBench.item(&off_scale.to_string()).unwrap_err().field, "human_score");
    }

    #[test]
    fn rubric_text() {
        let rubric = rubric_from_text("[Accurate?]\nScore 1: no\nScore 2: yes").unwrap();
        assert_eq!((rubric.objective.as_str(), rubric.scores.len()), ("Accurate?", 2));
        assert!(rubric_from_text("Accurate?\nScore 1: no").is_err());
        assert!(rubric_from_text("[Accurate?]\nScore 1: no\nScore 3: yes").unwrap_err().contains("Score 2: "));
    }
}
