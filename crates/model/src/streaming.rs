//! Building a model from its GGUF tensors, handed over one at a time.
//!
//! A browser holds a model as `File`s that it can read only slice by slice and only
//! asynchronously, and an 8B model does not fit in wasm's 4 GiB of memory, so the model is never
//! read whole. [`StreamingLoader`] is given the layout (the parsed headers of every shard), says
//! which tensors it needs in file order, turns each one into what the device holds as soon as
//! its bytes arrive (the caller drops the bytes right after), and at the end assembles the
//! [`Llama`] through the same [`Llama::load`] as every other source. A file on disk goes through
//! the same loader ([`Llama::from_gguf`]), so every GGUF model is built one way.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use selene_arch::{LlamaConfig, ROPE_FREQS, Weight};
use selene_gguf::{GgufModel, ModelLayout, TensorLocation, codec};
use selene_kernels::{BlockFormat, Compute};

use crate::error::{ModelError, Result};
use crate::layers::Linear;
use crate::llama::Llama;
use crate::weights::{EmbeddingTable, WeightSource, linear_from_blocks, upload};

/// What a tensor becomes once its bytes arrive.
enum Built {
    Linear(Linear),
    Vector(Tensor<1>),
}

/// Receives a GGUF model's tensors one by one and builds the model from them.
pub struct StreamingLoader {
    config: LlamaConfig,
    label: String,
    device: Device,
    compute: Compute,
    /// The tensors still to come, by name, with the role each plays.
    wanted: HashMap<String, Role>,
    /// Every wanted tensor, in file order.
    order: Vec<TensorLocation>,
    built: HashMap<String, Built>,
    embedding: Option<EmbeddingTable>,
}

#[derive(Clone, Copy)]
enum Role {
    Weight(Weight),
    RopeFreqs,
}

