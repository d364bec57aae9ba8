//! Errors that name the field or template at fault, so that a broken or hostile model file is
//! diagnosed without reading the source.

use thiserror::Error;

/// A failure to build a tokenizer, encode, decode, or render a chat template.
#[derive(Debug, Error)]
pub enum Error {
    /// GGUF metadata is missing a key or has the wrong type (the message names the key).
    #[error(transparent)]
    Gguf(#[from] selene_gguf::Error),
    /// A metadata value is present and well typed but unusable, e.g. an id past the vocabulary.
    #[error("{field}: {why}")]
    Metadata { field: String, why: String },
    /// `tokenizer.json` or `tokenizer_config.json` could not be read.
    #[error("{file}: {why}")]
    Json { file: &'static str, why: String },
    /// The Hugging Face `tokenizers` pipeline refused to build or to encode.
    #[error("tokenizer: {0}")]
    Tokenizers(String),
    /// The chat template failed to compile or render, or hides message contents from the split
    /// into template text and data.
    #[error("chat template: {0}")]
    Template(String),
}

impl Error {
    pub(crate) fn metadata(field: impl Into<String>, why: impl Into<String>) -> Error {
        Error::Metadata { field: field.into(), why: why.into() }
    }

    pub(crate) fn tokenizers(e: tokenizers::Error) -> Error {
        Error::Tokenizers(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
