//! The one seam through which weights reach the model.
//!
//! A [`WeightSource`] answers for each weight of the Llama definition, by role rather than by
//! file-specific name, so GGUF files (inference) and Hugging Face safetensors (training) load into
//! the same modules. Where the model computes with blocks ([`Compute::holds_blocks`]), matrices
//! stay in their ggml blocks; everything else is dequantized to f32.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use selene_gguf::{GgmlType, codec};
use selene_kernels::{BlockMatrix, Compute};

use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::layers::Linear;

/// The role of a weight in a Llama model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    TokenEmbedding,
    OutputNorm,
    Output,
    Layer(usize, LayerWeight),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerWeight {
    AttnNorm,
    Query,
    Key,
    Value,
    AttnOutput,
    FfnNorm,
    Gate,
    Up,
    Down,
}

impl Weight {
    /// The tensor's name in llama.cpp's GGUF files.
    pub fn gguf_name(self) -> String {
        match self {
            Weight::TokenEmbedding => "token_embd.weight".into(),
            Weight::OutputNorm => "output_norm.weight".into(),
            Weight::Output => "output.weight".into(),
            Weight::Layer(i, w) => format!(
                "blk.{i}.{}.weight",
                match w {
                    LayerWeight::AttnNorm => "attn_norm",
                    LayerWeight::Query => "attn_q",
                    LayerWeight::Key => "attn_k",
                    LayerWeight::Value => "attn_v",
                    LayerWeight::AttnOutput => "attn_output",
                    LayerWeight::FfnNorm => "ffn_norm",
                    LayerWeight::Gate => "ffn_gate",
                    LayerWeight::Up => "ffn_up",
                    LayerWeight::Down => "ffn_down",
                }
            ),
        }
    }

    /// The tensor's name in Hugging Face Llama checkpoints.
    pub fn hf_name(self) -> String {
        match self {
            Weight::TokenEmbedding => "model.embed_tokens.weight".into(),
            Weight::OutputNorm => "model.norm.weight".into(),
            Weight::Output => "lm_head.weight".into(),
            Weight::Layer(i, w) => format!(
                "model.layers.{i}.{}.weight",
                match w {
                    LayerWeight::AttnNorm => "input_layernorm",
                    LayerWeight::Query => "self_attn.q_proj",
                    LayerWeight::Key => "self_attn.k_proj",
                    LayerWeight::Value => "self_attn.v_proj",
                    LayerWeight::AttnOutput => "self_attn.o_proj",
                    LayerWeight::FfnNorm => "post_attention_layernorm",
                    LayerWeight::Gate => "mlp.gate_proj",
                    LayerWeight::Up => "mlp.up_proj",
                    LayerWeight::Down => "mlp.down_proj",
                }
            ),
        }
    }

