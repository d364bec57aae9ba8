//! A batch file dropped on the page, as items: the judge crate reads it exactly as `selene
//! batch` reads a file, so a file gives the same items and keys in the tab as on the command
//! line; here each becomes an entry the page can hold as JSON.
//!
//! A line that is not a valid item stays in the batch as its error, in its place, so one bad
//! line neither stops the batch nor shifts the lines after it.

use selene_judge::{JudgeItem, read_items};
use serde::Serialize;

use crate::error::WebError;

/// One entry of a batch: the item, or why its line is not one, keyed by the item's id or, when
/// it has none, by its file and line.
#[derive(Debug, Serialize)]
pub struct BatchEntry {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<JudgeItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads the items of a batch file named `name` (`.csv` is CSV, anything else JSON Lines).
pub fn read_batch(name: &str, text: &str) -> Result<Vec<BatchEntry>, WebError> {
    let items = read_items(name, text, None).map_err(WebError::invalid)?;
    Ok(items
        .into_iter()
        .map(|keyed| match keyed.item {
            Ok(item) => BatchEntry { key: keyed.key, item: Some(item), error: None },
            Err(e) => BatchEntry { key: keyed.key, item: None, error: Some(e) },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

    fn example(name: &str) -> String {
        std::fs::read_to_string(format!("{EXAMPLES}/{name}")).unwrap()
    }

    #[test]
    fn the_example_batches_read_as_items() {
        let jsonl = read_batch("items.jsonl", &example("items.jsonl")).unwrap();
        assert!(jsonl.len() >= 3 && jsonl.iter().all(|e| e.item.is_some()), "{jsonl:?}");
        assert_eq!(jsonl[0].key, "example-absolute");

        let csv = read_batch("items.CSV", &example("items.csv")).unwrap();
        assert!(csv.len() >= 2 && csv.iter().all(|e| e.item.is_some()), "{csv:?}");
        let first = serde_json::to_value(&csv[0].item).unwrap();
        assert_eq!(first["rubric"]["scores"].as_array().unwrap().len(), 5);
        assert_eq!(first["gold"], 5.0);
    }

    #[test]
    fn a_bad_line_stays_in_its_place() {
        let text = "{\"task\": \"pairwise\", \"user_input\": \"q\", \"response_a\": \"a\", \"response_b\": \"b\"}\n\n\
                    {\"id\": \"x\", \"task\": \"absolute\", \"user_input\": \"q\"}\n\
                    not json\n";
        let entries = read_batch("b.jsonl", text).unwrap();
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["b.jsonl:1", "x", "b.jsonl:4"]);
        assert!(entries[0].item.is_some());
        assert!(entries[1].error.as_deref().unwrap().starts_with("b.jsonl:3: "), "{entries:?}");
        assert!(entries[2].item.is_none() && entries[2].error.is_some());
        let json = serde_json::to_value(&entries).unwrap();
        assert!(json[1].get("item").is_none() && json[0].get("error").is_none());
    }
}
