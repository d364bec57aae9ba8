//! A Hugging Face checkpoint folder's tensors, wherever they are stored.
//!
//! A large checkpoint is split into shards listed by `model.safetensors.index.json`
//! (`model-00001-of-00004.safetensors`, ...); a missing or partly downloaded shard must be an
//! error that names the file, not a model with holes, so the index and the shards are checked
//! against each other. Without an index, every `model*.safetensors` of the folder is read.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::file::{SafetensorsFile, TensorEntry};
use crate::{Result, SafetensorsError};

/// The one weights file of an unsharded checkpoint.
pub const SINGLE: &str = "model.safetensors";
/// The list of a sharded checkpoint's shards, by tensor.
pub const INDEX: &str = "model.safetensors.index.json";

/// The name `save_pretrained` gives weights file `no` (from 1) of `count`: [`SINGLE`] when there
/// is one, else `model-0000<no>-of-0000<count>.safetensors`.
pub fn shard_name(no: usize, count: usize) -> String {
    if count == 1 { SINGLE.to_owned() } else { format!("model-{no:05}-of-{count:05}.safetensors") }
}

/// The tensors of every safetensors file of a checkpoint folder, by name.
pub struct SafetensorsFolder {
    dir: PathBuf,
    files: Vec<SafetensorsFile>,
    tensors: BTreeMap<String, TensorEntry>,
}

impl SafetensorsFolder {
    /// Opens the folder's shards and checks their headers (not their tensors).
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(SafetensorsError::new(dir, "input", "not a directory (give a Hugging Face checkpoint folder)"));
        }
        let files =
            shard_names(dir)?.iter().map(|name| SafetensorsFile::open(&dir.join(name))).collect::<Result<Vec<_>>>()?;
        let mut tensors = BTreeMap::new();
        for (shard, file) in files.iter().enumerate() {
            for entry in file.tensors() {
                if tensors.insert(entry.name.clone(), TensorEntry { shard, ..entry.clone() }).is_some() {
                    return Err(SafetensorsError::new(file.path(), &entry.name, "tensor also stored in another shard"));
                }
            }
        }
        let index = dir.join(INDEX);
        if index.is_file() {
            check_index(&index, &tensors)?;
        }
        Ok(SafetensorsFolder { dir: dir.to_owned(), files, tensors })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every tensor, sorted by name.
    pub fn tensors(&self) -> impl Iterator<Item = &TensorEntry> {
        self.tensors.values()
    }

    pub fn get(&self, name: &str) -> Option<&TensorEntry> {
        self.tensors.get(name)
    }

    /// The file that holds `t`.
    pub fn path(&self, t: &TensorEntry) -> &Path {
        self.files[t.shard].path()
    }

    /// The raw little-endian bytes of `t`.
    pub fn bytes(&self, t: &TensorEntry) -> &[u8] {
        self.files[t.shard].bytes(t)
    }

    /// Tells the kernel that the pages holding bytes `range` of `t` are no longer needed, so they
    /// leave this process's resident memory (they are read from the file again if touched).
    /// Where the target has no such advice, the pages stay until the folder is dropped.
    pub fn release(&self, t: &TensorEntry, range: Range<usize>) {
        self.files[t.shard].release(t, range)
    }
}

/// The shard files: those the index names, else every `model*.safetensors`, sorted by name.
fn shard_names(dir: &Path) -> Result<Vec<String>> {
    let index = dir.join(INDEX);
    let names: BTreeSet<String> = if index.is_file() {
        let json = read_json(&index)?;
        let map = json
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| SafetensorsError::new(&index, "weight_map", "missing or not an object"))?;
        let mut names = BTreeSet::new();
        for (tensor, file) in map {
            let field = format!("weight_map.{tensor}");
            let file = file.as_str().ok_or_else(|| SafetensorsError::new(&index, &field, "not a file name"))?;
            if file.contains('/') || file.contains('\\') || file.starts_with('.') {
                return Err(SafetensorsError::new(&index, &field, format!("{file:?} is not a file of the folder")));
            }
            if !dir.join(file).is_file() {
                return Err(SafetensorsError::new(
                    dir.join(file),
                    "open",
                    format!("missing shard (listed in {INDEX} for {tensor})"),
                ));
            }
            names.insert(file.to_owned());
        }
        names
    } else {
        let read = std::fs::read_dir(dir).map_err(|e| SafetensorsError::new(dir, "list", e))?;
        read.filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("model") && n.ends_with(".safetensors"))
            .collect()
    };
    if names.is_empty() {
        return Err(SafetensorsError::new(
            dir,
            SINGLE,
            format!("no safetensors weights in the folder (no {SINGLE} or {INDEX})"),
        ));
    }
    Ok(names.into_iter().collect())
}

