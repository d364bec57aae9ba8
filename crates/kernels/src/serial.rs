//! The decoder's kernels for adapters with no card behind them (lavapipe, SwiftShader in a
//! browser without a GPU): one unit computes a whole output, with no workgroup memory and no
//! barriers.
//!
//! A software adapter runs the units of a workgroup as the SIMD lanes of one CPU thread, and a
//! barrier makes it stop every group of lanes and switch to the next. The workgroup kernels share
//! a row between 32 units and reduce it in a few barrier steps, which suits a GPU and costs a
//! software adapter more than the arithmetic: one 1536x576 Q4_1 matrix-vector product took
//! 45.7 ms on SwiftShader that way and 5.2 ms with a unit per row (lavapipe: 9.6 and 6.7 ms;
//! a hundred products queued, then read back once). Attention gets the same treatment: for one
//! token as three small kernels (scores, softmax, weighted values) instead of one with
//! shared-memory reductions, for a prompt's tokens as one kernel with a unit per query, and so do
//! products with a few tokens, where each unit multiplies a decoded weight with eight of them.

use cubecl::prelude::*;

use crate::decode::{RUN, run_affine, run_quant};
use crate::format::BlockFormat;
use crate::fused::LOWEST;
use crate::matmul::locate;

/// Units per workgroup of every kernel here; a workgroup is only a batch of independent units.
pub const SERIAL_UNITS: usize = 64;

/// Keys one unit of [`prompt_attention_serial`] scores before it rescales what it has summed.
const KEYS_AT_ONCE: usize = 16;
/// Tokens one unit of [`block_matmul_serial`] multiplies with each weight it decodes, when
/// there is more than one.
pub const SERIAL_TOKENS: usize = 8;

/// `out[t, row] = Σ_k x[t, k] · W[row, k]`, one unit per row and group of `group` tokens (1
/// for decoding, else [`SERIAL_TOKENS`]), so that each weight is decoded once per group.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn block_matmul_serial(
    w: &[u32],
    x: &[f32],
    out: &mut [f32],
    tokens: usize,
    rows: usize,
    runs_per_row: usize,
    plane: usize,
    #[comptime] format: BlockFormat,
    #[comptime] group: usize,
) {
    let row = ABSOLUTE_POS_X as usize;
    if row >= rows {
        terminate!();
    }
    let t0 = CUBE_POS_Y as usize * group;
    let cols = runs_per_row * RUN;
    let mut acc = Array::<f32>::new(group);
    #[unroll]
    for t in 0..group {
        acc[t] = 0.0;
    }
    // Tokens past the last one repeat it, so that the loop needs no bounds test.
    let last = tokens - 1;
    for r in 0..runs_per_row {
        let (block, base, run) = locate(row, r, runs_per_row, format);
        let map = run_affine(w, base, plane, block, run, format);
        let xb = r * RUN;
        #[unroll]
        for i in 0..RUN {
            let weight = map.scale * run_quant(w, base, run, i, format) + map.offset;
            #[unroll]
            for t in 0..group {
                let token = select(t0 + t < last, t0 + t, last);
                acc[t] += weight * x[token * cols + xb + i];
            }
        }
    }
    #[unroll]
    for t in 0..group {
        if t0 + t < tokens {
            out[(t0 + t) * rows + row] = acc[t];
        }
    }
}

/// `out = x / sqrt(mean(x²) + eps) * weight` over `rows` rows of `dim` values, one unit a row.
#[cube(launch_unchecked)]
pub fn rms_norm_serial(x: &[f32], weight: &[f32], out: &mut [f32], rows: usize, dim: usize, eps: f32) {
    let row = ABSOLUTE_POS;
    if row >= rows {
        terminate!();
    }
    let base = row * dim;
    let mut squares = 0.0f32;
    for i in 0..dim {
        let v = x[base + i];
        squares += v * v;
    }
    let inverse = 1.0f32 / f32::sqrt(squares / f32::cast_from(dim) + eps);
    for i in 0..dim {
        out[base + i] = x[base + i] * inverse * weight[i];
    }
}

/// `scores[h * len + j] = scale · q[h] · key j` for the `heads` query heads over the first `len`
/// cached positions (caches `[kv_heads, capacity, dim]`, `group` query heads per cached head).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn attention_scores(
    q: &[f32],
    keys: &[f32],
    scores: &mut [f32],
    heads: usize,
    len: usize,
    capacity: usize,
    group: usize,
    scale: f32,
    #[comptime] dim: usize,
) {
    let idx = ABSOLUTE_POS;
    if idx >= heads * len {
        terminate!();
    }
    let head = idx / len;
    let key = ((head / group) * capacity + idx % len) * dim;
    let mut dot = 0.0f32;
    #[unroll]
    for i in 0..dim {
        dot += q[head * dim + i] * keys[key + i];
    }
    scores[idx] = dot * scale;
}

