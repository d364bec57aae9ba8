//! Runtime errors, each saying what to do about it where there is something to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Gguf(#[from] selene_gguf::Error),
    #[error(transparent)]
    Model(#[from] selene_model::ModelError),
    #[error(transparent)]
    Tokenizer(#[from] selene_tokenizer::Error),
    #[error(
        "the prompt has {prompt} tokens, but the context holds {limit}; shorten the input or raise the context size"
    )]
    PromptTooLong { prompt: usize, limit: usize },
    #[error("reading results back from the device failed: {0}")]
    Readback(String),
    #[error(
        "this model's tensor {tensor} needs a GPU buffer of {} MiB, but the device allows at most {} MiB per \
         buffer; use a smaller or more strongly quantized model, or a GPU (and browser) with higher limits",
        bytes.div_ceil(1 << 20),
        limit >> 20
    )]
    BufferTooLarge { tensor: String, bytes: u64, limit: u64 },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
