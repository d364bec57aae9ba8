//! `y = x Wᵀ` with `W` in ggml blocks: a matrix-vector kernel for decoding (one token), a tiled
//! matrix-matrix kernel for a few tokens, and a kernel that expands rows of blocks to f32 for
//! long prompts.
//!
//! Decoding one token reads every weight once and does two flops per weight, so it is bound by
//! memory bandwidth: the matrix-vector kernel gives each row to a group of units that walk its
//! runs in step (neighbouring units read neighbouring blocks), decode in registers and reduce
//! with subgroup sums where the device has them, else in shared memory ([`crate::reduce`]). Up
//! to one tile of tokens ([`TILE_M`]), the tiled kernel decodes each weight once into shared
//! memory and multiplies it with the tokens. Beyond that it would decode every weight once per
//! tile of tokens, and the device's own matrix product (Burn's, tuned per adapter: tensor cores
//! on CUDA) is faster anyway, so a long prompt expands a few rows of blocks at a time into a
//! small f32 buffer and multiplies that: on lavapipe, 512 tokens through a 1536x576 matrix take
//! 1.65 s in the tiled kernel and 0.49 s in Burn's product.
//!
//! Both accumulate in f32 and need nothing beyond WebGPU's baseline: no `shader-f16`, subgroups
//! only where the device has them, at most 12 KiB of workgroup memory and 128 units per
//! workgroup.

use cubecl::prelude::*;

use crate::decode::{RUN, run_affine, run_quant, runs_per_block};
use crate::format::BlockFormat;
use crate::reduce::{Combine, row_reduce};

/// Units that share one row in the matrix-vector kernel.
pub const LANES: usize = 32;
/// Rows one workgroup of the matrix-vector kernel computes.
pub const ROWS_PER_CUBE: usize = 4;

/// Tokens, weight rows and reduction depth of one tile of the matrix-matrix kernel.
pub const TILE_M: usize = 32;
pub const TILE_N: usize = 64;
const TILE_K: usize = 2 * RUN;
/// Each unit of the matrix-matrix kernel computes a 4 x 4 block of the tile.
const MICRO: usize = 4;
pub const TILE_UNITS: usize = (TILE_M / MICRO) * (TILE_N / MICRO);

/// The body of the block holding run `r` of `row`: (block index, the word where its body
/// starts, run in block).
#[cube]
pub(crate) fn locate(
    row: usize,
    r: usize,
    runs_per_row: usize,
    #[comptime] format: BlockFormat,
) -> (usize, usize, usize) {
    let per_block = comptime!(runs_per_block(format));
    let block = row * (runs_per_row / per_block) + r / per_block;
    (block, block * comptime!(format.body_words()), r % per_block)
}

/// One token: `out[out_offset + row] = Σ_k x[k] · W[row, k]` for the rows of this chunk.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn block_matvec(
    w: &[u32],
    x: &[f32],
    out: &mut [f32],
    rows: usize,
    runs_per_row: usize,
    plane: usize,
    #[comptime] format: BlockFormat,
    #[comptime] subgroups: bool,
) {
    // A one-dimensional workgroup: WGSL defines no subgroups in a multi-dimensional one.
    let lane = UNIT_POS as usize % LANES;
    let slot = UNIT_POS as usize / LANES;
    let row = CUBE_POS_X as usize * ROWS_PER_CUBE + slot;
    let mut partial = Shared::<[f32]>::new_slice(LANES * ROWS_PER_CUBE);

    let mut acc = 0.0f32;
    if row < rows {
        let mut r = lane;
        while r < runs_per_row {
            let (block, base, run) = locate(row, r, runs_per_row, format);
            let map = run_affine(w, base, plane, block, run, format);
            let xb = r * RUN;
            let mut dot = 0.0f32;
            let mut sum = 0.0f32;
            #[unroll]
            for i in 0..RUN {
                let xi = x[xb + i];
                dot += run_quant(w, base, run, i, format) * xi;
                sum += xi;
            }
            acc += map.scale * dot + map.offset * sum;
            r += LANES;
        }
    }

    let total = row_reduce(acc, &mut partial, slot * LANES, lane, LANES, Combine::Sum, subgroups);
    if lane == 0 && row < rows {
        out[row] = total;
    }
}

