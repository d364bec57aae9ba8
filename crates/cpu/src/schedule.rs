//! How a product is split into kernel tiles and over threads.
//!
//! Output rows are cut into chunks, one rayon task each, so every thread streams its own part of
//! the weights exactly once per token tile. A one-token product (decoding) is bound by memory
//! bandwidth: chunks are only as many as load balancing needs. A prompt's product is bound by
//! arithmetic: a chunk's weights are sized to stay in the core's L2 cache while all token tiles
//! pass over them, so weights are read from memory once and activations once per chunk.
//! Each output value is reduced by one kernel call in a fixed order, whatever the thread count
//! or the number of tokens, so results do not change with the batch or the pool.

use rayon::prelude::*;

use crate::activation::Activations;
use crate::disjoint::DisjointOut;
use crate::kernels::{Kernel, MAX_TOKENS, Tile, TileOut};

/// Weight bytes of a chunk that all token tiles of a prompt reuse: well inside a 512 KiB-1 MiB L2.
const CHUNK_BYTES: usize = 192 << 10;
/// Chunks per thread for load balancing when threads are slowed unevenly.
const CHUNKS_PER_THREAD: usize = 4;
/// Products smaller than this (weight bytes times token tiles) run on the calling thread: a
/// parallel region costs more than it saves. Splitting pays when half the product's time exceeds
/// the region's cost, i.e. above twice the bytes one core streams in that time. From outside the
/// pool (a thread of the caller's own) rayon queues the work and puts the caller to sleep until
/// it is done, which costs as long as streaming a few hundred KB; from a pool thread a region is
/// a join that another worker steals (see tools/bench/results/cpu_kernels.md).
const SEQUENTIAL_BYTES_OUTSIDE: usize = 1 << 20;
const SEQUENTIAL_BYTES_INSIDE: usize = 128 << 10;

/// A matrix's weights: `rows` rows of `row_bytes` (in the kernel's layout).
pub(crate) struct Weights<'a> {
    pub data: &'a [u8],
    pub rows: usize,
    pub row_bytes: usize,
}

/// `out[t][r] = Σ_c weights[r][c] * x[t][c]` with `kernel`.
pub(crate) fn matmul(kernel: &Kernel, weights: &Weights, acts: &Activations, out: &mut [f32]) {
    let rows = weights.rows;
    assert_eq!(weights.data.len(), rows * weights.row_bytes, "weights are [rows, row_bytes]");
    assert_eq!(out.len(), rows * acts.tokens, "output is [tokens, rows]");
    let output = DisjointOut::new(out);
    let token_tiles = acts.tokens.div_ceil(kernel.tokens);
    let threads = rayon::current_num_threads();
    let small =
        if rayon::current_thread_index().is_some() { SEQUENTIAL_BYTES_INSIDE } else { SEQUENTIAL_BYTES_OUTSIDE };
    if threads == 1 || weights.data.len() * token_tiles < small {
        let chunk = chunk_rows(kernel, weights, acts.tokens, 1);
        for r0 in (0..rows).step_by(chunk) {
            run_chunk(kernel, weights, acts, r0..rows.min(r0 + chunk), &output);
        }
        return;
    }
    let chunk = chunk_rows(kernel, weights, acts.tokens, threads);
    (0..rows.div_ceil(chunk)).into_par_iter().for_each(|c| {
        let r0 = c * chunk;
        run_chunk(kernel, weights, acts, r0..rows.min(r0 + chunk), &output);
    });
}

fn chunk_rows(kernel: &Kernel, weights: &Weights, tokens: usize, threads: usize) -> usize {
    let mut chunk = weights.rows.div_ceil(threads * CHUNKS_PER_THREAD);
    if tokens > kernel.tokens {
        chunk = chunk.min(CHUNK_BYTES / weights.row_bytes.max(1));
    }
    chunk.next_multiple_of(kernel.rows).max(kernel.rows)
}

fn run_chunk(kernel: &Kernel, weights: &Weights, acts: &Activations, rows: std::ops::Range<usize>, out: &DisjointOut) {
    let row_bytes = weights.row_bytes;
    let mut results: TileOut = [0.0; _];
    for token in (0..acts.tokens).step_by(kernel.tokens) {
        let tokens = kernel.tokens.min(acts.tokens - token);
        for row in rows.clone().step_by(kernel.rows) {
            let n = kernel.rows.min(rows.end - row);
            let tile = Tile {
                weights: &weights.data[row * row_bytes..(row + n) * row_bytes],
                row_bytes,
                rows: n,
                acts,
                token,
                tokens,
            };
            kernel.run(&tile, &mut results);
            for t in 0..tokens {
                // SAFETY: only this chunk writes rows in `rows`.
                let out = unsafe { out.slice((token + t) * weights.rows + row, n) };
                for (r, o) in out.iter_mut().enumerate() {
                    *o = results[r * MAX_TOKENS + t];
                }
            }
        }
    }
}
