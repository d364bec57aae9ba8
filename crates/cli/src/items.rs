//! Judge items from files: JSONL (the item schema, one per line), CSV (the same fields as
//! columns), or the public benchmark folders whose own formats the judge crate reads. Every item
//! gets a key, its id or its file and line, which is how a batch knows what it has done. A line
//! that is not a valid item becomes an item that carries its error, so that one bad line is
//! reported in its place in the output and the rest of the batch still runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use selene_judge::{BenchmarkFormat, JudgeItem};
use serde_json::{Map, Value};

/// One item, or why its line is not one, with where it came from.
pub struct KeyedItem {
    pub key: String,
    pub item: Result<JudgeItem, String>,
}

/// Reads every item under `input`: a file, or a folder of `.jsonl` files (sorted by name).
/// A benchmark format is taken from `benchmark`, else from the folder name when it names one.
pub fn read(input: &Path, benchmark: Option<BenchmarkFormat>) -> Result<Vec<KeyedItem>> {
    let (files, folder) = if input.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(input)
            .with_context(|| input.display().to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl" || e == "csv"))
            .collect();
        files.sort();
        (files, Some(input))
    } else {
        (vec![input.to_owned()], input.parent())
    };
    if files.is_empty() {
        bail!("{}: no .jsonl or .csv files", input.display());
    }
    let benchmark = benchmark
        .or_else(|| folder.and_then(|f| f.file_name()).and_then(|n| n.to_str()).and_then(BenchmarkFormat::from_name));
    let mut items = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
        let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
        if file.extension().is_some_and(|e| e == "csv") {
            read_csv(&text, &name, &mut items).with_context(|| file.display().to_string())?;
            continue;
        }
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
            items.push(keyed(item, id, &name, i + 1));
        }
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
fn read_csv(text: &str, file: &str, items: &mut Vec<KeyedItem>) -> Result<()> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers()?.clone();
    for (row, record) in reader.records().enumerate() {
        let line = record.as_ref().ok().and_then(|r| r.position()).map_or(row + 2, |p| p.line() as usize);
        let object = record.map_err(|e| e.to_string()).and_then(|r| csv_object(&headers, &r));
        let id = object.as_ref().ok().and_then(|o| o.get("id")).and_then(|v| v.as_str()).map(str::to_owned);
        let item = object.and_then(|o| serde_json::from_value(Value::Object(o)).map_err(|e| e.to_string()));
        items.push(keyed(item, || id, file, line));
    }
    Ok(())
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
