//! Weights from a Hugging Face Llama checkpoint folder: `config.json` and its safetensors files.
//!
//! This is how training starts from a released checkpoint. Tensors are read one at a time from
//! the memory-mapped files (`selene-safetensors`, which checks the untrusted headers and names
//! the file and tensor in every error), widened to f32 and handed to the device, which stores
//! them at its default float type (bf16 where the trainer configured that).

use std::path::Path;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use selene_arch::{LlamaConfig, Weight};
use selene_gguf::GgmlType;
use selene_safetensors::SafetensorsFolder;

use selene_kernels::Compute;

use crate::error::{ModelError, Result};
use crate::layers::Linear;
use crate::weights::{EmbeddingTable, WeightSource};

/// A Hugging Face `LlamaForCausalLM` checkpoint folder as a [`WeightSource`].
pub struct SafetensorsWeights {
    config: LlamaConfig,
    folder: SafetensorsFolder,
}

impl SafetensorsWeights {
    /// Opens `dir`, reading `config.json` and every safetensors header (not the tensors).
    pub fn open(dir: &Path) -> Result<Self> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| ModelError::Config(format!("{}: {e}", config_path.display())))?;
        let mut config = LlamaConfig::from_hf_json(&text, &config_path)?;
        let folder = SafetensorsFolder::open(dir)?;
        config.tied_embeddings = folder.get(&Weight::Output.hf_name()).is_none();
        Ok(SafetensorsWeights { config, folder })
    }

    /// The values of `weight` as f32, row-major, checked against the shape the model needs.
    fn read_f32(&self, weight: Weight) -> Result<(Vec<f32>, Vec<usize>)> {
        let name = weight.hf_name();
        let shape = weight.shape(&self.config);
        let entry = self.folder.get(&name).ok_or_else(|| ModelError::Weight {
            file: self.folder.dir().display().to_string(),
            tensor: name.clone(),
            problem: "missing".into(),
        })?;
        if !entry.shape.iter().map(|&d| d as usize).eq(shape.iter().copied()) {
            return Err(ModelError::Weight {
                file: self.folder.path(entry).display().to_string(),
                tensor: name,
                problem: format!("has shape {:?}, the model needs {shape:?}", entry.shape),
            });
        }
        let mut values = vec![0f32; entry.n_elements() as usize];
        entry.dtype.decode(self.folder.bytes(entry), &mut values);
        Ok((values, shape))
    }
}

impl WeightSource for SafetensorsWeights {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn has(&self, weight: Weight) -> bool {
        self.folder.get(&weight.hf_name()).is_some()
    }

    fn linear(&self, weight: Weight, device: &Device, _compute: Compute) -> Result<Linear> {
        let (values, shape) = self.read_f32(weight)?;
        Ok(Linear::new(Tensor::from_data(TensorData::new(values, [shape[0], shape[1]]), device)))
    }

    fn vector(&self, weight: Weight, device: &Device) -> Result<Tensor<1>> {
        let (values, shape) = self.read_f32(weight)?;
        Ok(Tensor::from_data(TensorData::new(values, [shape[0]]), device))
    }

    fn embedding_table(&self) -> Result<EmbeddingTable> {
        let (values, shape) = self.read_f32(Weight::TokenEmbedding)?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        EmbeddingTable::new(Arc::from(bytes), GgmlType::F32, shape[0], shape[1])
    }
}