impl StreamingLoader {
    /// A loader for the model whose shards' headers make up `layout`, putting its tensors on
    /// `device`, where it computes as `compute` says (matrices stay in their ggml blocks where
    /// that computes with them).
    pub fn new(layout: &ModelLayout, device: &Device, compute: Compute) -> Result<Self> {
        let label = layout.shards()[0].label.clone();
        let mut config = LlamaConfig::from_gguf(layout.metadata())?;
        if let Some(embd) = layout.tensor(&Weight::TokenEmbedding.gguf_name()) {
            config.vocab_size = embd.info.shape()[0] as usize;
        }
        config.tied_embeddings = layout.tensor(&Weight::Output.gguf_name()).is_none();
        let mut roles: Vec<(String, Role)> = Weight::all(config.num_layers, config.tied_embeddings)
            .into_iter()
            .map(|w| (w.gguf_name(), Role::Weight(w)))
            .collect();
        if layout.tensor(ROPE_FREQS).is_some() {
            roles.push((ROPE_FREQS.into(), Role::RopeFreqs));
        }
        for (name, role) in &roles {
            let Some(t) = layout.tensor(name) else {
                return Err(weight_error(&label, name, "missing".into()));
            };
            let got: Vec<usize> = t.info.shape().iter().map(|&d| d as usize).collect();
            let expected = match role {
                Role::Weight(w) => w.shape(&config),
                Role::RopeFreqs => vec![config.head_dim / 2],
            };
            if got != expected {
                return Err(weight_error(&label, name, format!("has shape {got:?}, the model needs {expected:?}")));
            }
        }
        let wanted: HashMap<String, Role> = roles.into_iter().collect();
        let order = layout.tensors().iter().filter(|t| wanted.contains_key(&t.info.name)).cloned().collect();
        Ok(StreamingLoader {
            config,
            label,
            device: device.clone(),
            compute,
            wanted,
            order,
            built: HashMap::new(),
            embedding: None,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The tensors the model needs, in the order they lie in the files: hand each one's bytes to
    /// [`add`](Self::add).
    pub fn tensors(&self) -> &[TensorLocation] {
        &self.order
    }

    /// The largest device buffer `tensor` needs, in bytes: none for a token embedding that
    /// stays on the host; one row for a matrix kept in ggml blocks (those are split by rows to
    /// fit the device's buffers); the whole tensor as f32 otherwise.
    pub fn buffer_bytes(&self, tensor: &TensorLocation) -> u64 {
        let info = &tensor.info;
        let role = self.wanted.get(&info.name);
        if matches!(role, Some(Role::Weight(Weight::TokenEmbedding))) && !self.config.tied_embeddings {
            return 0;
        }
        let is_matrix = info.dims.len() == 2;
        match BlockFormat::of(info.ggml_type) {
            Some(format) if is_matrix && self.compute.holds_blocks(info.ggml_type) => {
                format.device_words(info.dims[0] as usize / format.block_values()) as u64 * 4
            }
            _ => info.n_elements() * 4,
        }
    }

    /// Turns the bytes of tensor `name` (exactly as stored in its file) into its device
    /// tensor. Tensors may come in any order; the bytes are not kept, except the token
    /// embedding's, which stay on the host for row lookups.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let Some(role) = self.wanted.remove(name) else {
            return Err(weight_error(&self.label, name, "is not a tensor the model needs, or came twice".into()));
        };
        let t = self.order.iter().find(|t| t.info.name == name).expect("every wanted tensor is in the order");
        let (ty, shape) = (t.info.ggml_type, t.info.shape());
        if bytes.len() as u64 != t.info.n_bytes() {
            return Err(weight_error(
                &self.label,
                name,
                format!("got {} bytes, the header says {}", bytes.len(), t.info.n_bytes()),
            ));
        }
        let fail = |problem: String| weight_error(&self.label, name, problem);
        match role {
            Role::RopeFreqs => {
                let factors =
                    codec::dequantize_to_vec(ty, bytes, shape[0] as usize).map_err(|e| fail(e.to_string()))?;
                self.config.rope.freq_factors = Some(factors);
            }
            Role::Weight(_) if shape.len() == 1 => {
                let values = codec::dequantize_to_vec(ty, bytes, shape[0] as usize).map_err(|e| fail(e.to_string()))?;
                let vector = upload(TensorData::new(values, [shape[0] as usize]), &self.device);
                self.built.insert(name.into(), Built::Vector(vector));
            }
            Role::Weight(weight) => {
                if weight == Weight::TokenEmbedding {
                    let (rows, cols) = (shape[0] as usize, shape[1] as usize);
                    self.embedding = Some(EmbeddingTable::new(Arc::from(bytes), ty, rows, cols)?);
                    if !self.config.tied_embeddings {
                        return Ok(());
                    }
                }
                let linear =
                    linear_from_blocks(weight, &self.config, bytes, ty, &self.device, self.compute).map_err(fail)?;
                self.built.insert(name.into(), Built::Linear(linear));
            }
        }
        Ok(())
    }

    /// The model, once every tensor of [`tensors`](Self::tensors) has been added, with room
    /// for `max_positions` tokens of context.
    pub fn finish(self, max_positions: usize) -> Result<Llama> {
        if let Some(t) = self.order.iter().find(|t| self.wanted.contains_key(&t.info.name)) {
            return Err(weight_error(&self.label, &t.info.name, "was never added".into()));
        }
        let source = BuiltWeights {
            config: self.config,
            label: self.label,
            built: RefCell::new(self.built),
            embedding: RefCell::new(self.embedding),
        };
        Llama::load(&source, max_positions, &self.device, self.compute)
    }
}

impl Llama {
    /// Loads a whole GGUF model (one file or a split set) whose bytes `model` can read, tensor by
    /// tensor through a [`StreamingLoader`].
    pub fn from_gguf(model: &GgufModel, max_positions: usize, device: &Device, compute: Compute) -> Result<Llama> {
        let mut loader = StreamingLoader::new(model.layout(), device, compute)?;
        for t in loader.tensors().to_vec() {
            loader.add(&t.info.name, &model.tensor_bytes(&t)?)?;
        }
        loader.finish(max_positions)
    }
}

/// The finished tensors, handed to [`Llama::load`] as a [`WeightSource`] that gives each one
/// away once.
struct BuiltWeights {
    config: LlamaConfig,
    label: String,
    built: RefCell<HashMap<String, Built>>,
    embedding: RefCell<Option<EmbeddingTable>>,
}

impl BuiltWeights {
    fn take(&self, weight: Weight) -> Result<Built> {
        let name = weight.gguf_name();
        self.built.borrow_mut().remove(&name).ok_or_else(|| weight_error(&self.label, &name, "missing".into()))
    }
}

impl WeightSource for BuiltWeights {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn has(&self, weight: Weight) -> bool {
        self.built.borrow().contains_key(&weight.gguf_name())
    }

    fn linear(&self, weight: Weight, _device: &Device, _compute: Compute) -> Result<Linear> {
        match self.take(weight)? {
            Built::Linear(linear) => Ok(linear),
            Built::Vector(_) => Err(weight_error(&self.label, &weight.gguf_name(), "is a vector, not a matrix".into())),
        }
    }

    fn vector(&self, weight: Weight, _device: &Device) -> Result<Tensor<1>> {
        match self.take(weight)? {
            Built::Vector(vector) => Ok(vector),
            Built::Linear(_) => Err(weight_error(&self.label, &weight.gguf_name(), "is a matrix, not a vector".into())),
        }
    }

