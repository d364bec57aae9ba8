//! The one seam through which weights reach the model.
//!
//! A [`WeightSource`] answers for each weight of the Llama definition, by role rather than by
//! file-specific name, so GGUF files (inference) and Hugging Face safetensors (training) load into
//! the same modules. On a device with CubeCL kernels (wgpu, WebGPU, CUDA), matrices in the block
//! types those kernels read (Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K) stay in their ggml blocks;
//! everything else, and everything on the CPU reference backend, is dequantized to f32.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
pub(crate) use selene_arch::{LayerWeight, Weight};
use selene_arch::{LlamaConfig, ROPE_FREQS, rope_rows_to_hf};
use selene_gguf::{GgmlType, GgufModel, TensorLocation, codec};
use selene_kernels::BlockMatrix;

use crate::error::{ModelError, Result};
use crate::layers::Linear;

/// Gives the model its weights. Matrices are `[out, in]` (PyTorch's orientation), with query and
/// key rows in Hugging Face's order (rotary pairs split into halves).
pub trait WeightSource {
    fn config(&self) -> &LlamaConfig;
    /// Whether the source has this weight (the output head is absent when embeddings are tied).
    fn has(&self, weight: Weight) -> bool;
    /// A weight matrix as a linear layer.
    fn linear(&self, weight: Weight, device: &Device) -> Result<Linear>;
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

/// Weights from a GGUF model (one file or a split set).
pub struct GgufWeights {
    model: Arc<GgufModel>,
    config: LlamaConfig,
    label: String,
    keep_quantized: bool,
}

impl GgufWeights {
    pub fn new(model: Arc<GgufModel>) -> Result<Self> {
        let mut config = LlamaConfig::from_gguf(model.metadata())?;
        let label = model.layout().shards()[0].label.clone();
        if let Some(t) = model.tensor(ROPE_FREQS) {
            let factors =
                codec::dequantize_to_vec(t.info.ggml_type, &model.tensor_bytes(t)?, t.info.n_elements() as usize)
                    .map_err(|e| weight_error(&label, &t.info.name, e.to_string()))?;
            if factors.len() != config.head_dim / 2 {
                return Err(weight_error(
                    &label,
                    &t.info.name,
                    format!("has {} values, expected {}", factors.len(), config.head_dim / 2),
                ));
            }
            config.rope.freq_factors = Some(factors);
        }
        if let Some(embd) = model.tensor(&Weight::TokenEmbedding.gguf_name()) {
            config.vocab_size = embd.info.shape()[0] as usize;
        }
        config.tied_embeddings = model.tensor(&Weight::Output.gguf_name()).is_none();
        Ok(GgufWeights { model, config, label, keep_quantized: true })
    }

    /// Whether matrices stay in their ggml blocks on a device whose kernels read them (the
    /// default); `false` expands every matrix to f32 at load (the reference path).
    pub fn keep_quantized(mut self, keep: bool) -> Self {
        self.keep_quantized = keep;
        self
    }

    fn locate(&self, weight: Weight, shape: &[usize]) -> Result<&TensorLocation> {
        let name = weight.gguf_name();
        let t = self.model.tensor(&name).ok_or_else(|| weight_error(&self.label, &name, "missing".into()))?;
        let got: Vec<usize> = t.info.shape().iter().map(|&d| d as usize).collect();
        if got != shape {
            return Err(weight_error(&self.label, &name, format!("has shape {got:?}, the model needs {shape:?}")));
        }
        Ok(t)
    }

    fn expected_shape(&self, weight: Weight) -> Vec<usize> {
        weight.shape(&self.config)
    }
}

fn weight_error(file: &str, tensor: &str, problem: String) -> ModelError {
    ModelError::Weight { file: file.into(), tensor: tensor.into(), problem }
}

impl WeightSource for GgufWeights {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn has(&self, weight: Weight) -> bool {
        self.model.tensor(&weight.gguf_name()).is_some()
    }

    fn linear(&self, weight: Weight, device: &Device) -> Result<Linear> {
        let shape = self.expected_shape(weight);
        let t = self.locate(weight, &shape)?;
        let bytes = self.model.tensor_bytes(t)?;
        linear_from_blocks(weight, &self.config, &bytes, t.info.ggml_type, self.keep_quantized, device)
            .map_err(|problem| weight_error(&self.label, &t.info.name, problem))
    }

    fn vector(&self, weight: Weight, device: &Device) -> Result<Tensor<1>> {
        let shape = self.expected_shape(weight);
        let t = self.locate(weight, &shape)?;
        let values = codec::dequantize_to_vec(t.info.ggml_type, &self.model.tensor_bytes(t)?, shape[0])
            .map_err(|e| weight_error(&self.label, &t.info.name, e.to_string()))?;
        Ok(upload(TensorData::new(values, [shape[0]]), device))
    }

    fn embedding_table(&self) -> Result<EmbeddingTable> {
        let shape = self.expected_shape(Weight::TokenEmbedding);
        let t = self.locate(Weight::TokenEmbedding, &shape)?;
        EmbeddingTable::new(Arc::from(&*self.model.tensor_bytes(t)?), t.info.ggml_type, shape[0], shape[1])
    }
}

/// The linear layer of matrix `weight` from its GGUF bytes (ggml blocks of type `ty`), for every
/// source of GGUF tensors.
pub(crate) fn linear_from_blocks(
    weight: Weight,
    config: &LlamaConfig,
    bytes: &[u8],
    ty: GgmlType,
    keep_quantized: bool,
    device: &Device,
) -> Result<Linear, String> {
    let shape = weight.shape(config);
    let (rows, cols) = (shape[0], shape[1]);
    // llama.cpp's converter interleaves the two halves of each head's query and key rows;
    // the model rotates halves, as Hugging Face does, so undo that here.
    let bytes = match weight.rope_heads(config) {
        Some(heads) => std::borrow::Cow::Owned(rope_rows_to_hf(bytes, rows, heads)),
        None => std::borrow::Cow::Borrowed(bytes),
    };
    matrix_from_blocks(&bytes, ty, rows, cols, keep_quantized, device)
}

/// The linear layer of a `[rows, cols]` matrix in ggml blocks: the blocks as they are when
/// `keep_quantized` and the device has kernels for their type, else the values as f32.
fn matrix_from_blocks(
    bytes: &[u8],
    ty: GgmlType,
    rows: usize,
    cols: usize,
    keep_quantized: bool,
    device: &Device,
) -> Result<Linear, String> {
    if keep_quantized && BlockMatrix::supported(ty, device) {
        return BlockMatrix::new(bytes, ty, rows, cols, device).map(Linear::from_blocks);
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