/// Many tokens: `out[t, row] = Σ_k x[t, k] · W[row, k]` for `tokens` rows of `x`, one
/// `TILE_M x TILE_N` tile per workgroup. `out` has `rows` columns.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn block_matmul(
    w: &[u32],
    x: &[f32],
    out: &mut [f32],
    tokens: usize,
    rows: usize,
    runs_per_row: usize,
    plane: usize,
    #[comptime] format: BlockFormat,
) {
    let cols = runs_per_row * RUN;
    let unit = UNIT_POS as usize;
    let t0 = CUBE_POS_Y as usize * TILE_M;
    let n0 = CUBE_POS_X as usize * TILE_N;
    let um = UNIT_POS_Y as usize * MICRO;
    let un = UNIT_POS_X as usize * MICRO;
    // Both tiles are stored depth-major, so the units of a row of the workgroup read
    // consecutive weights and the same token value.
    let mut xs = Shared::<[f32]>::new_slice(TILE_K * TILE_M);
    let mut ws = Shared::<[f32]>::new_slice(TILE_K * TILE_N);
    let mut acc = Array::<f32>::new(MICRO * MICRO);
    #[unroll]
    for i in 0..MICRO * MICRO {
        acc[i] = 0.0;
    }

    // The weight run this unit decodes at every step: row `wn` of the tile, run `wr` of two.
    let wn = unit / 2;
    let wr = unit % 2;
    let wrow = n0 + wn;

    let mut k0 = 0usize;
    while k0 < cols {
        #[unroll]
        for j in 0..(TILE_M * TILE_K) / TILE_UNITS {
            let idx = unit + j * TILE_UNITS;
            let t = idx / TILE_K;
            let k = idx % TILE_K;
            let mut value = 0.0f32;
            if t0 + t < tokens {
                value = x[(t0 + t) * cols + k0 + k];
            }
            xs[k * TILE_M + t] = value;
        }

        if wrow < rows {
            let r = k0 / RUN + wr;
            let (block, base, run) = locate(wrow, r, runs_per_row, format);
            let map = run_affine(w, base, plane, block, run, format);
            #[unroll]
            for i in 0..RUN {
                ws[(wr * RUN + i) * TILE_N + wn] = map.scale * run_quant(w, base, run, i, format) + map.offset;
            }
        } else {
            #[unroll]
            for i in 0..RUN {
                ws[(wr * RUN + i) * TILE_N + wn] = 0.0;
            }
        }
        sync_cube();

        #[unroll]
        for k in 0..TILE_K {
            #[unroll]
            for i in 0..MICRO {
                let a = xs[k * TILE_M + um + i];
                #[unroll]
                for j in 0..MICRO {
                    acc[i * MICRO + j] += a * ws[k * TILE_N + un + j];
                }
            }
        }
        sync_cube();
        k0 += TILE_K;
    }

    #[unroll]
    for i in 0..MICRO {
        let t = t0 + um + i;
        #[unroll]
        for j in 0..MICRO {
            let n = n0 + un + j;
            if t < tokens && n < rows {
                out[t * rows + n] = acc[i * MICRO + j];
            }
        }
    }
}

/// Rows `first..first + n` of the chunk's `W` as f32, `out[(row - first) * cols + k]`, one unit
/// per run of sixteen values (`runs` of them).
#[cube(launch_unchecked)]
pub fn block_dequantize(
    w: &[u32],
    out: &mut [f32],
    first: usize,
    runs: usize,
    runs_per_row: usize,
    plane: usize,
    #[comptime] format: BlockFormat,
) {
    let idx = ABSOLUTE_POS;
    if idx >= runs {
        terminate!();
    }
    let at = first * runs_per_row + idx;
    let row = at / runs_per_row;
    let (block, base, run) = locate(row, at % runs_per_row, runs_per_row, format);
    let map = run_affine(w, base, plane, block, run, format);
    #[unroll]
    for i in 0..RUN {
        out[idx * RUN + i] = map.scale * run_quant(w, base, run, i, format) + map.offset;
    }
}
