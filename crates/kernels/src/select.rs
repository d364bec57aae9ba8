//! The best tokens of a row of logits and the row's log-normalizer, found on the device.
//!
//! Sampling and log-probabilities need only the few largest logits and `log Σ exp(logit)`.
//! Reading the whole row back moves the vocabulary across (513 KB per token for Llama 3) and, in
//! a browser, maps a buffer for it; after these kernels `2k + 1` numbers are read. Burn's own
//! top-k sorts the row with a sorting network, which software adapters take minutes to compile
//! and run, so neither kernel here uses workgroup memory or barriers, and both suit every
//! [`crate::Schedule`]:
//!
//! 1. [`slice_candidates`]: one unit per slice of the row keeps the slice's best `k` in order,
//!    as insertion into a short list (once a few hundred logits are seen, a new one rarely beats
//!    the `k`-th), and the slice's maximum and exponential sum.
//! 2. [`rank_candidates`]: one unit per listed candidate counts the candidates that beat it, by
//!    binary search in each slice's sorted list, and the `k` with a count below `k` write
//!    themselves at that place. A unit stops searching once its count reaches `k`, so only the
//!    best few search every list.
//!
//! The order is the logits' descending, ties broken by the lower token id: the same as
//! choosing on the host. A software adapter's buffers are host memory, so there reading the row
//! back is only a copy and the host chooses faster than these kernels run (Llama 3's row, 40
//! candidates: 1.4 ms against 17 ms on lavapipe, `tools/bench/results/select_timing_lavapipe.txt`);
//! the runtime uses them on GPUs.

use cubecl::prelude::*;

use crate::fused::LOWEST;

/// The most candidates the kernels choose (their lists live in each unit's registers).
pub const MAX_CANDIDATES: usize = 64;
/// Token id of a list entry that holds no logit (a slice with fewer than `k` finite logits).
pub const NO_TOKEN: u32 = u32::MAX;

/// Whether `(value, id)` comes before `(other, other_id)`: a larger logit, or the same logit and
/// a lower id.
#[cube]
fn beats(value: f32, id: u32, other: f32, other_id: u32) -> bool {
    value > other || (value == other && id < other_id)
}

/// Unit `s` lists the best `k` logits of `logits[s * slice..(s + 1) * slice]` (a row of
/// `vocab`) best first into `ids` and `values[s * k..(s + 1) * k]`, unused places holding
/// [`NO_TOKEN`], and the slice's maximum and `Σ exp(logit - maximum)` into `stats[2s..2s + 2]`.
/// Unit 0 also marks every place of `out` ([`rank_candidates`]) as empty.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn slice_candidates(
    logits: &[f32],
    ids: &mut [u32],
    values: &mut [f32],
    stats: &mut [f32],
    out: &mut [f32],
    vocab: usize,
    slices: usize,
    slice: usize,
    #[comptime] k: usize,
) {
    let s = ABSOLUTE_POS;
    if s >= slices {
        terminate!();
    }
    if s == 0 {
        #[unroll]
        for r in 0..k {
            out[2 * r] = -1.0f32;
            out[2 * r + 1] = f32::new(LOWEST);
        }
        out[2 * k] = f32::new(LOWEST);
    }
    let mut best = Array::<f32>::new(k);
    let mut best_ids = Array::<u32>::new(k);
    #[unroll]
    for r in 0..k {
        best[r] = f32::new(LOWEST);
        best_ids[r] = NO_TOKEN;
    }
    let mut max = f32::new(LOWEST);
    let mut sum = 0.0f32;
    let start = s * slice;
    let end = select(start + slice < vocab, start + slice, vocab);
    for t in start..end {
        let v = logits[t];
        if v > max {
            sum = sum * f32::exp(max - v) + 1.0f32;
            max = v;
        } else {
            sum += f32::exp(v - max);
        }
        // Ids rise through the slice, so a logit equal to a listed one goes after it.
        if v > best[k - 1] {
            let mut r = (k - 1).runtime();
            loop {
                if r == 0 {
                    break;
                }
                if best[r - 1] >= v {
                    break;
                }
                best[r] = best[r - 1];
                best_ids[r] = best_ids[r - 1];
                r -= 1;
            }
            best[r] = v;
            best_ids[r] = u32::cast_from(t);
        }
    }
    #[unroll]
    for r in 0..k {
        values[s * k + r] = best[r];
        ids[s * k + r] = best_ids[r];
    }
    stats[2 * s] = max;
    stats[2 * s + 1] = sum;
}

/// Unit `s * k + j`, candidate `j` of slice `s`, counts the listed candidates that beat it and,
/// if fewer than `k` do, writes its token id (as f32, exact below 2²⁴) and logit at
/// `out[2 * rank..2 * rank + 2]`. The best candidate also writes the row's log-normalizer at
/// `out[2 * k]`.
#[cube(launch_unchecked)]
pub fn rank_candidates(
    ids: &[u32],
    values: &[f32],
    stats: &[f32],
    out: &mut [f32],
    slices: usize,
    #[comptime] k: usize,
) {
    let unit = ABSOLUTE_POS;
    if unit >= slices * k {
        terminate!();
    }
    let own = unit / k;
    let id = ids[unit];
    if id == NO_TOKEN {
        terminate!();
    }
    let v = values[unit];
    // Its own list holds `unit % k` better candidates; the others are searched.
    let mut rank = unit % k;
    for s in 0..slices {
        if s != own && rank < k {
            let base = s * k;
            let mut lo = 0usize;
            let mut hi = k.runtime();
            while lo < hi {
                let mid = (lo + hi) / 2;
                if beats(values[base + mid], ids[base + mid], v, id) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            rank += lo;
        }
    }
    if rank < k {
        out[2 * rank] = f32::cast_from(id);
        out[2 * rank + 1] = v;
        if rank == 0 {
            let mut max = f32::new(LOWEST);
            for i in 0..slices {
                max = f32::max(max, stats[2 * i]);
            }
            let mut sum = 0.0f32;
            for i in 0..slices {
                sum += stats[2 * i + 1] * f32::exp(stats[2 * i] - max);
            }
            out[2 * k] = max + f32::ln(sum);
        }
    }
}
