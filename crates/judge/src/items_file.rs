//! Files of items, read the same way by `selene batch` and by the browser page: JSON Lines (the
//! item schema, one per line, or a public benchmark's own rows) or CSV (the item's fields as
//! columns). Every item gets a key, its id or its file and line, which is how a batch knows what
//! it has done. A line that is not a valid item stays in its place as its error, so one bad line
//! neither stops a batch nor shifts the lines after it.

use serde_json::{Map, Value};

use crate::benchmark::BenchmarkFormat;
use crate::item::JudgeItem;

/// One item, or why its line is not one, with the key it is reported under.
#[derive(Debug)]
pub struct KeyedItem {
    pub key: String,
    pub item: Result<JudgeItem, String>,
}

/// Reads the items of the file `name` with contents `text`: CSV when the name ends in `.csv`,
/// else JSON Lines, in `benchmark`'s row format when one is given. Fails only when a CSV file
/// has no readable header row.
pub fn read_items(name: &str, text: &str, benchmark: Option<BenchmarkFormat>) -> Result<Vec<KeyedItem>, String> {
    if name.to_ascii_lowercase().ends_with(".csv") {
        return read_csv(name, text);
    }
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let item = match benchmark {
            Some(format) => match format.item(line) {
                Ok(Some(item)) => Ok(item),
                Ok(None) => continue,
                Err(e) => Err(e.to_string()),
            },
            None => serde_json::from_str(line).map_err(|e| e.to_string()),
        };
        let id = || serde_json::from_str::<Value>(line).ok().and_then(|v| v["id"].as_str().map(str::to_owned));
        items.push(keyed(item, id, name, i + 1));
    }
    Ok(items)
}

/// Keys an item by its id, or, when it has none (or is not an item), by its file and line.
/// `id` finds the id of a line that did not parse as an item.
fn keyed(item: Result<JudgeItem, String>, id: impl FnOnce() -> Option<String>, file: &str, line: usize) -> KeyedItem {
    let id = match &item {
        Ok(item) => item.id.clone(),
        Err(_) => id(),
    };
    let item = item.map_err(|e| format!("{file}:{line}: {e}"));
    KeyedItem { key: id.unwrap_or_else(|| format!("{file}:{line}")), item }
}

/// CSV columns are the item's JSON fields; `rubric.objective`, `rubric.scores.1`..,
/// `rubric.yes` and `rubric.no` fill the nested rubric, and empty cells are absent fields.
fn read_csv(file: &str, text: &str) -> Result<Vec<KeyedItem>, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("{file}: {e}"))?.clone();
    let mut items = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let line = record.as_ref().ok().and_then(|r| r.position()).map_or(row + 2, |p| p.line() as usize);
        let object = record.map_err(|e| e.to_string()).and_then(|r| csv_object(&headers, &r));
        let id = object.as_ref().ok().and_then(|o| o.get("id")).and_then(Value::as_str).map(str::to_owned);
        let item = object.and_then(|o| serde_json::from_value(Value::Object(o)).map_err(|e| e.to_string()));
        items.push(keyed(item, || id, file, line));
    }
    Ok(items)
}

fn csv_object(headers: &csv::StringRecord, record: &csv::StringRecord) -> Result<Map<String, Value>, String> {
    let mut object = Map::new();
    let mut rubric = Map::new();
    let mut scores: Vec<(usize, String)> = Vec::new();
    for (column, cell) in headers.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        match column.strip_prefix("rubric.") {
            Some(rest) => match rest.strip_prefix("scores.") {
                Some(n) => {
                    let n: usize = n.parse().map_err(|_| format!("column {column}: expected rubric.scores.N"))?;
                    scores.push((n, cell.into()));
                }
                None => {
                    rubric.insert(rest.into(), cell.into());
                }
            },
            None if column == "gold" => {
                let gold = cell.parse::<f64>().map_or_else(|_| Value::from(cell), Value::from);
                object.insert(column.into(), gold);
            }
            None => {
                object.insert(column.into(), cell.into());
            }
        }
    }
    if !scores.is_empty() {
        scores.sort();
        rubric.insert("scores".into(), scores.into_iter().map(|(_, s)| Value::from(s)).collect());
    }
    if !rubric.is_empty() {
        object.insert("rubric".into(), Value::Object(rubric));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_items_and_bad_rows_errors_in_place() {
        let csv = "id,task,user_input,response_a,response_b,rubric.objective,gold\n\
                   p1,pairwise,Say hi,Hi!,Go away.,Which is polite?,A\n\
                   ,pairwise,Say hi,Hi!,,,\n";
        let items = read_items("batch.csv", csv, None).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].key, "p1");
        assert!(items[0].item.as_ref().unwrap().gold.is_some());
        assert_eq!(items[1].key, "batch.csv:3");
        let error = items[1].item.as_ref().unwrap_err();
        assert!(error.starts_with("batch.csv:3: ") && error.contains("response_b"), "{error}");
    }

    #[test]
    fn jsonl_lines_keep_their_ids_even_when_invalid() {
        let jsonl = "{\"id\": \"x\", \"task\": \"pairwise\"}\n\nnot json\n";
        let items = read_items("b.jsonl", jsonl, None).unwrap();
        let keys: Vec<&str> = items.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["x", "b.jsonl:3"]);
        assert!(items.iter().all(|k| k.item.is_err()));
    }
}
