//! The one writer of model files: a single GGUF, or a split set cut and keyed as llama.cpp's
//! `llama-gguf-split --split` cuts and keys it, byte for byte (the quantizer's split-set goldens,
//! recorded from llama.cpp, pin it).
//!
//! Every file is written under a temporary name and renamed only once all of them are written
//! and flushed (`selene_atomic::AtomicFiles`), so an interrupted or failed run leaves nothing
//! that looks like a finished model.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use selene_atomic::AtomicFiles;

use crate::error::{Error, Result};
use crate::metadata::{Metadata, Value};
use crate::read::TensorInfo;
use crate::split::{SplitLimit, plan_shards, shard_path, split_keys};
use crate::write::GgufWriter;

/// Writes a model as one GGUF file, or as a split set when a limit is given, atomically.
pub struct ModelWriter {
    files: AtomicFiles,
    paths: Vec<PathBuf>,
    plan: Vec<std::ops::Range<usize>>,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    shard: usize,
    current: Option<GgufWriter<BufWriter<File>>>,
}

impl ModelWriter {
    /// Plans the output for `path` (the single file's name, or `<prefix>.gguf` for a split set,
    /// whose shards are named `<prefix>-00001-of-0000N.gguf`) and writes the first header.
    pub fn create(
        path: &Path,
        metadata: Metadata,
        tensors: Vec<TensorInfo>,
        limit: Option<SplitLimit>,
    ) -> Result<Self> {
        let alignment = match metadata.get(crate::keys::general::ALIGNMENT) {
            Some(Value::U32(a)) => u64::from(*a),
            _ => crate::read::DEFAULT_ALIGNMENT,
        };
        let plan = match limit {
            Some(limit) => plan_shards(&tensors, limit, alignment),
            None => vec![0..tensors.len()],
        };
        let paths = if plan.len() == 1 {
            vec![path.to_owned()]
        } else {
            let prefix = path.to_str().and_then(|p| p.strip_suffix(".gguf")).map_or(path.to_owned(), PathBuf::from);
            (1..=plan.len()).map(|no| shard_path(&prefix, no, plan.len())).collect()
        };
        let mut writer =
            ModelWriter { files: AtomicFiles::new(), paths, plan, metadata, tensors, shard: 0, current: None };
        writer.open_shard()?;
        Ok(writer)
    }

    /// The files this writer produces, in order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    fn open_shard(&mut self) -> Result<()> {
        let path = &self.paths[self.shard];
        let label = path.display().to_string();
        let count = self.plan.len();
        let metadata = match (count, self.shard) {
            (1, _) => self.metadata.clone(),
            (_, 0) => {
                let mut m = self.metadata.clone();
                split_keys(&mut m, 0, count, self.tensors.len());
                m
            }
            (_, no) => {
                let mut m = Metadata::new(&label);
                split_keys(&mut m, no, count, self.tensors.len());
                m
            }
        };
        let file = self.files.create(path).map_err(|e| Error::new(&label, "create", e))?;
        let tensors = self.tensors[self.plan[self.shard].clone()].to_vec();
        self.current = Some(GgufWriter::new(BufWriter::with_capacity(1 << 20, file), &label, &metadata, tensors)?);
        Ok(())
    }

    /// The tensor whose data is expected next.
    pub fn next_tensor(&self) -> Option<&TensorInfo> {
        self.current.as_ref().and_then(|w| w.next_tensor())
    }

    /// Writes the next tensor's data, moving on to the next shard when this one is full.
    pub fn write_tensor(&mut self, data: &[u8]) -> Result<()> {
        let writer = self.current.as_mut().expect("a shard is open until finish");
        writer.write_tensor(data)?;
        if writer.next_tensor().is_none() && self.shard + 1 < self.plan.len() {
            self.current.take().expect("open").finish()?;
            self.shard += 1;
            self.open_shard()?;
        }
        Ok(())
    }

    /// Finishes the last shard and gives every file its final name.
    pub fn finish(self) -> Result<Vec<PathBuf>> {
        self.finish_with(&[])
    }

    /// [`finish`](Self::finish), also writing `extra` files (such as an Ollama Modelfile) that
    /// appear with the model and not before; returns the model's files, then the extra ones.
    pub fn finish_with(mut self, extra: &[(PathBuf, Vec<u8>)]) -> Result<Vec<PathBuf>> {
        self.current.take().expect("a shard is open until finish").finish()?;
        for (path, bytes) in extra {
            let label = path.display().to_string();
            let mut file = self.files.create(path).map_err(|e| Error::new(&label, "create", e))?;
            file.write_all(bytes).map_err(|e| Error::new(&label, "write", e))?;
        }
        let first = self.paths[0].display().to_string();
        self.files.commit().map_err(|e| Error::new(first, "rename", e))
    }
}
