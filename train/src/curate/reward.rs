//! The reward-threshold filter (§2.3): rows whose reward-model score is below a dataset's
//! threshold are dropped. The paper scored four large datasets with ArmoRM; the scorer is a seam
//! so that such a model can be plugged in, and the one provided reads scores computed elsewhere.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, jsonl_lines};

/// Scores an item by its id.
pub trait RewardScorer {
    fn score(&self, id: &str) -> Result<f64>;
}

/// Scores from a JSON Lines file of `{"id": "...", "score": 0.12}`.
pub struct ScoreFile {
    path: PathBuf,
    scores: HashMap<String, f64>,
}

impl ScoreFile {
    pub fn open(path: &Path) -> Result<ScoreFile> {
        let mut scores = HashMap::new();
        for (line, text) in jsonl_lines(path)? {
            let row: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Error::at_line(path, line, "JSON", e))?;
            let id = match row.get("id") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => return Err(Error::at_line(path, line, "id", "missing or not a string")),
            };
            let score = row
                .get("score")
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| Error::at_line(path, line, "score", "missing or not a number"))?;
            if scores.insert(id.clone(), score).is_some() {
                return Err(Error::at_line(path, line, "id", format!("{id:?} is scored twice")));
            }
        }
        Ok(ScoreFile { path: path.to_owned(), scores })
    }
}

impl RewardScorer for ScoreFile {
    fn score(&self, id: &str) -> Result<f64> {
        self.scores.get(id).copied().ok_or_else(|| Error::file(&self.path, "id", format!("no score for item {id:?}")))
    }
}