/// Each head's `len` scores become their softmax, in place, one unit a head.
#[cube(launch_unchecked)]
pub fn attention_softmax(scores: &mut [f32], heads: usize, len: usize) {
    let head = ABSOLUTE_POS;
    if head >= heads {
        terminate!();
    }
    let base = head * len;
    let mut max = scores[base];
    for j in 1..len {
        max = f32::max(max, scores[base + j]);
    }
    let mut sum = 0.0f32;
    for j in 0..len {
        let p = f32::exp(scores[base + j] - max);
        scores[base + j] = p;
        sum += p;
    }
    let inverse = 1.0f32 / sum;
    for j in 0..len {
        scores[base + j] *= inverse;
    }
}

/// `out[h * dim + i] = Σ_j p[h, j] · value j [i]`, one unit per head and dimension.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn attention_values(
    p: &[f32],
    values: &[f32],
    out: &mut [f32],
    heads: usize,
    len: usize,
    capacity: usize,
    group: usize,
    #[comptime] dim: usize,
) {
    let idx = ABSOLUTE_POS;
    if idx >= heads * dim {
        terminate!();
    }
    let head = idx / dim;
    let cache = (head / group) * capacity * dim + idx % dim;
    let mut acc = 0.0f32;
    for j in 0..len {
        acc += p[head * len + j] * values[cache + j * dim];
    }
    out[idx] = acc;
}

/// Causal attention of the last `seq` of `len` cached positions, one unit per cached head and
/// token, computing the `group` query heads that share that cached head so each key and value
/// is read once for all of them: `q` and `out` are `[heads, seq, dim]`, caches `[kv_heads,
/// capacity, dim]`, and token `t` sees the first `len - seq + 1 + t` keys. Each query keeps a
/// running maximum and sum of its scores (the online softmax) over [`KEYS_AT_ONCE`] keys at a
/// time, so nothing but the output is stored.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn prompt_attention_serial(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    out: &mut [f32],
    kv_heads: usize,
    seq: usize,
    len: usize,
    capacity: usize,
    scale: f32,
    #[comptime] group: usize,
    #[comptime] dim: usize,
) {
    let idx = ABSOLUTE_POS;
    if idx >= kv_heads * seq {
        terminate!();
    }
    let (head, token) = (idx / seq, idx % seq);
    let visible = len + 1 + token - seq;
    let cache = head * capacity * dim;
    // Query head `head * group + g` of this token starts at `(head * group + g) * seq + token`.
    let mut query = Array::<f32>::new(comptime!(group * dim));
    let mut acc = Array::<f32>::new(comptime!(group * dim));
    let mut max = Array::<f32>::new(group);
    let mut sum = Array::<f32>::new(group);
    #[unroll]
    for g in 0..group {
        let base = ((head * group + g) * seq + token) * dim;
        #[unroll]
        for i in 0..dim {
            query[g * dim + i] = q[base + i] * scale;
            acc[g * dim + i] = 0.0;
        }
        max[g] = f32::new(LOWEST);
        sum[g] = 0.0;
    }
    let mut scores = Array::<f32>::new(comptime!(group * KEYS_AT_ONCE));
    let mut c0 = 0usize;
    while c0 < visible {
        let n = select(visible - c0 < KEYS_AT_ONCE, visible - c0, KEYS_AT_ONCE);
        for k in 0..n {
            let key = cache + (c0 + k) * dim;
            #[unroll]
            for g in 0..group {
                scores[g * KEYS_AT_ONCE + k] = 0.0;
            }
            #[unroll]
            for i in 0..dim {
                let component = keys[key + i];
                #[unroll]
                for g in 0..group {
                    scores[g * KEYS_AT_ONCE + k] += query[g * dim + i] * component;
                }
            }
        }
        #[unroll]
        for g in 0..group {
            let mut new_max = max[g];
            for k in 0..n {
                new_max = f32::max(new_max, scores[g * KEYS_AT_ONCE + k]);
            }
            let correction = f32::exp(max[g] - new_max);
            sum[g] *= correction;
            #[unroll]
            for i in 0..dim {
                acc[g * dim + i] *= correction;
            }
            for k in 0..n {
                let p = f32::exp(scores[g * KEYS_AT_ONCE + k] - new_max);
                scores[g * KEYS_AT_ONCE + k] = p;
                sum[g] += p;
            }
            max[g] = new_max;
        }
        for k in 0..n {
            let value = cache + (c0 + k) * dim;
            #[unroll]
            for i in 0..dim {
                let component = values[value + i];
                #[unroll]
                for g in 0..group {
                    acc[g * dim + i] += scores[g * KEYS_AT_ONCE + k] * component;
                }
            }
        }
        c0 += KEYS_AT_ONCE;
    }
    #[unroll]
    for g in 0..group {
        let base = ((head * group + g) * seq + token) * dim;
        #[unroll]
        for i in 0..dim {
            out[base + i] = acc[g * dim + i] / sum[g];
        }
    }
}
