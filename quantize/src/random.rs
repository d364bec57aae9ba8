//! Llama-shaped GGUF files with random weights, written in seconds.
//!
//! Runtimes are measured on models of real shape (Llama 3.2 1B, Llama 3.1 8B) that are too large
//! to train or download here, and a GPU machine lent for minutes has no time to quantize a 16 GB
//! checkpoint. Each tensor is a tiling of a few thousand genuine blocks, Gaussian values quantized
//! by ggml's own algorithm ([`selene_gguf::codec`]), laid in a pseudo-random order: every block
//! is one a quantizer could have written, at the cost of a copy. The metadata, tokenizer and
//! per-tensor types are those a conversion of that shape would give (`--type` mixes included).

use std::path::{Path, PathBuf};

use selene_arch::{LlamaConfig, ROPE_FREQS, Weight};
use selene_gguf::{GgmlType, ModelWriter, SplitLimit, TensorInfo, codec, tensor_info};
use serde_json::Value;

use crate::convert::gguf_order;
use crate::error::{Error, Result};
use crate::ftype::{FileType, ModelShape, TensorShape, tensor_types};
use crate::metadata;

/// The shapes this module makes, as their `config.json`.
pub const SHAPES: [(&str, &str); 2] = [("llama-3.2-1b", LLAMA_32_1B), ("llama-3.1-8b", LLAMA_31_8B)];

const LLAMA_32_1B: &str = r#"{"_name_or_path": "random-Llama-3.2-1B", "architectures": ["LlamaForCausalLM"],
    "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": true,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "bos_token_id": 128000, "eos_token_id": 128009}"#;

const LLAMA_31_8B: &str = r#"{"_name_or_path": "random-Llama-3.1-8B", "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0, "tie_word_embeddings": false,
    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "bos_token_id": 128000, "eos_token_id": 128009}"#;

/// Genuine blocks per type that tensors are tiled with.
const POOL_BLOCKS: usize = 4096;
/// Blocks copied in one run from one place of the pool.
const RUN_BLOCKS: usize = 64;

/// Writes a model of shape `shape` (one of [`SHAPES`]) in `ftype` to `output` (a split set with
/// `split_max_size`), its tokenizer from the files in `tokenizer_dir` (`tokenizer.json`,
/// `tokenizer_config.json`), its weights random. Returns the paths written.
pub fn write(
    shape: &str,
    tokenizer_dir: &Path,
    output: &Path,
    ftype: FileType,
    split_max_size: Option<u64>,
) -> Result<Vec<PathBuf>> {
    let known = || SHAPES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let (_, json) = SHAPES
        .iter()
        .find(|(name, _)| *name == shape)
        .ok_or_else(|| Error::new(output, "random", format!("no shape {shape:?} (one of {})", known())))?;
    let raw_config: Value = serde_json::from_str(json).expect("the built-in shapes are JSON");
    let config = LlamaConfig::from_hf_value(&raw_config, Path::new(shape))?;
    let mut tensors: Vec<(String, Vec<u64>)> = Weight::all(config.num_layers, config.tied_embeddings)
        .into_iter()
        .map(|w| (w.gguf_name(), w.shape(&config).iter().map(|&d| d as u64).collect()))
        .collect();
    let factors = config.rope.freq_factors.clone();
    if let Some(f) = &factors {
        tensors.push((ROPE_FREQS.into(), vec![f.len() as u64]));
    }
    tensors.sort_by(|a, b| gguf_order(&a.0, &b.0));
    let shapes: Vec<TensorShape> = tensors
        .iter()
        .map(|(name, shape)| TensorShape { name, row: *shape.last().expect("a dimension"), n_dims: shape.len() })
        .collect();
    let model = ModelShape {
        n_layer: config.num_layers as u32,
        n_head: config.num_heads as u32,
        n_head_kv: config.num_kv_heads as u32,
    };
    let types = tensor_types(ftype, &shapes, &model);
    let total_params = tensors.iter().map(|(_, s)| s.iter().product::<u64>()).sum();
    let meta = metadata::build(tokenizer_dir, &config, &raw_config, ftype, total_params)?;
    let infos: Vec<TensorInfo> =
        tensors.iter().zip(&types).map(|((name, shape), &ty)| tensor_info(name, shape, ty)).collect();
    let mut out = ModelWriter::create(output, meta, infos, split_max_size.map(SplitLimit::MaxBytes))?;
    let mut pools: Vec<(GgmlType, Vec<u8>)> = Vec::new();
    let mut rng = Rng(0x5e1e_4e5e_ed00_0001);
    for ((name, shape), &ty) in tensors.iter().zip(&types) {
        let values: u64 = shape.iter().product();
        let data = if name == ROPE_FREQS {
            let f = factors.as_deref().expect("listed only with factors");
            codec::quantize_to_vec(ty, f).map_err(|e| Error::new(output, name, e))?
        } else if shape.len() == 1 {
            // Norm gains near one, as trained ones are.
            let gains: Vec<f32> = (0..values).map(|_| 1.0 + 0.1 * rng.gaussian()).collect();
            codec::quantize_to_vec(ty, &gains).map_err(|e| Error::new(output, name, e))?
        } else {
            let pool = match pools.iter().position(|(t, _)| *t == ty) {
                Some(i) => &pools[i].1,
                None => {
                    let pool = block_pool(ty, &mut rng).map_err(|e| Error::new(output, name, e))?;
                    pools.push((ty, pool));
                    &pools.last().expect("just pushed").1
                }
            };
            tile(pool, ty, values as usize / ty.block_size(), &mut rng)
        };
        out.write_tensor(&data)?;
    }
    Ok(out.finish()?)
}

/// [`POOL_BLOCKS`] blocks of `ty` quantized from Gaussian values of a trained weight's spread.
fn block_pool(ty: GgmlType, rng: &mut Rng) -> std::result::Result<Vec<u8>, codec::CodecError> {
    let values: Vec<f32> = (0..POOL_BLOCKS * ty.block_size()).map(|_| 0.02 * rng.gaussian()).collect();
    codec::quantize_to_vec(ty, &values)
}

/// `blocks` blocks taken from `pool` in runs that start at random places.
fn tile(pool: &[u8], ty: GgmlType, blocks: usize, rng: &mut Rng) -> Vec<u8> {
    let block_bytes = ty.block_bytes();
    let mut out = Vec::with_capacity(blocks * block_bytes);
    let mut left = blocks;
    while left > 0 {
        let run = left.min(RUN_BLOCKS);
        let start = rng.below(POOL_BLOCKS - run);
        out.extend_from_slice(&pool[start * block_bytes..(start + run) * block_bytes]);
        left -= run;
    }
    out
}

/// xorshift64*: reproducible files, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    /// Box-Muller.
    fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}
