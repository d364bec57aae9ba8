//! The Llama transformer: embedding, decoder blocks, final norm, output head.

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData, module::embedding};
use selene_kernels::{CacheType, Compute};

use crate::attention::{Attention, LayerCache};
use crate::config::LlamaConfig;
use crate::error::{ModelError, Result};
use crate::layers::{Linear, Mlp, RmsNorm};
use crate::rope::Rope;
use crate::weights::{EmbeddingTable, LayerWeight, Weight, WeightSource};

#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

impl DecoderLayer {
    fn forward(&self, x: Tensor<3>, rope: &Rope, start: usize, cache: Option<&mut LayerCache>) -> Tensor<3> {
        let h = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), rope, start, cache);
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))
    }
}

/// How the token embedding is held: a device parameter (training, and small float models), or
/// rows looked up on the host from the file's blocks (quantized inference).
#[derive(Module, Debug)]
pub struct Llama {
    pub embed_tokens: Option<Param<Tensor<2>>>,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    /// Absent when the head is tied to the embedding and the embedding is on the host.
    pub lm_head: Option<Linear>,
    #[module(skip)]
    host_embedding: Option<EmbeddingTable>,
    #[module(skip)]
    rope: Rope,
    #[module(skip)]
    config: LlamaConfig,
    #[module(skip)]
    compute: Compute,
}

/// Which positions to compute logits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// Only the last position (generation).
    Last,
    /// Every position (scoring, teacher forcing, training).
    All,
}

/// Keys and values of every layer for one sequence.
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<LayerCache>,
}

impl KvCache {
    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::capacity)
    }

    /// Whether attention through this cache stores no scores ([`LayerCache::attends_in_place`]).
    pub fn attends_in_place(&self) -> bool {
        self.layers.iter().all(LayerCache::attends_in_place)
    }

    /// Keeps only the first `len` positions.
    pub fn truncate(&mut self, len: usize) {
        self.layers.iter_mut().for_each(|l| l.truncate(len));
    }
}

impl Llama {
    /// Loads a model for inference with room for `max_positions` tokens of context, computing
    /// on `device` as `compute` says ([`Compute::of`] the device, or [`Compute::Tensors`] for
    /// the f32 reference).
    pub fn load(source: &dyn WeightSource, max_positions: usize, device: &Device, compute: Compute) -> Result<Self> {
        let config = source.config().clone();
        let positions = max_positions.min(config.context_length).max(1);
        let layers = (0..config.num_layers)
            .map(|i| load_layer(source, &config, i, device, compute))
            .collect::<Result<Vec<_>>>()?;
        let host_embedding = source.embedding_table()?;
        let lm_head = match source.has(Weight::Output) {
            true => source.linear(Weight::Output, device, compute)?,
            false => source.linear(Weight::TokenEmbedding, device, compute)?,
        };
        Ok(Llama {
            embed_tokens: None,
            layers,
            norm: RmsNorm::new(source.vector(Weight::OutputNorm, device)?, config.rms_norm_eps, compute),
            lm_head: Some(lm_head),
            host_embedding: Some(host_embedding),
            rope: Rope::new(&config.rope, config.head_dim, positions, device, compute),
            config,
            compute,
        })
    }