/// The index lists exactly the tensors the shards hold.
fn check_index(index: &Path, tensors: &BTreeMap<String, TensorEntry>) -> Result<()> {
    let json = read_json(index)?;
    let listed: BTreeSet<&str> =
        json["weight_map"].as_object().map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
    if let Some(missing) = listed.iter().find(|n| !tensors.contains_key(**n)) {
        return Err(SafetensorsError::new(index, format!("weight_map.{missing}"), "listed, but in none of the shards"));
    }
    if let Some(extra) = tensors.keys().find(|n| !listed.contains(n.as_str())) {
        return Err(SafetensorsError::new(index, "weight_map", format!("does not list {extra}, which a shard holds")));
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read(path).map_err(|e| SafetensorsError::new(path, "open", e))?;
    serde_json::from_slice(&text).map_err(|e| SafetensorsError::new(path, "JSON", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::write::{TensorToWrite, write};

    fn shard(dir: &Path, no: usize, names: &[&str]) {
        let bytes = [0u8; 8];
        let tensors: Vec<_> =
            names.iter().map(|name| TensorToWrite { name, dtype: Dtype::F32, shape: &[2], bytes: &bytes }).collect();
        write(&dir.join(shard_name(no, 2)), &tensors).unwrap();
    }

    fn index(dir: &Path, map: &[(&str, usize)]) {
        let map: serde_json::Map<String, Value> =
            map.iter().map(|&(name, no)| (name.to_owned(), Value::from(shard_name(no, 2)))).collect();
        std::fs::write(dir.join(INDEX), serde_json::json!({ "weight_map": map }).to_string()).unwrap();
    }

    #[test]
    fn shards_are_read_through_the_index_and_checked_against_it() {
        let dir = tempfile::tempdir().unwrap();
        shard(dir.path(), 1, &["a", "b"]);
        shard(dir.path(), 2, &["c"]);
        index(dir.path(), &[("a", 1), ("b", 1), ("c", 2)]);
        let folder = SafetensorsFolder::open(dir.path()).unwrap();
        let names: Vec<_> = folder.tensors().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let c = folder.get("c").unwrap();
        assert!(folder.path(c).ends_with("model-00002-of-00002.safetensors"));
        assert_eq!(folder.bytes(c), [0u8; 8]);

        index(dir.path(), &[("a", 1), ("c", 2)]);
        let e = SafetensorsFolder::open(dir.path()).err().unwrap();
        assert_eq!((e.field.as_str(), e.why.as_str()), ("weight_map", "does not list b, which a shard holds"));
        index(dir.path(), &[("a", 1), ("b", 1), ("c", 2), ("d", 2)]);
        let e = SafetensorsFolder::open(dir.path()).err().unwrap();
        assert_eq!(e.field, "weight_map.d");

        std::fs::remove_file(dir.path().join(INDEX)).unwrap();
        shard(dir.path(), 2, &["b"]);
        let e = SafetensorsFolder::open(dir.path()).err().unwrap();
        assert!(e.file.ends_with("model-00002-of-00002.safetensors") && e.field == "b", "{e}");
        std::fs::remove_file(dir.path().join(shard_name(1, 2))).unwrap();
        std::fs::remove_file(dir.path().join(shard_name(2, 2))).unwrap();
        let e = SafetensorsFolder::open(dir.path()).err().unwrap();
        assert!(e.why.starts_with("no safetensors weights"), "{e}");
    }
}