    fn embedding_table(&self) -> Result<EmbeddingTable> {
        self.embedding
            .borrow_mut()
            .take()
            .ok_or_else(|| weight_error(&self.label, &Weight::TokenEmbedding.gguf_name(), "missing".into()))
    }
}

fn weight_error(file: &str, tensor: &str, problem: String) -> ModelError {
    ModelError::Weight { file: file.into(), tensor: tensor.into(), problem }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::Logits;

    fn smollm2() -> GgufModel {
        GgufModel::open(selene_fixtures::smollm2()).unwrap()
    }

    fn logits(llama: &Llama, device: &Device, tokens: &[u32]) -> Vec<f32> {
        let mut cache = llama.new_cache(device);
        llama.forward(tokens, &mut cache, Logits::All).unwrap().into_data().try_to_vec().unwrap()
    }

    /// Every tensor, fed last to first, builds the model that the file loaded whole builds.
    #[test]
    fn streamed_model_equals_the_model_loaded_whole() {
        let device = Device::flex();
        let model = smollm2();
        let mut loader = StreamingLoader::new(model.layout(), &device, Compute::Tensors).unwrap();
        let wanted = loader.tensors().to_vec();
        assert!(wanted.windows(2).all(|w| (w[0].shard, w[0].file_offset) < (w[1].shard, w[1].file_offset)));
        assert_eq!(wanted.len(), 2 + 9 * loader.config().num_layers, "SmolLM2 ties its output head");
        for t in wanted.iter().rev() {
            loader.add(&t.info.name, &model.tensor_bytes(t).unwrap()).unwrap();
        }
        let streamed = loader.finish(64).unwrap();

        let whole = Llama::from_gguf(&model, 64, &device, Compute::Tensors).unwrap();
        let tokens = [1, 9690, 198, 2683, 359, 253, 5356, 11173, 30];
        assert_eq!(logits(&streamed, &device, &tokens), logits(&whole, &device, &tokens));
    }

    #[test]
    fn wrong_missing_and_unknown_tensors_are_named() {
        let device = Device::flex();
        let model = smollm2();
        let mut loader = StreamingLoader::new(model.layout(), &device, Compute::Tensors).unwrap();
        let norm = model.tensor("output_norm.weight").unwrap();
        let bytes = model.tensor_bytes(norm).unwrap();
        let short = loader.add("output_norm.weight", &bytes[1..]).unwrap_err().to_string();
        assert!(short.contains("output_norm.weight") && short.contains("bytes"), "{short}");
        let unknown = loader.add("blk.99.attn_q.weight", &bytes).unwrap_err().to_string();
        assert!(unknown.contains("blk.99.attn_q.weight"), "{unknown}");

        let mut loader = StreamingLoader::new(model.layout(), &device, Compute::Tensors).unwrap();
        loader.add("output_norm.weight", &bytes).unwrap();
        let again = loader.add("output_norm.weight", &bytes).unwrap_err().to_string();
        assert!(again.contains("came twice"), "{again}");
        let first = loader.tensors()[0].info.name.clone();
        let missing = loader.finish(64).unwrap_err().to_string();
        assert!(missing.contains(&first) && missing.contains("never added"), "{missing}");
    }

    #[test]
    fn buffer_sizes_follow_what_each_tensor_becomes() {
        let model = smollm2();
        let embedding = model.tensor("token_embd.weight").unwrap();
        let norm = model.tensor("blk.0.ffn_norm.weight").unwrap();

        let expanded = StreamingLoader::new(model.layout(), &Device::flex(), Compute::Tensors).unwrap();
        let c = expanded.config().clone();
        // Expanded to f32; the tied embedding is the output head, so it is on the device.
        assert_eq!(expanded.buffer_bytes(embedding), (c.vocab_size * c.hidden_size * 4) as u64);
        assert_eq!(expanded.buffer_bytes(norm), (c.hidden_size * 4) as u64);

        // In blocks on a kernel device, split by rows: one row of ggml bytes is the largest buffer.
        let lavapipe = selene_kernels::software_device();
        let blocks = StreamingLoader::new(model.layout(), &lavapipe, Compute::of(&lavapipe)).unwrap();
        let ty = embedding.info.ggml_type;
        assert_eq!(blocks.buffer_bytes(embedding), (c.hidden_size / ty.block_size() * ty.block_bytes()) as u64);
        assert_eq!(blocks.buffer_bytes(norm), (c.hidden_size * 4) as u64);
    }
}
