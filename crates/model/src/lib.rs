//! The Llama family on Burn: one definition that runs quantized GGUF models for inference and
//! trains at full precision.
//!
//! Hugging Face's conventions are the model's own (weights `[out, in]`, rotary halves), so
//! checkpoints train and export without conversion; GGUF files are mapped onto them at load.

mod attention;
mod error;
mod layers;
mod llama;
mod rope;
mod safetensors;
mod select;
mod streaming;
mod weights;

// The model's hyper-parameters are the architecture's (`selene-arch`), shared with the quantizer
// and the trainer; `crate::config` names them there.
use selene_arch as config;

pub use attention::{Attention, LayerCache};
pub use error::{ModelError, Result};
pub use layers::{Linear, Mlp, RmsNorm};
pub use llama::{DecoderLayer, KvCache, Llama, Logits};
pub use rope::Rope;
pub use safetensors::SafetensorsWeights;
pub use streaming::StreamingLoader;
pub use weights::{EmbeddingTable, WeightSource};
