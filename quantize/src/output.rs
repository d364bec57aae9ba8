//! The output files: one GGUF, or a split set cut and keyed exactly as `llama-gguf-split
//! --split --split-max-size` cuts and keys it, all written under temporary names and renamed
//! only when every file is complete.
//!
//! gguf-split appends `split.no` and `split.tensors.count`, then sets `split.count` once it
//! knows the number of shards (which moves that key last); the keys are written in that order
//! here so that each shard is byte-identical to gguf-split's.

use std::fs::File;
use std::io::BufWriter;
use std::ops::Range;
use std::path::{Path, PathBuf};

use selene_gguf::keys::split;
use selene_gguf::{AtomicFiles, GgufWriter, Metadata, SplitLimit, TensorInfo, Value, plan_shards, shard_path};

use crate::error::{Error, Result};

/// Default tensor data alignment of GGUF (no `general.alignment` key is written).
const ALIGNMENT: u64 = 32;

pub struct Output {
    files: AtomicFiles,
    paths: Vec<PathBuf>,
    plan: Vec<Range<usize>>,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    shard: usize,
    current: Option<GgufWriter<BufWriter<File>>>,
}

impl Output {
    /// Plans the files for `path` (`<prefix>.gguf`; shards are `<prefix>-00001-of-0000N.gguf`)
    /// and writes the first header.
    pub fn create(path: &Path, metadata: Metadata, tensors: Vec<TensorInfo>, limit: Option<u64>) -> Result<Output> {
        let plan = match limit {
            Some(bytes) => plan_shards(&tensors, SplitLimit::MaxBytes(bytes), ALIGNMENT),
            None => vec![0..tensors.len()],
        };
        let paths = if plan.len() == 1 {
            vec![path.to_owned()]
        } else {
            let prefix = path.to_str().and_then(|p| p.strip_suffix(".gguf")).map_or(path.to_owned(), PathBuf::from);
            (1..=plan.len()).map(|no| shard_path(&prefix, no, plan.len())).collect()
        };
        let mut out = Output { files: AtomicFiles::new(), paths, plan, metadata, tensors, shard: 0, current: None };
        out.open_shard()?;
        Ok(out)
    }

    /// The final paths of the files, in order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    fn open_shard(&mut self) -> Result<()> {
        let path = self.paths[self.shard].clone();
        let label = path.display().to_string();
        let count = self.plan.len();
        let metadata = if count == 1 {
            self.metadata.clone()
        } else {
            let mut m = if self.shard == 0 { self.metadata.clone() } else { Metadata::new(&label) };
            m.set(split::NO, Value::U16(self.shard as u16));
            m.set(split::TENSORS_COUNT, Value::I32(self.tensors.len() as i32));
            m.set(split::COUNT, Value::U16(count as u16));
            m
        };
        let file = self.files.create(&path).map_err(|e| Error::new(&path, "create", e))?;
        let tensors = self.tensors[self.plan[self.shard].clone()].to_vec();
        self.current = Some(GgufWriter::new(BufWriter::with_capacity(1 << 20, file), &label, &metadata, tensors)?);
        Ok(())
    }

    /// Writes the next tensor's data, opening the next shard when this one is full.
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

    /// Finishes the last file, then gives every file (and `extra` temporary files, such as a
    /// Modelfile) its final name.
    pub fn finish(mut self, extra: &[(PathBuf, Vec<u8>)]) -> Result<Vec<PathBuf>> {
        self.current.take().expect("a shard is open until finish").finish()?;
        for (path, bytes) in extra {
            use std::io::Write;
            let mut f = self.files.create(path).map_err(|e| Error::new(path, "create", e))?;
            f.write_all(bytes).map_err(|e| Error::new(path, "write", e))?;
        }
        self.files.commit().map_err(|e| Error::new(&self.paths[0], "rename", e))
    }
}
