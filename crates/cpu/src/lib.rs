//! The compute kernels of selene's CPU engine: matrix products with GGUF weights kept in their
//! ggml blocks, and the small fused operations around them.
//!
//! Expanding an 8B model's Q4_K_M weights to f32 would take 32 GB instead of 4.9 GB and make
//! every token stream seven times the bytes. Here weights stay as the file stores them; each
//! product quantizes the activations once per block, the way ggml-cpu does before its integer
//! dot products ([`QuantMatrix`]), so results match llama.cpp's arithmetic, not just its format.
//! The same binary picks the best instruction set at run time ([`simd_level`]): AVX-512 VNNI or
//! AVX2 on x86-64, NEON with dot products on aarch64, simd128 in wasm, and a scalar path that
//! every vector path is tested against.
//!
//! Work is spread over rayon's global pool (the one Burn's CPU backend also uses), so the
//! process has a single set of worker threads; run inside a `ThreadPool::install` to use another.
//! The crate has no tensor library: the model crate wraps these functions as backend operations.

mod activation;
mod disjoint;
mod error;
mod kernels;
mod layout;
mod matrix;
mod ops;
mod schedule;
mod simd;

pub use activation::InputFormat;
pub use error::Error;
pub use matrix::{Input, QuantMatrix};
pub use ops::attention::{KvCache, KvElement, attention};
pub use ops::glu::silu_mul;
pub use ops::norm::rms_norm;
pub use ops::rope::{RopeTables, rope};
pub use simd::{SimdLevel, simd_level};
