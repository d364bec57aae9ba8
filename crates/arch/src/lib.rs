//! The Llama architecture as data, with no tensor library: what its hyper-parameters are and
//! where each comes from in a GGUF file or a Hugging Face `config.json` ([`LlamaConfig`]), which
//! weights it has and what each is called and shaped in either format ([`Weight`]), and how
//! llama.cpp lays out rotary embeddings (the row interleaving of query and key projections,
//! Llama 3's `rope_freqs`).
//!
//! The model that runs and trains (`selene-model`), the quantizer that writes GGUF files and the
//! trainer that exports checkpoints all read this one description, so a GGUF file written by one
//! means the same to the others and to llama.cpp.

mod config;
mod rope;
mod weights;

pub use config::{ARCHITECTURE, ConfigError, LlamaConfig};
pub use rope::{Llama3Rope, RopeConfig, RopeScaling};
pub use weights::{LayerWeight, ROPE_FREQS, Weight, rope_row_to_hf, rope_rows_to_hf};
