//! GGUF, the model file format of llama.cpp, and the ggml block codecs inside it.
//!
//! The runtime, the browser page and the quantizer all read or write models through this crate,
//! so it follows llama.cpp's reader to the letter: files written here load there unchanged, and
//! quantized blocks are byte-identical to ggml's reference quantizers. It has no dependency on
//! a tensor library and builds for `wasm32-unknown-unknown`; memory mapping (`mmap`) and
//! multi-threaded coding (`parallel`) are features.

pub mod codec;
mod error;
mod ggml_type;
pub mod keys;
mod metadata;
mod model;
#[cfg(any(unix, windows))]
mod output;
mod read;
mod source;
mod split;
mod write;

pub use error::{Error, ErrorKind, Result};
pub use ggml_type::GgmlType;
pub use metadata::{Array, Metadata, Value, ValueType};
pub use model::GgufModel;
#[cfg(any(unix, windows))]
pub use output::ModelWriter;
pub use read::{DEFAULT_ALIGNMENT, Header, TensorInfo, align_to};
#[cfg(any(unix, windows))]
pub use source::FileSource;
pub use source::{ByteSource, Prefix};
pub use split::{
    ModelLayout, Shard, SplitLimit, TensorLocation, parse_shard_path, parse_size, plan_shards, shard_path,
};
pub use write::{GgufWriter, MAX_TENSOR_NAME, tensor_info};
