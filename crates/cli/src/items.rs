//! Judge items from files and folders: a `.jsonl` or `.csv` file, or a folder of them (a public
//! benchmark's folder in its own format), each file read by the judge crate's reader.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use selene_judge::{BenchmarkFormat, KeyedItem, read_items};

/// The items of one file.
pub struct ItemFile {
    /// The file's name, without its folder.
    pub name: String,
    pub items: Vec<KeyedItem>,
}

/// Everything read from one input path.
pub struct Input {
    /// The benchmark's format name when it has one, else the folder's name (or the file's stem).
    pub name: String,
    pub files: Vec<ItemFile>,
}

/// Reads every item under `input`, flattened in file order.
pub fn read(input: &Path, benchmark: Option<BenchmarkFormat>) -> Result<Vec<KeyedItem>> {
    Ok(read_input(input, benchmark)?.files.into_iter().flat_map(|f| f.items).collect())
}

/// Reads `input`: a file, or a folder of `.jsonl` and `.csv` files (sorted by name). A benchmark
/// format is taken from `benchmark`, else from the folder name when it names one.
pub fn read_input(input: &Path, benchmark: Option<BenchmarkFormat>) -> Result<Input> {
    let (paths, folder) = if input.is_dir() {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(input)
            .with_context(|| input.display().to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl" || e == "csv"))
            .collect();
        paths.sort();
        (paths, Some(input))
    } else {
        (vec![input.to_owned()], input.parent())
    };
    if paths.is_empty() {
        bail!("{}: no .jsonl or .csv files", input.display());
    }
    let file_name = |path: &Path| path.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    let benchmark = benchmark.or_else(|| folder.and_then(file_name).as_deref().and_then(BenchmarkFormat::from_name));
    let name = match (benchmark, input.is_dir()) {
        (Some(format), _) => format.name().to_owned(),
        (None, true) => file_name(input).unwrap_or_else(|| input.display().to_string()),
        (None, false) => input.file_stem().map_or_else(|| input.display().to_string(), |s| s.to_string_lossy().into()),
    };
    let mut files = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        let name = file_name(path).unwrap_or_else(|| path.display().to_string());
        let items = read_items(&name, &text, benchmark).map_err(anyhow::Error::msg)?;
        files.push(ItemFile { name, items });
    }
    Ok(Input { name, files })
}
