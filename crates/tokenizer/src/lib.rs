//! Tokenizer and chat template for Llama-family models, natively and in the browser.
//!
//! A [`Tokenizer`] comes from GGUF metadata or from a Hugging Face `tokenizer.json`, and encodes
//! exactly as llama.cpp (GGUF) or `tokenizers` (JSON) do; the Hugging Face `tokenizers` crate does
//! the encoding, in its pure-Rust build so that wasm32 runs the same code.
//!
//! Users' text is data: special tokens come only from [`Segment::Template`] text, never from
//! [`Segment::Data`], whatever the data contains. A [`ChatTemplate`] renders a conversation into
//! such segments, keeping each message's content apart from what the template wrote.

mod chat;
mod decode;
mod error;
mod from_gguf;
mod from_json;
mod pretokenize;
mod sentencepiece;
mod tokenizer;
mod vocab;

pub use chat::{ChatTemplate, Message};
pub use decode::StreamDecoder;
pub use error::{Error, Result};
pub use tokenizer::{Segment, Tokenizer};
