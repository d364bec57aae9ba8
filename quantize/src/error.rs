//! Errors that name the file and the field at fault, so that a user with a broken checkpoint
//! knows what to fix without reading the source.

use std::path::Path;

/// A failure, located by file and by field (config key, tensor name, JSON path...).
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {why}")]
pub struct Error {
    pub file: String,
    pub field: String,
    pub why: String,
}

impl Error {
    pub fn new(file: impl AsRef<Path>, field: impl Into<String>, why: impl std::fmt::Display) -> Self {
        Error { file: file.as_ref().display().to_string(), field: field.into(), why: why.to_string() }
    }
}

impl From<selene_gguf::Error> for Error {
    fn from(e: selene_gguf::Error) -> Self {
        Error { file: e.file, field: e.field, why: e.kind.to_string() }
    }
}

impl From<selene_arch::ConfigError> for Error {
    fn from(e: selene_arch::ConfigError) -> Self {
        Error { file: e.file, field: e.field, why: e.why }
    }
}

impl From<selene_safetensors::SafetensorsError> for Error {
    fn from(e: selene_safetensors::SafetensorsError) -> Self {
        Error { file: e.file, field: e.field, why: e.why }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads and parses a JSON file, naming it in every error.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read(path).map_err(|e| Error::new(path, "open", e))?;
    serde_json::from_slice(&text).map_err(|e| Error::new(path, "JSON", e))
}
