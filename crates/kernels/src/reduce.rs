//! Workgroup reductions in shared memory.
//!
//! Written without subgroup operations: WebGPU does not guarantee them, and software adapters
//! (lavapipe, SwiftShader) do not have them.

use cubecl::prelude::*;

/// Sums `values[base..base + n]` into `values[base]`, `n` a power of two, with unit `lane` of the
/// `n` units that share the row. Every unit of the workgroup must call it (it synchronizes).
#[cube]
pub fn sum_in_place(values: &mut [f32], base: usize, lane: usize, #[comptime] n: usize) {
    #[unroll]
    for step in 1..comptime!(n.trailing_zeros() as usize) + 1 {
        let stride = comptime!(n >> step);
        if lane < stride {
            values[base + lane] += values[base + lane + stride];
        }
        sync_cube();
    }
}

/// The maximum of `values[base..base + n]` into `values[base]`, as [`sum_in_place`].
#[cube]
pub fn max_in_place(values: &mut [f32], base: usize, lane: usize, #[comptime] n: usize) {
    #[unroll]
    for step in 1..comptime!(n.trailing_zeros() as usize) + 1 {
        let stride = comptime!(n >> step);
        if lane < stride {
            values[base + lane] = f32::max(values[base + lane], values[base + lane + stride]);
        }
        sync_cube();
    }
}
