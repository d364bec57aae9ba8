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

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