    /// The weight's shape in a model of this configuration: `[out, in]` for matrices, as
    /// checkpoints store them.
    pub fn shape(self, c: &LlamaConfig) -> Vec<usize> {
        let (q, kv) = (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
        match self {
            Weight::TokenEmbedding | Weight::Output => vec![c.vocab_size, c.hidden_size],
            Weight::OutputNorm => vec![c.hidden_size],
            Weight::Layer(_, w) => match w {
                LayerWeight::AttnNorm | LayerWeight::FfnNorm => vec![c.hidden_size],
                LayerWeight::Query => vec![q, c.hidden_size],
                LayerWeight::Key | LayerWeight::Value => vec![kv, c.hidden_size],
                LayerWeight::AttnOutput => vec![c.hidden_size, q],
                LayerWeight::Gate | LayerWeight::Up => vec![c.intermediate_size, c.hidden_size],
                LayerWeight::Down => vec![c.hidden_size, c.intermediate_size],
            },
        }
    }
}

/// Gives the model its weights. Matrices are `[out, in]` (PyTorch's orientation), with query and
/// key rows in Hugging Face's order (rotary pairs split into halves).
pub trait WeightSource {
    fn config(&self) -> &LlamaConfig;
    /// Whether the source has this weight (the output head is absent when embeddings are tied).
    fn has(&self, weight: Weight) -> bool;
    /// A weight matrix as a linear layer, held as `compute` can use it.
    fn linear(&self, weight: Weight, device: &Device, compute: Compute) -> Result<Linear>;
    fn vector(&self, weight: Weight, device: &Device) -> Result<Tensor<1>>;
    /// The token embedding table where the model looks rows up on the host.
    fn embedding_table(&self) -> Result<EmbeddingTable>;
}

/// A token embedding table kept in its stored (possibly quantized) form on the host; rows are
/// dequantized when looked up, so the table never needs to exist as floats on the device.
#[derive(Clone, Debug)]
pub struct EmbeddingTable {
    bytes: Arc<[u8]>,
    ggml_type: GgmlType,
    rows: usize,
    cols: usize,
}

impl EmbeddingTable {
    pub fn new(bytes: Arc<[u8]>, ggml_type: GgmlType, rows: usize, cols: usize) -> Result<Self> {
        let row_bytes = ggml_type.bytes_for(cols as u64).filter(|_| codec::can_dequantize(ggml_type));
        match row_bytes {
            Some(rb) if rb as usize * rows == bytes.len() => Ok(EmbeddingTable { bytes, ggml_type, rows, cols }),
            _ => Err(ModelError::Unsupported(format!(
                "a {rows}x{cols} {ggml_type} embedding table of {} bytes",
                bytes.len()
            ))),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The rows for `ids`, one after the other, as f32.
    pub fn lookup(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let row_bytes = self.bytes.len() / self.rows;
        let mut out = vec![0f32; ids.len() * self.cols];
        for (&id, dst) in ids.iter().zip(out.chunks_exact_mut(self.cols)) {
            let id = id as usize;
            if id >= self.rows {
                return Err(ModelError::Config(format!("token id {id} is outside the vocabulary of {}", self.rows)));
            }
            let src = &self.bytes[id * row_bytes..(id + 1) * row_bytes];
            codec::dequantize(self.ggml_type, src, dst).expect("row sizes were checked when the table was made");
        }
        Ok(out)
    }
}

/// The linear layer of matrix `weight` from its GGUF bytes (ggml blocks of type `ty`), for every
/// source of GGUF tensors.
pub(crate) fn linear_from_blocks(
    weight: Weight,
    config: &LlamaConfig,
    bytes: &[u8],
    ty: GgmlType,
    device: &Device,
    compute: Compute,
) -> Result<Linear, String> {
    let shape = weight.shape(config);
    let (rows, cols) = (shape[0], shape[1]);
    // llama.cpp's converter interleaves the two halves of each head's query and key rows;
    // the model rotates halves, as Hugging Face does, so undo that here.
    let heads = match weight {
        Weight::Layer(_, LayerWeight::Query) => Some(config.num_heads),
        Weight::Layer(_, LayerWeight::Key) => Some(config.num_kv_heads),
        _ => None,
    };
    let bytes = match heads {
        Some(heads) => std::borrow::Cow::Owned(unpermute_rope_rows(bytes, rows, heads)),
        None => std::borrow::Cow::Borrowed(bytes),
    };
    matrix_from_blocks(&bytes, ty, rows, cols, device, compute)
}

/// Reorders the rows of each head from llama.cpp's interleaved rotary layout (row `2i + j`)
/// back to Hugging Face's halves (row `j * d/2 + i`). Rows are whole blocks, so this works on
/// the stored bytes of any type.
pub fn unpermute_rope_rows(bytes: &[u8], rows: usize, heads: usize) -> Vec<u8> {
    let row_bytes = bytes.len() / rows;
    let head_dim = rows / heads;
    let mut out = vec![0u8; bytes.len()];
    for h in 0..heads {
        for i in 0..head_dim / 2 {
            for j in 0..2 {
                let src = h * head_dim + 2 * i + j;
                let dst = h * head_dim + j * (head_dim / 2) + i;
                out[dst * row_bytes..(dst + 1) * row_bytes]
                    .copy_from_slice(&bytes[src * row_bytes..(src + 1) * row_bytes]);
            }
        }
    }
    out
}

/// The linear layer of a `[rows, cols]` matrix in ggml blocks: the blocks as they are where
/// `compute` multiplies with them, else the values as f32.
fn matrix_from_blocks(
    bytes: &[u8],
    ty: GgmlType,
    rows: usize,
    cols: usize,
    device: &Device,
    compute: Compute,
) -> Result<Linear, String> {
    if compute.holds_blocks(ty) {
        return BlockMatrix::new(bytes, ty, rows, cols, device, compute).map(Linear::from_blocks);
    }
    let values = codec::dequantize_to_vec(ty, bytes, rows * cols).map_err(|e| e.to_string())?;
    Ok(Linear::new(upload(TensorData::new(values, [rows, cols]), device)))
}

/// A weight on the device in Burn's persistent pool, a buffer of its exact size for the model's
/// life. Burn's default pools carve pages for reuse by short-lived tensors, and held the weights
/// of SmolLM2 in 10% more than their size.
pub(crate) fn upload<const D: usize>(data: TensorData, device: &Device) -> Tensor<D> {
    device.memory_persistent_allocations(data, |data| Tensor::from_data(data, device))
}
