//! Reading ggml blocks inside a kernel, sixteen values at a time.
//!
//! Every supported type is, per run of sixteen consecutive values, an affine map of small
//! integers: `value = scale * q + offset`, with one `scale` and `offset` for the run (a 32-value
//! block's, or a K-quant sub-block's with its 6- or 8-bit sub-scale folded in). The kernels ask
//! for the map once per run and then for each `q`, so the per-value work is a shift, a mask and
//! a multiply-add. The formulas are ggml's (`dequantize_row_*` in ggml-quants.c); the byte
//! offsets are those of the block body described in [`crate::format`].

use cubecl::prelude::*;

use crate::format::BlockFormat;

/// Values in a run that shares one affine map.
pub const RUN: usize = 16;

/// The map of one run: `value = scale * q + offset`.
#[derive(CubeType)]
pub struct Affine {
    pub scale: f32,
    pub offset: f32,
}

/// Runs in one block.
pub fn runs_per_block(format: BlockFormat) -> usize {
    format.block_values() / RUN
}

/// Byte `b` of the words starting at word `base`.
#[cube]
fn byte_at(w: &[u32], base: usize, b: usize) -> u32 {
    (w[base + b / 4] >> u32::cast_from((b % 4) * 8)) & 0xFF
}

/// An IEEE half given by its bits, as f32. Written out with integer operations so that no
/// adapter needs `shader-f16`.
#[cube]
pub fn f16_to_f32(bits: u32) -> f32 {
    let sign = (bits & 0x8000) << 16;
    let exponent = (bits >> 10) & 0x1F;
    let mantissa = bits & 0x3FF;
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2⁻²⁴.
        let magnitude = f32::cast_from(mantissa) * 5.960_464_5e-8;
        select(sign != 0, -magnitude, magnitude)
    } else {
        let biased = select(exponent == 0x1F, 0xFFu32, exponent + 112);
        f32::reinterpret(sign | (biased << 23) | (mantissa << 13))
    }
}

/// The `index`-th f16 of the scale plane that starts at word `plane`.
#[cube]
fn plane_scale(w: &[u32], plane: usize, index: usize) -> f32 {
    let word = w[plane + index / 2];
    f16_to_f32((word >> u32::cast_from((index % 2) * 16)) & 0xFFFF)
}

/// The low (`hi == 0`) or high 16 bits of word `index`, as an f16.
#[cube]
fn word_half(w: &[u32], index: usize, #[comptime] hi: u32) -> f32 {
    f16_to_f32((w[index] >> comptime!(hi * 16)) & 0xFFFF)
}

/// The 6-bit scale and minimum of sub-block `j` of a Q4_K/Q5_K block, whose twelve packed bytes
/// start at byte 4 of the body at `base` (ggml's `get_scale_min_k4`).
#[cube]
fn scale_min_k4(w: &[u32], base: usize, j: usize) -> (u32, u32) {
    // Sub-blocks 0..4 keep their six bits in bytes j and j + 4; 4..8 take four bits from byte
    // j + 4 and their top two from the spare bits of bytes j - 4 and j.
    let low = select(j < 4, byte_at(w, base, 4 + j), byte_at(w, base, 8 + j));
    let scale = select(j < 4, low & 63, (low & 0xF) | ((byte_at(w, base, j) >> 6) << 4));
    let min = select(j < 4, byte_at(w, base, 8 + j) & 63, (low >> 4) | ((byte_at(w, base, j + 4) >> 6) << 4));
    (scale, min)
}

