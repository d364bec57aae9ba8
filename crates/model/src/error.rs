//! Errors of model loading, each saying which file and which field.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] selene_gguf::Error),
    #[error("{0}")]
    Config(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{file}: tensor {tensor}: {problem}")]
    Weight { file: String, tensor: String, problem: String },
    #[error("reading results back from the device failed: {0}")]
    Readback(String),
}

impl From<selene_arch::ConfigError> for ModelError {
    fn from(e: selene_arch::ConfigError) -> Self {
        ModelError::Config(e.to_string())
    }
}

impl From<selene_safetensors::SafetensorsError> for ModelError {
    fn from(e: selene_safetensors::SafetensorsError) -> Self {
        ModelError::Weight { file: e.file, tensor: e.field, problem: e.why }
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
