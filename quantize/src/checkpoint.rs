//! A Hugging Face checkpoint directory: its config and its tensors, wherever they are stored.
//!
//! A large checkpoint is split into shards listed by `model.safetensors.index.json`; a missing or
//! partly downloaded shard must be an error that names the file, not a model with holes. The
//! shards are memory-mapped and their tensors read one at a time by the converter.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::config::LlamaConfig;
use crate::error::{Error, Result, read_json};
use crate::safetensors::{SafetensorsFile, TensorEntry};

pub const CONFIG: &str = "config.json";
const INDEX: &str = "model.safetensors.index.json";

/// Where a tensor is: file index and entry.
#[derive(Clone, Debug)]
pub struct Located {
    pub file: usize,
    pub entry: TensorEntry,
}

pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: LlamaConfig,
    files: Vec<SafetensorsFile>,
    tensors: BTreeMap<String, Located>,
}

impl Checkpoint {
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        if !dir.is_dir() {
            return Err(Error::new(dir, "input", "not a directory (give a Hugging Face checkpoint folder)"));
        }
        let config = LlamaConfig::load(&dir.join(CONFIG))?;
        let files =
            shard_names(dir)?.iter().map(|name| SafetensorsFile::open(&dir.join(name))).collect::<Result<Vec<_>>>()?;
        let mut tensors = BTreeMap::new();
        for (i, file) in files.iter().enumerate() {
            for entry in file.tensors() {
                if tensors.insert(entry.name.clone(), Located { file: i, entry: entry.clone() }).is_some() {
                    return Err(Error::new(file.path(), &entry.name, "tensor also stored in another shard"));
                }
            }
        }
        let index = dir.join(INDEX);
        if index.is_file() {
            check_index(&index, &tensors)?;
        }
        Ok(Checkpoint { dir: dir.to_owned(), config, files, tensors })
    }

    pub fn tensors(&self) -> &BTreeMap<String, Located> {
        &self.tensors
    }

    pub fn get(&self, name: &str) -> Option<&Located> {
        self.tensors.get(name)
    }

    pub fn file(&self, t: &Located) -> &SafetensorsFile {
        &self.files[t.file]
    }

    pub fn bytes(&self, t: &Located) -> &[u8] {
        self.files[t.file].bytes(&t.entry)
    }

    /// Drops the resident pages of bytes `range` of `t` (see [`SafetensorsFile::release`]).
    pub fn release(&self, t: &Located, range: std::ops::Range<usize>) {
        self.files[t.file].release(&t.entry, range)
    }
}

/// The shard files: those the index names, else every `model*.safetensors`, sorted by name.
fn shard_names(dir: &Path) -> Result<Vec<String>> {
    let index = dir.join(INDEX);
    let names: BTreeSet<String> = if index.is_file() {
        let json = read_json(&index)?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::new(&index, "weight_map", "missing or not an object"))?;
        let mut names = BTreeSet::new();
        for (tensor, file) in map {
            let file =
                file.as_str().ok_or_else(|| Error::new(&index, format!("weight_map.{tensor}"), "not a file name"))?;
            if file.contains('/') || file.contains('\\') || file.starts_with('.') {
                return Err(Error::new(
                    &index,
                    format!("weight_map.{tensor}"),
                    format!("{file:?} is not a file of the folder"),
                ));
            }
            if !dir.join(file).is_file() {
                return Err(Error::new(
                    dir.join(file),
                    "open",
                    format!("missing shard (listed in {INDEX} for {tensor})"),
                ));
            }
            names.insert(file.to_owned());
        }
        names
    } else {
        let read = std::fs::read_dir(dir).map_err(|e| Error::new(dir, "list", e))?;
        read.filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("model") && n.ends_with(".safetensors"))
            .collect()
    };
    if names.is_empty() {
        return Err(Error::new(dir, "model.safetensors", "no safetensors weights in the folder"));
    }
    Ok(names.into_iter().collect())
}

fn check_index(index: &Path, tensors: &BTreeMap<String, Located>) -> Result<()> {
    let json = read_json(index)?;
    let listed: BTreeSet<&str> =
        json["weight_map"].as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
    if let Some(missing) = listed.iter().find(|n| !tensors.contains_key(**n)) {
        return Err(Error::new(index, format!("weight_map.{missing}"), "listed, but in none of the shards"));
    }
    if let Some(extra) = tensors.keys().find(|n| !listed.contains(n.as_str())) {
        return Err(Error::new(index, "weight_map", format!("does not list {extra}, which a shard holds")));
    }
    Ok(())
}
