//! Judge items from files and folders: a `.jsonl` or `.csv` file, or a folder of them (a public
//! benchmark's folder in its own format), each file read by the judge crate's reader.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use selene_judge::{BenchmarkFormat, KeyedItem, read_items};

/// Reads every item under `input`: a file, or a folder of `.jsonl` and `.csv` files (sorted by
/// name). A benchmark format is taken from `benchmark`, else from the folder name when it names
/// one.
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
        items.extend(read_items(&name, &text, benchmark).map_err(anyhow::Error::msg)?);
    }
    Ok(items)
}
