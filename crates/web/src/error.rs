//! What can go wrong in a browser, sorted into the few cases a person can act on.
//!
//! The page shows a different message and offers a different remedy for each kind (use another
//! browser, a smaller model, close other tabs, reload the model), so every failure crossing
//! into JavaScript carries its kind by name, not only a sentence.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The browser offers no WebGPU adapter.
    NoWebGpu,
    /// A tensor is larger than the adapter can bind in one buffer.
    LimitsTooSmall,
    /// The GPU (or the tab) ran out of memory.
    OutOfMemory,
    /// The GPU device was lost (driver reset, GPU process crash); the model must be loaded again.
    DeviceLost,
    /// The files or the item are not what they should be.
    Invalid,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The name JavaScript sees as `error.name`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NoWebGpu => "NoWebGpu",
            ErrorKind::LimitsTooSmall => "LimitsTooSmall",
            ErrorKind::OutOfMemory => "OutOfMemory",
            ErrorKind::DeviceLost => "DeviceLost",
            ErrorKind::Invalid => "Invalid",
            ErrorKind::Other => "Error",
        }
    }

    /// The kind of a failure known only by its text: wgpu reports a lost device and an
    /// allocation it refuses as errors (or panics) whose messages are all there is.
    pub fn of_message(message: &str) -> ErrorKind {
        let m = message.to_ascii_lowercase();
        if m.contains("out of memory") || m.contains("outofmemory") || m.contains("allocation failed") {
            ErrorKind::OutOfMemory
        } else if m.contains("device lost")
            || m.contains("devicelost")
            || m.contains("poison")
            || m.contains("was lost")
        {
            ErrorKind::DeviceLost
        } else {
            ErrorKind::Other
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebError {
    pub kind: ErrorKind,
    pub message: String,
}

impl WebError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        WebError { kind, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        WebError::new(ErrorKind::Invalid, message)
    }
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WebError {}

impl From<selene_runtime::RuntimeError> for WebError {
    fn from(e: selene_runtime::RuntimeError) -> Self {
        use selene_runtime::RuntimeError as R;
        let message = e.to_string();
        let kind = match e {
            R::Readback(_) => ErrorKind::of_message(&message),
            R::BufferTooLarge { .. } => ErrorKind::LimitsTooSmall,
            R::Gguf(_) | R::Model(_) | R::Tokenizer(_) | R::PromptTooLong { .. } | R::Invalid(_) => ErrorKind::Invalid,
        };
        WebError::new(kind, message)
    }
}

impl From<selene_model::ModelError> for WebError {
    fn from(e: selene_model::ModelError) -> Self {
        WebError::invalid(e.to_string())
    }
}

impl From<selene_gguf::Error> for WebError {
    fn from(e: selene_gguf::Error) -> Self {
        WebError::invalid(e.to_string())
    }
}

impl From<selene_tokenizer::Error> for WebError {
    fn from(e: selene_tokenizer::Error) -> Self {
        WebError::invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_wgpu_are_sorted() {
        let oom = "wgpu error: Out of Memory\n    Caused by: Not enough memory left.";
        assert_eq!(ErrorKind::of_message(oom), ErrorKind::OutOfMemory);
        let lost = "DevicePoisoned(\"Lost: the GPU process crashed\")";
        assert_eq!(ErrorKind::of_message(lost), ErrorKind::DeviceLost);
        assert_eq!(ErrorKind::of_message("index out of bounds"), ErrorKind::Other);
    }

    #[test]
    fn failed_readbacks_say_why() {
        let lost = WebError::from(selene_runtime::RuntimeError::Readback("DevicePoisoned(Lost)".into()));
        assert_eq!(lost.kind, ErrorKind::DeviceLost);
        let other = WebError::from(selene_runtime::RuntimeError::Readback("Execution(Generic)".into()));
        assert_eq!(other.kind, ErrorKind::Other);
        let oom = WebError::from(selene_runtime::RuntimeError::Readback("OutOfMemory".into()));
        assert_eq!(oom.kind, ErrorKind::OutOfMemory);
        let long = WebError::from(selene_runtime::RuntimeError::PromptTooLong { prompt: 9, limit: 4 });
        assert_eq!(long.kind, ErrorKind::Invalid);
    }
}
