//! The CPU engine (`selene-cpu`) under the model's operations on Burn's Flex backend.
//!
//! A model on the CPU keeps its activations in Flex tensors, which are host memory, so these
//! operations hand the tensors' storage to the engine's SIMD kernels and wrap the results as Flex
//! tensors again, without copying either way. The weights are the engine's own
//! ([`selene_cpu::QuantMatrix`], GGUF blocks), and so is the KV cache ([`HostCache`], f16 by
//! default as in llama.cpp), which Burn never sees.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Shape, Tensor};
use half::f16;
use selene_cpu::{KvCache, QuantMatrix};
pub use selene_cpu::{RopeTables, simd_level};

/// How the CPU engine stores the KV cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheType {
    /// Half the memory of f32, llama.cpp's default.
    #[default]
    F16,
    F32,
}

/// One layer's keys and values on the host, `[kv_heads, capacity, head_dim]` each.
pub enum HostCache {
    F16(KvCache<f16>),
    F32(KvCache<f32>),
}

impl HostCache {
    pub fn new(ty: CacheType, kv_heads: usize, capacity: usize, head_dim: usize) -> Self {
        match ty {
            CacheType::F16 => HostCache::F16(KvCache::new(kv_heads, capacity, head_dim)),
            CacheType::F32 => HostCache::F32(KvCache::new(kv_heads, capacity, head_dim)),
        }
    }

    pub fn capacity(&self) -> usize {
        match self {
            HostCache::F16(c) => c.capacity(),
            HostCache::F32(c) => c.capacity(),
        }
    }

    /// Bytes the cache holds.
    pub fn bytes(&self) -> usize {
        let (element, c) = match self {
            HostCache::F16(c) => (2, (c.kv_heads(), c.capacity(), c.head_dim())),
            HostCache::F32(c) => (4, (c.kv_heads(), c.capacity(), c.head_dim())),
        };
        2 * element * c.0 * c.1 * c.2
    }
}

impl std::fmt::Debug for HostCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ty = match self {
            HostCache::F16(_) => CacheType::F16,
            HostCache::F32(_) => CacheType::F32,
        };
        f.debug_struct("HostCache").field("type", &ty).field("capacity", &self.capacity()).finish()
    }
}

/// The Flex primitive of `t`, contiguous.
fn flex<const D: usize>(t: Tensor<D>) -> FlexTensor {
    let t = t.try_into_primitive::<Flex>().unwrap_or_else(|e| panic!("the CPU engine got a tensor off Flex: {e:?}"));
    if t.is_contiguous() { t } else { t.to_contiguous() }
}

/// The f32 values of a contiguous Flex tensor.
fn values(t: &FlexTensor) -> &[f32] {
    let (start, len) = (t.layout().start_offset(), t.layout().num_elements());
    &t.storage::<f32>()[start..start + len]
}

/// A new f32 Flex tensor of `shape`, filled by `fill`.
fn output<const D: usize>(shape: [usize; D], fill: impl FnOnce(&mut [f32])) -> Tensor<D> {
    let mut out = FlexTensor::empty(Shape::new(shape), DType::F32);
    fill(out.storage_mut::<f32>());
    Tensor::from_primitive::<Flex>(out)
}

/// `x [tokens, cols] · Wᵀ`: `[tokens, rows]`.
pub(crate) fn matmul(matrix: &QuantMatrix, x: Tensor<2>) -> Tensor<2> {
    let [tokens, _] = x.dims();
    let x = flex(x);
    output([tokens, matrix.rows()], |out| matrix.matmul(values(&x), tokens, out))
}

/// RMSNorm over the last dimension of `x`, with gain `weight`.
pub fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f32) -> Tensor<D> {
    let shape = x.dims();
    let (x, weight) = (flex(x), flex(weight));
    output(shape, |out| selene_cpu::rms_norm(values(&x), values(&weight), eps, out))
}

/// Rotary embeddings on `x [tokens, heads, head_dim]` at positions `start..`.
pub fn rope(x: Tensor<3>, tables: &RopeTables, start: usize) -> Tensor<3> {
    let shape = x.dims();
    let x = flex(x);
    output(shape, |out| {
        out.copy_from_slice(values(&x));
        selene_cpu::rope(out, shape[1], start, tables);
    })
}

/// Causal attention of `q [tokens, heads, head_dim]`, whose keys and values `k`, `v`
/// `[tokens, kv_heads, head_dim]` are stored in `cache` at positions `start..` first:
/// `[tokens, heads, head_dim]`.
pub fn attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    cache: &mut HostCache,
    start: usize,
    scale: f32,
) -> Tensor<3> {
    let [tokens, heads, dim] = q.dims();
    let (k, v) = (flex(k), flex(v));
    match cache {
        HostCache::F16(c) => c.write(start, values(&k), values(&v)),
        HostCache::F32(c) => c.write(start, values(&k), values(&v)),
    }
    // The engine takes queries head-major.
    let q = flex(q.swap_dims(0, 1));
    let len = start + tokens;
    let by_head = output([heads, tokens, dim], |out| match cache {
        HostCache::F16(c) => selene_cpu::attention(values(&q), heads, c, len, scale, out),
        HostCache::F32(c) => selene_cpu::attention(values(&q), heads, c, len, scale, out),
    });
    by_head.swap_dims(0, 1)
}

/// `silu(gate) * up`.
pub fn silu_mul<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    let shape = gate.dims();
    let (gate, up) = (flex(gate), flex(up));
    output(shape, |out| selene_cpu::silu_mul(values(&gate), values(&up), out))
}
