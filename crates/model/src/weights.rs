//! The one seam through which weights reach the model.
//!
//! A [`WeightSource`] answers for each weight of the Llama definition, by role rather than by
//! file-specific name, so GGUF files (inference) and Hugging Face safetensors (training) load into
//! the same modules. Where the model computes with blocks ([`Compute::holds_blocks`]), matrices
//! stay in their ggml blocks; everything else is dequantized to f32.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
pub(crate) use selene_arch::{LayerWeight, Weight};
use selene_arch::{LlamaConfig, rope_rows_to_hf};
use selene_gguf::{GgmlType, codec};
use selene_kernels::{BlockMatrix, Compute};

use crate::error::{ModelError, Result};
use crate::layers::Linear;

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
    let bytes = match weight.rope_heads(config) {
        Some(heads) => std::borrow::Cow::Owned(rope_rows_to_hf(bytes, rows, heads)),
        None => std::borrow::Cow::Borrowed(bytes),
    };
    matrix_from_blocks(&bytes, ty, rows, cols, device, compute)
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
