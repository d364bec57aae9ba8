//! Grouped-query self-attention with a preallocated key/value cache.
//!
//! Queries are grouped by the key/value head they share, `[batch, kv_heads, group * seq, dim]`,
//! so keys and values are used as stored instead of being repeated per query head. On a device
//! with the kernels of `selene-kernels`, one sequence with a cache attends in one fused kernel
//! that reads the cache in place and stores no scores, whether it is decoding one token or
//! reading a prompt.

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Tensor, TensorData};

use selene_kernels::Compute;
use selene_kernels::host::HostCache;

use crate::layers::Linear;
use crate::rope::Rope;

#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    #[module(skip)]
    pub num_heads: usize,
    #[module(skip)]
    pub num_kv_heads: usize,
    #[module(skip)]
    pub head_dim: usize,
}

/// One layer's keys and values for positions `0..len`, sized for the whole context: tensors on
/// the device, or the CPU engine's own cache in host memory.
#[derive(Debug)]
pub struct LayerCache {
    store: Store,
    len: usize,
}

#[derive(Debug)]
enum Store {
    Tensors { keys: Tensor<4>, values: Tensor<4>, compute: Compute },
    Host(HostCache),
}

impl LayerCache {
    pub fn new(
        batch: usize,
        kv_heads: usize,
        capacity: usize,
        head_dim: usize,
        device: &Device,
        compute: Compute,
    ) -> Self {
        if let Compute::Host { cache } = compute {
            assert_eq!(batch, 1, "the CPU engine caches one sequence at a time");
            return LayerCache { store: Store::Host(HostCache::new(cache, kv_heads, capacity, head_dim)), len: 0 };
        }
        // In Burn's persistent pool, as the weights are (`crate::weights::upload`): written in
        // place for the cache's life, not pages shared with short-lived tensors.
        let zeros = |shape| device.memory_persistent_allocations(shape, |shape| Tensor::zeros(shape, device));
        let (keys, values) =
            (zeros([batch, kv_heads, capacity, head_dim]), zeros([batch, kv_heads, capacity, head_dim]));
        LayerCache { store: Store::Tensors { keys, values, compute }, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        match &self.store {
            Store::Tensors { keys, .. } => keys.dims()[2],
            Store::Host(cache) => cache.capacity(),
        }
    }

    /// Whether attention through this cache reads it in place, storing no scores.
    pub fn attends_in_place(&self) -> bool {
        match &self.store {
            Store::Tensors { keys, compute, .. } => compute.schedule().is_some() && keys.dims()[0] == 1,
            Store::Host(_) => true,
        }
    }

    /// Forgets positions from `len` on (for reusing a shared prompt prefix).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

impl Attention {
    /// `x` is `[batch, seq, hidden]` for positions `start..start + seq`. With a cache, keys and
    /// values of earlier positions come from it and this call's are added to it.
    pub fn forward(&self, x: Tensor<3>, rope: &Rope, start: usize, cache: Option<&mut LayerCache>) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        // Rotated as `[batch, seq, heads, dim]`, the layout the projections produce.
        let heads = |t: Tensor<3>, n: usize| t.reshape([batch, seq, n, self.head_dim]);
        let q = rope.apply(heads(self.q_proj.forward(x.clone()), self.num_heads), start);
        let k = rope.apply(heads(self.k_proj.forward(x.clone()), self.num_kv_heads), start);
        let v = heads(self.v_proj.forward(x), self.num_kv_heads);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let tokens = |t: Tensor<4>| {
            let [_, seq, heads, dim] = t.dims();
            t.reshape([seq, heads, dim])
        };
        let out = match cache {
            Some(LayerCache { store: Store::Host(host), len }) => {
                let out = selene_kernels::host::attention(tokens(q), tokens(k), tokens(v), host, *len, scale as f32);
                *len += seq;
                out.reshape([batch, seq, self.num_heads * self.head_dim])
            }
            Some(LayerCache { store: Store::Tensors { keys, values, compute }, len }) => {
                let (q, k, v) = (q.swap_dims(1, 2), k.swap_dims(1, 2), v.swap_dims(1, 2));
                let range = [0..batch, 0..self.num_kv_heads, *len..*len + seq, 0..self.head_dim];
                keys.inplace(|cache| cache.slice_assign(range.clone(), k));
                values.inplace(|cache| cache.slice_assign(range, v));
                *len += seq;
                let out = match compute.schedule() {
                    Some(schedule) if batch == 1 => selene_kernels::cached_attention_fused(
                        q,
                        keys.clone(),
                        values.clone(),
                        *len,
                        scale as f32,
                        schedule,
                    ),
                    _ => {
                        let used = [0..batch, 0..self.num_kv_heads, 0..*len, 0..self.head_dim];
                        self.attend(q, keys.clone().slice(used.clone()), values.clone().slice(used), start, scale)
                    }
                };
                out.swap_dims(1, 2).reshape([batch, seq, self.num_heads * self.head_dim])
            }
            None => {
                let (q, k, v) = (q.swap_dims(1, 2), k.swap_dims(1, 2), v.swap_dims(1, 2));
                self.attend(q, k, v, start, scale).swap_dims(1, 2).reshape([batch, seq, self.num_heads * self.head_dim])
            }
        };
        self.o_proj.forward(out)
    }

    /// Causal attention of `q [batch, heads, seq, dim]` at positions `start..` over all of
    /// `k`, `v` `[batch, kv_heads, keys, dim]`: `[batch, heads, seq, dim]`.
    fn attend(&self, q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, start: usize, scale: f64) -> Tensor<4> {
        let [batch, _, seq, _] = q.dims();
        let keys = k.dims()[2];
        let group = self.num_heads / self.num_kv_heads;
        let q = q.reshape([batch, self.num_kv_heads, group * seq, self.head_dim]);
        let mut scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
        if seq > 1 {
            let mask = causal_mask(group, seq, start, keys, &scores.device());
            scores = scores.mask_fill(mask.unsqueeze::<4>(), f32::NEG_INFINITY);
        }
        softmax(scores, 3).matmul(v).reshape([batch, self.num_heads, seq, self.head_dim])
    }
}

/// `true` where a query (rows: `group` copies of positions `start..start + seq`) must not see a
/// key (columns: positions `0..keys`).
fn causal_mask(group: usize, seq: usize, start: usize, keys: usize, device: &Device) -> Tensor<2, Bool> {
    let mut mask = Vec::with_capacity(group * seq * keys);
    for _ in 0..group {
        for i in 0..seq {
            mask.extend((0..keys).map(|k| k > start + i));
        }
    }
    Tensor::from_data(TensorData::new(mask, [group * seq, keys]), device)
}
