//! The small operations of a decoder layer, each one kernel.
//!
//! Decoding one token of a small model is bound by the number of kernel launches rather than by
//! arithmetic: RMSNorm as tensor operations is five launches, rotary embeddings eight, attention
//! over the cache four plus a mask. Each of these is one launch here. Attention is one launch for
//! a prompt's tokens too, and there it also saves memory: its scores, `heads x tokens x keys`
//! floats (144 MiB for SmolLM2 at 2,048 tokens, more than the model), are never stored.

use cubecl::prelude::*;

use crate::reduce::{Combine, row_reduce};

/// Units per row of the normalization kernel, and per head of the attention kernel.
pub const NORM_UNITS: usize = 128;
pub const ATTENTION_UNITS: usize = 64;
/// Keys scored at a time by the attention kernel (its shared memory).
const KEY_CHUNK: usize = 1024;
/// Below every score, but finite: shader compilers may assume no infinities.
pub(crate) const LOWEST: f32 = -1.0e30;

/// `out = x / sqrt(mean(x²) + eps) * weight` over rows of `dim` values, one workgroup a row.
#[cube(launch_unchecked)]
pub fn rms_norm(x: &[f32], weight: &[f32], out: &mut [f32], dim: usize, eps: f32, #[comptime] subgroups: bool) {
    let unit = UNIT_POS_X as usize;
    let base = CUBE_POS_X as usize * dim;
    let mut partial = Shared::<[f32]>::new_slice(NORM_UNITS);
    let mut squares = 0.0f32;
    let mut i = unit;
    while i < dim {
        let v = x[base + i];
        squares += v * v;
        i += NORM_UNITS;
    }
    let total = row_reduce(squares, &mut partial, 0, unit, NORM_UNITS, Combine::Sum, subgroups);
    let inverse = 1.0f32 / f32::sqrt(total / f32::cast_from(dim) + eps);
    i = unit;
    while i < dim {
        out[base + i] = x[base + i] * inverse * weight[i];
        i += NORM_UNITS;
    }
}

/// Rotary embeddings in the rotate-half form on `x [rows, heads, 2 * half]` (rows are
/// `batch x seq` positions, row `r` at position `start + r % seq`), with tables
/// `cos, sin [positions, half]`. One unit per rotated pair.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn rope(
    x: &[f32],
    cos: &[f32],
    sin: &[f32],
    out: &mut [f32],
    pairs: usize,
    seq: usize,
    heads: usize,
    start: usize,
    #[comptime] half: usize,
) {
    let idx = ABSOLUTE_POS;
    if idx >= pairs {
        terminate!();
    }
    let i = idx % half;
    let head_row = idx / half;
    let position = start + (head_row / heads) % seq;
    let base = head_row * 2 * half;
    let (x1, x2) = (x[base + i], x[base + i + half]);
    let (c, s) = (cos[position * half + i], sin[position * half + i]);
    out[base + i] = x1 * c - x2 * s;
    out[base + i + half] = x2 * c + x1 * s;
}

/// Causal attention of the last `seq` of `len` cached positions: `q [heads, seq, dim]`, caches
/// `[kv_heads, capacity, dim]`, one workgroup per query head and token; token `t` sees the first
/// `len - seq + 1 + t` keys. Scores are taken a chunk of keys at a time with a running maximum
/// and sum (the online softmax), so any context fits the kernel's few kilobytes of shared memory.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn cached_attention(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    out: &mut [f32],
    seq: usize,
    len: usize,
    capacity: usize,
    group: usize,
    scale: f32,
    #[comptime] dim: usize,
    #[comptime] subgroups: bool,
) {
    let unit = UNIT_POS_X as usize;
    let head = CUBE_POS_X as usize / seq;
    let visible = len + 1 + CUBE_POS_X as usize % seq - seq;
    let cache = (head / group) * capacity * dim;
    let query = CUBE_POS_X as usize * dim;
    let mut scores = Shared::<[f32]>::new_slice(KEY_CHUNK);
    let mut partial = Shared::<[f32]>::new_slice(ATTENTION_UNITS);
    // Output dimensions unit, unit + ATTENTION_UNITS, ... belong to this unit.
    let owned = comptime!(dim.div_ceil(ATTENTION_UNITS));
    let mut acc = Array::<f32>::new(owned);
    #[unroll]
    for t in 0..owned {
        acc[t] = 0.0;
    }
    let mut max = f32::new(LOWEST);
    let mut sum = 0.0f32;

    let mut c0 = 0usize;
    while c0 < visible {
        let n = select(visible - c0 < KEY_CHUNK, visible - c0, KEY_CHUNK);
        let mut local = f32::new(LOWEST);
        let mut j = unit;
        while j < n {
            let key = cache + (c0 + j) * dim;
            let mut dot = 0.0f32;
            #[unroll]
            for i in 0..dim {
                dot += q[query + i] * keys[key + i];
            }
            let score = dot * scale;
            scores[j] = score;
            local = f32::max(local, score);
            j += ATTENTION_UNITS;
        }
        let new_max = f32::max(max, row_reduce(local, &mut partial, 0, unit, ATTENTION_UNITS, Combine::Max, subgroups));
        sync_cube();

        let mut local_sum = 0.0f32;
        j = unit;
        while j < n {
            let p = f32::exp(scores[j] - new_max);
            scores[j] = p;
            local_sum += p;
            j += ATTENTION_UNITS;
        }
        let chunk_sum = row_reduce(local_sum, &mut partial, 0, unit, ATTENTION_UNITS, Combine::Sum, subgroups);
        let correction = f32::exp(max - new_max);
        sum = sum * correction + chunk_sum;
        max = new_max;

        #[unroll]
        for t in 0..owned {
            let i = unit + t * ATTENTION_UNITS;
            if i < dim {
                let mut weighted = 0.0f32;
                for k in 0..n {
                    weighted += scores[k] * values[cache + (c0 + k) * dim + i];
                }
                acc[t] = acc[t] * correction + weighted;
            }
        }
        sync_cube();
        c0 += KEY_CHUNK;
    }

    #[unroll]
    for t in 0..owned {
        let i = unit + t * ATTENTION_UNITS;
        if i < dim {
            out[query + i] = acc[t] / sum;
        }
    }
}
