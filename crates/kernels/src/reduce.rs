//! Reductions over the units of a workgroup that share a row.
//!
//! Workgroup memory and barriers are what every adapter has, so that path always exists: a tree
//! of halving steps with a barrier after each, five barriers for a row of 32 units. Most GPUs
//! also have subgroups (CUDA's warps, Vulkan's and WebGPU's subgroups, Metal's SIMD groups),
//! whose units combine values in registers with no barrier at all; there each subgroup reduces
//! its part of the row and one barrier joins the parts. WebGPU does not guarantee subgroups and
//! CubeCL offers them on no software adapter, so [`crate::Schedule`] chooses per device.

use cubecl::prelude::*;

/// What a reduction combines values with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Combine {
    Sum,
    Max,
}

#[cube]
fn combine(a: f32, b: f32, #[comptime] op: Combine) -> f32 {
    match op {
        Combine::Sum => a + b,
        Combine::Max => f32::max(a, b),
    }
}

/// `op` over the `value` of each of the `n` units that share a row, given back to every one of
/// them. `lane` is the unit's place in the row; a row's units are consecutive in a
/// one-dimensional workgroup (WGSL defines subgroups in no other) and `n` is a power of two.
/// `scratch[base..base + n]` is the row's workgroup memory; the caller writes it again only
/// after a barrier. With `subgroups`, no subgroup may be larger than `n`
/// ([`crate::kernel_schedule`] makes sure). Every unit of the workgroup must call it, since it
/// synchronizes.
#[cube]
pub fn row_reduce(
    value: f32,
    scratch: &mut [f32],
    base: usize,
    lane: usize,
    #[comptime] n: usize,
    #[comptime] op: Combine,
    #[comptime] subgroups: bool,
) -> f32 {
    if subgroups {
        let part = match op {
            Combine::Sum => plane_sum(value),
            Combine::Max => plane_max(value),
        };
        // A subgroup size is a power of two no larger than `n`, so each subgroup lies within
        // one row and the row holds `n / PLANE_DIM` of them.
        if UNIT_POS_PLANE == 0 {
            scratch[base + lane / PLANE_DIM as usize] = part;
        }
        sync_cube();
        let mut result = scratch[base];
        for i in 1..n / PLANE_DIM as usize {
            result = combine(result, scratch[base + i], op);
        }
        result
    } else {
        scratch[base + lane] = value;
        sync_cube();
        #[unroll]
        for step in 1..comptime!(n.trailing_zeros() as usize) + 1 {
            let stride = comptime!(n >> step);
            if lane < stride {
                scratch[base + lane] = combine(scratch[base + lane], scratch[base + lane + stride], op);
            }
            sync_cube();
        }
        scratch[base]
    }
}