/// The map of run `run` (of [`runs_per_block`]) of block `block`, whose body starts at `base`
/// ([`crate::matmul::locate`]); the block's plane scale, if it has one, is the `block`-th f16 of
/// the plane at `plane`.
#[cube]
pub fn run_affine(
    w: &[u32],
    base: usize,
    plane: usize,
    block: usize,
    run: usize,
    #[comptime] format: BlockFormat,
) -> Affine {
    match format {
        BlockFormat::Q4_0 | BlockFormat::Q8_0 => Affine { scale: plane_scale(w, plane, block), offset: 0.0 },
        BlockFormat::Q4_1 => Affine { scale: word_half(w, base, 0u32), offset: word_half(w, base, 1u32) },
        BlockFormat::Q4_K | BlockFormat::Q5_K => {
            let (scale, min) = scale_min_k4(w, base, run / 2);
            Affine {
                scale: word_half(w, base, 0u32) * f32::cast_from(scale),
                offset: -(word_half(w, base, 1u32) * f32::cast_from(min)),
            }
        }
        BlockFormat::Q6_K => {
            // Sixteen signed 8-bit sub-scales at bytes 192..208: run r of the block uses
            // scale (r / 8) * 8 + (r % 2) + 2 * ((r % 8) / 2), i.e. ggml's `sc[is + 2k]`.
            let half = run / 8;
            let group = (run % 8) / 2;
            let raw = byte_at(w, base, 192 + half * 8 + run % 2 + 2 * group);
            let sub = f32::cast_from(raw) - select(raw >= 128, 256.0f32, 0.0f32);
            Affine { scale: plane_scale(w, plane, block) * sub, offset: 0.0 }
        }
    }
}

/// The integer `q` of value `i` (0..16) of run `run` of the block whose body starts at `base`,
/// signed where ggml's formula subtracts a bias (Q4_0's 8, Q6_K's 32), so that every value is
/// computed as ggml computes it.
#[cube]
pub fn run_quant(w: &[u32], base: usize, run: usize, #[comptime] i: usize, #[comptime] format: BlockFormat) -> f32 {
    match format {
        BlockFormat::Q4_0 => {
            // Values 0..16 are the low nibbles of bytes 0..16, values 16..32 the high ones.
            let nibbles = w[base + comptime!(i / 4)] >> comptime!(((i % 4) * 8) as u32);
            f32::cast_from((nibbles >> (u32::cast_from(run) * 4)) & 0xF) - 8.0
        }
        BlockFormat::Q4_1 => {
            let word = w[base + 1 + comptime!(i / 4)];
            f32::cast_from((word >> (u32::cast_from(run) * 4 + comptime!(((i % 4) * 8) as u32))) & 0xF)
        }
        BlockFormat::Q8_0 => {
            let q = byte_at(w, base, run * 16 + i);
            f32::cast_from(q) - select(q >= 128, 256.0f32, 0.0f32)
        }
        BlockFormat::Q4_K => {
            // Sub-block j = run / 2 takes the low (even j) or high (odd j) nibbles of bytes
            // 32 * (j / 2) .. + 32 of the quants at byte 16.
            let j = run / 2;
            let q = byte_at(w, base, 16 + 32 * (j / 2) + 16 * (run % 2) + i);
            f32::cast_from((q >> u32::cast_from((j % 2) * 4)) & 0xF)
        }
        BlockFormat::Q5_K => {
            // As Q4_K with the quants at byte 48, plus bit j of byte l of the 32 high bits at 16.
            let j = run / 2;
            let l = 16 * (run % 2) + i;
            let low = (byte_at(w, base, 48 + 32 * (j / 2) + l) >> u32::cast_from((j % 2) * 4)) & 0xF;
            let high = (byte_at(w, base, 16 + l) >> u32::cast_from(j)) & 1;
            f32::cast_from(low | (high << 4))
        }
        BlockFormat::Q6_K => {
            // Each half of 128 values: low nibbles from 64 bytes of `ql` (byte l or l + 32, low
            // or high nibble by group), two high bits from 32 bytes of `qh` at 128.
            let half = run / 8;
            let group = (run % 8) / 2;
            let l = 16 * (run % 2) + i;
            let low = (byte_at(w, base, half * 64 + l + 32 * (group % 2)) >> u32::cast_from((group / 2) * 4)) & 0xF;
            let high = (byte_at(w, base, 128 + half * 32 + l) >> u32::cast_from(group * 2)) & 3;
            f32::cast_from(low | (high << 4)) - 32.0
        }
    }
}
