//! The preference pair: what curation writes and the trainer reads, one JSON object per line.
//!
//! ```json
//! {"id": "hhh_helpful.jsonl:12", "task": "pairwise", "format": "cot",
//!  "prompt": "<the Selene judge prompt: the user message>",
//!  "chosen": "**Reasoning:** ...\n\n**Result:** A", "rejected": "**Reasoning:** ...\n\n**Result:** B",
//!  "chosen_judgment": "A", "rejected_judgment": "B",
//!  "provenance": {"dataset": "...", "line": 12, "template": "pairwise-original", ...}}
//! ```
//!
//! `prompt` is the content of the single user message; the trainer applies the policy's chat
//! template around it, as the runtime does at inference. `chosen` and `rejected` are the
//! assistant's replies. Only `prompt`, `chosen` and `rejected` are required to train; the rest
//! is kept so that every pair can be traced back to the row it came from.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, jsonl_lines};

/// Whether a pair carries a chain-of-thought critique before its judgment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairFormat {
    /// Critique and judgment (`**Reasoning:** … **Result:** X`).
    Cot,
    /// Judgment only (`**Result:** X`).
    Judgment,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairRecord {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PairFormat>,
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_judgment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_judgment: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub provenance: serde_json::Value,
}

/// Reads a pairs file; every error names the file, the line and the field.
pub fn read_pairs(path: &Path) -> Result<Vec<(usize, PairRecord)>> {
    let mut pairs = Vec::new();
    for (line, text) in jsonl_lines(path)? {
        let at = |field: &str, why: String| Error::at_line(path, line, field, why);
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| at("JSON", e.to_string()))?;
        let object = value.as_object().ok_or_else(|| at("record", "is not a JSON object".into()))?;
        for field in ["prompt", "chosen", "rejected"] {
            match object.get(field) {
                None => return Err(at(field, "missing".into())),
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => return Err(at(field, "is empty".into())),
                Some(serde_json::Value::String(_)) => {}
                Some(other) => return Err(at(field, format!("expected a string, found {other}"))),
            }
        }
        let pair: PairRecord = serde_json::from_value(value).map_err(|e| at("record", e.to_string()))?;
        if pair.chosen == pair.rejected {
            return Err(at("rejected", "is the same text as chosen".into()));
        }
        pairs.push((line, pair));
    }
    if pairs.is_empty() {
        return Err(Error::file(path, "pairs", "the file holds no pairs"));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        let good = r#"{"prompt": "p", "chosen": "c", "rejected": "r"}"#;
        let cases = [
            (format!("{good}\n{{\"prompt\": \"p\", \"chosen\": \"c\"}}"), ":2: rejected: missing"),
            (format!("{good}\n\n{{not json"), ":3: JSON:"),
            (r#"{"prompt": "p", "chosen": 3, "rejected": "r"}"#.to_owned(), ":1: chosen: expected a string, found 3"),
            (r#"{"prompt": " ", "chosen": "c", "rejected": "r"}"#.to_owned(), ":1: prompt: is empty"),
            (r#"{"prompt": "p", "chosen": "c", "rejected": "c"}"#.to_owned(), ":1: rejected: is the same"),
            (
                r#"{"prompt": "p", "chosen": "c", "rejected": "r", "format": "essay"}"#.to_owned(),
                ":1: record: unknown variant",
            ),
            (String::new(), "holds no pairs"),
        ];
        for (text, expected) in cases {
            std::fs::write(&path, text).unwrap();
            let message = read_pairs(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
        std::fs::write(&path, good).unwrap();
        assert_eq!(read_pairs(&path).unwrap()[0].1.chosen, "c");
    }
}
