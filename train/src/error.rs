//! One error type for the whole crate: where (a file, and the line for JSON Lines input), what
//! (the field or tensor at fault) and why, so that a user with a broken dataset or checkpoint
//! knows what to fix without reading the source.

use std::fmt;
use std::path::Path;

#[derive(Debug)]
pub struct Error {
    /// The file, or another place such as a device name.
    pub place: String,
    /// 1-based line of a JSON Lines file, when the problem is in one record.
    pub line: Option<usize>,
    /// The field, tensor or setting at fault.
    pub field: String,
    pub why: String,
}

impl Error {
    pub fn new(place: impl fmt::Display, field: impl Into<String>, why: impl fmt::Display) -> Self {
        Error { place: place.to_string(), line: None, field: field.into(), why: why.to_string() }
    }

    pub fn file(path: &Path, field: impl Into<String>, why: impl fmt::Display) -> Self {
        Error::new(path.display(), field, why)
    }

    pub fn at_line(path: &Path, line: usize, field: impl Into<String>, why: impl fmt::Display) -> Self {
        Error { line: Some(line), ..Error::file(path, field, why) }
    }

    /// A problem with a command-line option or a setting, not with a file.
    pub fn setting(name: impl Into<String>, why: impl fmt::Display) -> Self {
        Error::new("settings", name, why)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.place, self.field, self.why),
            None => write!(f, "{}: {}: {}", self.place, self.field, self.why),
        }
    }
}

impl std::error::Error for Error {}

impl From<selene_model::ModelError> for Error {
    fn from(e: selene_model::ModelError) -> Self {
        Error::new("model", "load", e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::file(path, "open", e))
}

/// Replaces a file at once (`selene_atomic::write`), naming it in the error.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    selene_atomic::write(path, bytes).map_err(|e| Error::file(path, "write", e))
}

/// Reads and parses a JSON file, naming it in every error.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    serde_json::from_slice(&read(path)?).map_err(|e| Error::file(path, "JSON", e))
}

/// The non-blank lines of a JSON Lines file with their 1-based numbers.
pub fn jsonl_lines(path: &Path) -> Result<Vec<(usize, String)>> {
    let text = String::from_utf8(read(path)?).map_err(|e| Error::file(path, "text", format!("not UTF-8: {e}")))?;
    Ok(text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, l.to_owned())).collect())
}