    /// Loads a model for training: like [`Llama::load`], but with the token embedding on the
    /// device as a parameter (trainable, and the output head when embeddings are tied) instead of
    /// a host lookup table. Sequences can be up to `max_positions` tokens long.
    pub fn load_trainable(source: &dyn WeightSource, max_positions: usize, device: &Device) -> Result<Self> {
        let config = source.config().clone();
        let positions = max_positions.min(config.context_length).max(1);
        let compute = Compute::Tensors;
        let layers = (0..config.num_layers)
            .map(|i| load_layer(source, &config, i, device, compute))
            .collect::<Result<Vec<_>>>()?;
        let embed_tokens = source.linear(Weight::TokenEmbedding, device, compute)?.into_param().ok_or_else(|| {
            ModelError::Unsupported("a trainable model needs its embedding as a tensor, not ggml blocks".into())
        })?;
        let lm_head = match source.has(Weight::Output) {
            true => Some(source.linear(Weight::Output, device, compute)?),
            false => None,
        };
        Ok(Llama {
            embed_tokens: Some(embed_tokens),
            layers,
            norm: RmsNorm::new(source.vector(Weight::OutputNorm, device)?, config.rms_norm_eps, compute),
            lm_head,
            host_embedding: None,
            rope: Rope::new(&config.rope, config.head_dim, positions, device, compute),
            config,
            compute,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// How this model computes on its device.
    pub fn compute(&self) -> Compute {
        self.compute
    }

    /// The `k` most likely tokens after `logits` `[1, vocab]` (as [`forward`](Self::forward)
    /// returns them), best first, with their log-probabilities; ties go to the lower id, and
    /// tokens whose logit is not finite are left out.
    pub async fn best_tokens(&self, logits: Tensor<2>, k: usize) -> Result<Vec<(u32, f32)>> {
        crate::select::best_tokens(logits, k, self.compute).await
    }

    /// The longest sequence this instance can process.
    pub fn max_positions(&self) -> usize {
        self.rope.positions()
    }

    /// Bytes the weights take on the device: f32 parameters and ggml blocks (the host embedding
    /// table is not on the device).
    pub fn device_bytes(&self) -> usize {
        let linears = self.layers.iter().flat_map(|l| {
            let (a, m) = (&l.self_attn, &l.mlp);
            [&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj, &m.gate_proj, &m.up_proj, &m.down_proj]
        });
        linears.chain(&self.lm_head).map(Linear::block_bytes).sum::<usize>()
            + self.num_params() * std::mem::size_of::<f32>()
    }

    /// Bytes a [`KvCache`] of this model takes: keys and values for
    /// [`max_positions`](Self::max_positions) in every layer, in f32 (f16 for the CPU engine's
    /// default).
    pub fn cache_bytes(&self) -> usize {
        let c = &self.config;
        let element = match self.compute {
            Compute::Host { cache: CacheType::F16 } => 2,
            _ => std::mem::size_of::<f32>(),
        };
        2 * c.num_layers * c.num_kv_heads * c.head_dim * self.max_positions() * element
    }

    pub fn new_cache(&self, device: &Device) -> KvCache {
        let c = &self.config;
        let capacity = self.max_positions();
        KvCache {
            layers: (0..c.num_layers)
                .map(|_| LayerCache::new(1, c.num_kv_heads, capacity, c.head_dim, device, self.compute))
                .collect(),
        }
    }

    /// Runs `tokens` (one sequence) at the positions after those already in `cache`, adds them to
    /// it, and returns logits `[positions, vocab]`.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache, which: Logits) -> Result<Tensor<2>> {
        let start = cache.len();
        if tokens.is_empty() {
            return Err(ModelError::Config("no tokens to run".into()));
        }
        if start + tokens.len() > cache.capacity() {
            return Err(ModelError::Config(format!(
                "{} tokens do not fit in the context: {start} are cached and the limit is {}",
                tokens.len(),
                cache.capacity()
            )));
        }
        let device = self.norm.weight.val().device();
        let mut x = self.embed(tokens, &device)?;
        for (layer, cache) in self.layers.iter().zip(&mut cache.layers) {
            x = layer.forward(x, &self.rope, start, Some(cache));
        }
        let x = match which {
            Logits::Last => x.narrow(1, tokens.len() - 1, 1),
            Logits::All => x,
        };
        let logits = self.head(self.norm.forward(x));
        let [_, seq, vocab] = logits.dims();
        Ok(logits.reshape([seq, vocab]))
    }

    /// Logits `[batch, seq, vocab]` for whole sequences without a cache (training and scoring).
    pub fn forward_batch(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.head(self.hidden_batch(tokens))
    }

    /// The final normalized hidden states `[batch, seq, hidden]` of whole sequences without a
    /// cache, for callers that need logits at a few positions only: a training loss over the
    /// completion tokens projects just those rows with [`Llama::head`], which for a 128k
    /// vocabulary is most of the memory a step would otherwise take.
    pub fn hidden_batch(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let embed = self.embed_tokens.as_ref().expect("hidden_batch needs the embedding on the device");
        let mut x = embedding(embed.val(), tokens);
        for layer in &self.layers {
            x = layer.forward(x, &self.rope, 0, None);
        }
        self.norm.forward(x)
    }

    /// The output head: normalized hidden states `[.., hidden]` to logits `[.., vocab]`.
    pub fn head<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match (&self.lm_head, &self.embed_tokens) {
            (Some(head), _) => head.forward(x),
            (None, Some(embed)) => Linear::from_param(embed.clone()).forward(x),
            (None, None) => unreachable!("a model always has an output head or a device embedding"),
        }
    }

    fn embed(&self, tokens: &[u32], device: &Device) -> Result<Tensor<3>> {
        let hidden = self.config.hidden_size;
        match (&self.host_embedding, &self.embed_tokens) {
            (Some(table), _) => {
                let rows = table.lookup(tokens)?;
                Ok(Tensor::<2>::from_data(TensorData::new(rows, [tokens.len(), hidden]), device).unsqueeze())
            }
            (None, Some(embed)) => {
                let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
                let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, tokens.len()]), device);
                Ok(embedding(embed.val(), ids))
            }
            (None, None) => unreachable!("a model always has an embedding"),
        }
    }
}

fn load_layer(
    source: &dyn WeightSource,
    config: &LlamaConfig,
    i: usize,
    device: &Device,
    compute: Compute,
) -> Result<DecoderLayer> {
    let matrix = |w| source.linear(Weight::Layer(i, w), device, compute);
    let norm = |w| source.vector(Weight::Layer(i, w), device).map(|v| RmsNorm::new(v, config.rms_norm_eps, compute));
    Ok(DecoderLayer {
        input_layernorm: norm(LayerWeight::AttnNorm)?,
        self_attn: Attention {
            q_proj: matrix(LayerWeight::Query)?,
            k_proj: matrix(LayerWeight::Key)?,
            v_proj: matrix(LayerWeight::Value)?,
            o_proj: matrix(LayerWeight::AttnOutput)?,
            num_heads: config.num_heads,
            num_kv_heads: config.num_kv_heads,
            head_dim: config.head_dim,
        },
        post_attention_layernorm: norm(LayerWeight::FfnNorm)?,
        mlp: Mlp {
            gate_proj: matrix(LayerWeight::Gate)?,
            up_proj: matrix(LayerWeight::Up)?,
            down_proj: matrix(LayerWeight::Down)?,
            compute,
        },
    })
}
