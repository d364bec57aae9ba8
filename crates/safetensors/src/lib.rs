//! Safetensors, the tensor format of Hugging Face checkpoints, and the checkpoint folders that
//! hold them (`model.safetensors`, or shards listed by `model.safetensors.index.json`).
//!
//! Training starts from these folders, the quantizer converts them and the trainer exports
//! them, so they are read and written here once. Files are memory-mapped and never read whole: a
//! model can be far larger than memory, and pages already converted can be handed back to the
//! kernel ([`SafetensorsFolder::release`]). Headers are untrusted input: the header is capped at
//! 100 MB, as the reference implementation caps it, every range is checked against the file
//! before it is used (a truncated download is the common case), nothing is allocated from a size
//! the header claims, and every error names the file and the tensor or field at fault.
//!
//! The `safetensors` crate parses the same headers, but it reports a truncated file, a size that
//! does not match a shape, and an overflow without naming the tensor, and its writer reorders
//! tensors; so the format, small as it is, is read and written here.

mod dtype;
mod file;
mod folder;
mod write;

pub use dtype::Dtype;
pub use file::{SafetensorsFile, TensorEntry};
pub use folder::{INDEX, SafetensorsFolder, shard_name};
pub use write::{TensorToWrite, write};

/// A failure, located by file and by field (tensor name, `header`, index key...).
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {why}")]
pub struct SafetensorsError {
    pub file: String,
    pub field: String,
    pub why: String,
}

impl SafetensorsError {
    fn new(file: impl AsRef<std::path::Path>, field: impl Into<String>, why: impl std::fmt::Display) -> Self {
        SafetensorsError { file: file.as_ref().display().to_string(), field: field.into(), why: why.to_string() }
    }
}

type Result<T, E = SafetensorsError> = std::result::Result<T, E>;
