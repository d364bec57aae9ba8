//! Hugging Face Llama checkpoints (safetensors) to GGUF, as llama.cpp's `convert_hf_to_gguf.py`
//! followed by `llama-quantize` would write them, byte for byte, in one streaming pass: no
//! intermediate file, memory bounded by the largest tensor, both cores coding.
//!
//! Modules, in the order data flows: [`checkpoint`] (the config and tensors of the folder, read
//! through `selene-arch` and `selene-safetensors`) → [`convert`] (plan with the architecture's
//! weight table and [`ftype`], stream rows with [`lora`] merges) → `selene_gguf::ModelWriter` (one
//! file or a split set, as `llama-gguf-split` writes it); [`metadata`] ([`vocab`], [`model_name`])
//! describes the model; [`modelfile`] writes
//! Ollama's import file.

pub mod checkpoint;
pub mod convert;
pub mod error;
pub mod ftype;
pub mod lora;
pub mod metadata;
pub mod model_name;
pub mod modelfile;
mod progress;
pub mod random;
pub mod vocab;

pub use error::{Error, Result};
