//! Errors that say which file and which field, so that a user with a broken or hostile file
//! knows exactly what is wrong with it.

use thiserror::Error;

/// A failure to read or write GGUF, located by file (or source label) and field.
#[derive(Debug, Error)]
#[error("{file}: {field}: {kind}")]
pub struct Error {
    /// The path or label of the file.
    pub file: String,
    /// The header field, metadata key or tensor name involved.
    pub field: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug, Error)]
pub enum ErrorKind {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the file ends at byte {file_len}, but {needed} bytes are needed at byte {offset}")]
    Truncated { offset: u64, needed: u64, file_len: u64 },
    /// Only a prefix of the file is loaded; reading on needs bytes up to `up_to`. The browser
    /// answers this by fetching a longer prefix and parsing again.
    #[error("only the first {available} bytes are loaded, bytes up to {up_to} are needed")]
    NeedMoreBytes { available: u64, up_to: u64 },
    #[error("not a GGUF file (the first bytes are {0:02x?}, not \"GGUF\")")]
    BadMagic([u8; 4]),
    #[error("the file is big-endian; only little-endian GGUF is supported")]
    BigEndian,
    #[error("GGUF version {0} is not supported (versions 2 and 3 are)")]
    UnsupportedVersion(u32),
    #[error("unknown metadata value type {0}")]
    UnknownValueType(u32),
    #[error("unknown ggml tensor type {0}")]
    UnknownGgmlType(u32),
    #[error("the text is not valid UTF-8")]
    InvalidUtf8,
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn new(file: impl Into<String>, field: impl Into<String>, kind: impl Into<ErrorKind>) -> Self {
        Error { file: file.into(), field: field.into(), kind: kind.into() }
    }

    pub(crate) fn invalid(file: &str, field: impl Into<String>, why: impl Into<String>) -> Self {
        Error::new(file, field, ErrorKind::Invalid(why.into()))
    }

    /// Whether parsing stopped only because the loaded prefix of the file was too short.
    pub fn needs_more_bytes(&self) -> Option<u64> {
        match self.kind {
            ErrorKind::NeedMoreBytes { up_to, .. } => Some(up_to),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
