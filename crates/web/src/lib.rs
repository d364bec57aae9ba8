//! selene in a browser tab: a model's GGUF files (one file or a split set) streamed tensor by
//! tensor from `File` slices into WebGPU buffers, and items judged with the same code as
//! `selene judge`, with the reasoning streamed token by token.
//!
//! The JavaScript API (wasm32 only, in `wasm.rs`) is what `web/worker.js` calls: `Model.load`,
//! `Model.judge`, `Model.cancel` and `free`. What is not browser-specific (sorting failures into
//! kinds a person can act on, reading batch files, the judge
//! options) builds natively too. Loading is the runtime's ([`selene_runtime::ShardReader`]).

mod error;
mod items;
mod request;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{ErrorKind, WebError};
pub use items::{BatchEntry, read_batch};
pub use request::JudgeRequest;
