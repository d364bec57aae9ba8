//! Activations in the form ggml-cpu gives them before a product with quantized weights (its
//! `vec_dot_type`): 8-bit blocks for integer dot products, or floats rounded to the weights'
//! precision. Matching ggml here is what makes our logits match llama.cpp's, so the conventions
//! are ggml-cpu's x86 ones, written down because its reference and SIMD quantizers differ:
//!
//! * Q8_0 (for Q4_0, Q5_0, Q8_0) and Q8_1 (for Q4_1, Q5_1), blocks of 32: `amax = max|x|`, the
//!   scale is `f16(amax / 127)`, the values `round_half_even(x * (127 / amax))` (AVX2's
//!   `_mm256_round_ps`, not the reference quantizer's `roundf(x / d)`). Q8_1 also carries
//!   `s = f16(d * Σq)` with `d` the unrounded f32 scale.
//! * Q8_K (for the k-quants), blocks of 256: `max` is the value of largest magnitude (the first
//!   on ties), `q = min(127, nearest_int(x * -127 / max))` (half to even), `d = 1 / (-127 / max)`
//!   kept in f32, and the sums of every 16 quants.
//! * F16 and BF16 weights take activations rounded to the same type (round to nearest even), F32
//!   weights plain f32. Rounded values are kept as f32 (exactly representable), which saves the
//!   kernels a conversion per value.
//!
//! Each token's activations are quantized once per product (or once for several products that
//! share an input, see [`crate::Input`]) and reused by every weight row.

use rayon::prelude::*;
use selene_gguf::codec::{bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits, f32_to_f16_bits};

/// Values per block of the legacy types and of Q8_0/Q8_1.
pub(crate) const QK: usize = 32;
/// Values per k-quant super-block and per Q8_K block.
pub(crate) const QK_K: usize = 256;

/// How a product's activations are stored: ggml's `vec_dot_type` of the weight type.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputFormat {
    Q8_0,
    Q8_1,
    Q8_K,
    F16,
    BF16,
    F32,
}

/// A Q8_0 or Q8_1 block. `d` and `s` hold their f16 values widened to f32.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Q8Block {
    pub qs: [i8; QK],
    pub d: f32,
    /// Q8_1's `s`; unused by kernels that take Q8_0.
    pub s: f32,
    /// `Σq`, exact (for zero points taken out of the weights).
    pub sum: i32,
}

/// A Q8_K block, with ggml's fields.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Q8KBlock {
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
    pub d: f32,
}

impl Default for Q8KBlock {
    fn default() -> Self {
        Q8KBlock { qs: [0; QK_K], bsums: [0; QK_K / 16], d: 0.0 }
    }
}

/// The storage of quantized activations, token after token.
pub(crate) enum Blocks {
    Q8(Vec<Q8Block>),
    Q8K(Vec<Q8KBlock>),
    Float(Vec<f32>),
}

/// `tokens` rows of activations in one [`InputFormat`]; `per_token` blocks (or values) each.
pub(crate) struct Activations {
    pub blocks: Blocks,
    pub per_token: usize,
    pub tokens: usize,
}

/// Below this many values a single thread quantizes faster than a parallel region starts.
const PARALLEL_VALUES: usize = 1 << 16;

impl Activations {
    /// Quantizes `x`, `tokens` rows of `cols` values, to `format`. `cols` must fill whole blocks.
    pub fn new(format: InputFormat, x: &[f32], cols: usize, tokens: usize) -> Activations {
        assert_eq!(x.len(), cols * tokens, "activations: {tokens} tokens of {cols} values");
        let (blocks, per_token) = match format {
            InputFormat::Q8_0 | InputFormat::Q8_1 => (Blocks::Q8(quantize_blocks(x, QK, quantize_q8)), cols / QK),
            InputFormat::Q8_K => (Blocks::Q8K(quantize_blocks(x, QK_K, quantize_q8k)), cols / QK_K),
            InputFormat::F16 => (Blocks::Float(round_values(x, |v| f16_bits_to_f32(f32_to_f16_bits(v)))), cols),
            InputFormat::BF16 => (Blocks::Float(round_values(x, |v| bf16_bits_to_f32(f32_to_bf16_bits(v)))), cols),
            InputFormat::F32 => (Blocks::Float(x.to_vec()), cols),
        };
        Activations { blocks, per_token, tokens }
    }
}

fn quantize_blocks<B: Default + Clone + Send>(x: &[f32], block: usize, quantize: fn(&[f32]) -> B) -> Vec<B> {
    let mut out = vec![B::default(); x.len() / block];
    if x.len() >= PARALLEL_VALUES {
        let per_task = PARALLEL_VALUES / block;
        out.par_chunks_mut(per_task)
            .zip(x.par_chunks(per_task * block))
            .for_each(|(o, x)| o.iter_mut().zip(x.chunks_exact(block)).for_each(|(o, x)| *o = quantize(x)));
    } else {
        out.iter_mut().zip(x.chunks_exact(block)).for_each(|(o, x)| *o = quantize(x));
    }
    out
}

fn round_values(x: &[f32], round: fn(f32) -> f32) -> Vec<f32> {
    x.iter().map(|&v| round(v)).collect()
}

/// Round half to even for |v| < 2^22: adding 1.5 * 2^23 leaves the integer in the low mantissa
/// bits, which is ggml's `nearest_int` and what `_mm256_round_ps` does, without a libm call.
fn round_even(v: f32) -> f32 {
    (v + 12582912.0) - 12582912.0
}

fn round_f16(v: f32) -> f32 {
    f16_bits_to_f32(f32_to_f16_bits(v))
}

/// A Q8_0 block with Q8_1's sum (see the module comment).
pub(crate) fn quantize_q8(x: &[f32]) -> Q8Block {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut block = Q8Block::default();
    let mut sum = 0i32;
    for (q, &v) in block.qs.iter_mut().zip(x) {
        let r = round_even(v * id) as i32;
        *q = r as i8;
        sum += r;
    }
    block.d = round_f16(d);
    block.s = round_f16(d * sum as f32);
    block.sum = sum;
    block
}

/// A Q8_K block (see the module comment).
pub(crate) fn quantize_q8k(x: &[f32]) -> Q8KBlock {
    let (mut max, mut amax) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    let mut block = Q8KBlock::default();
    if amax == 0.0 {
        return block;
    }
    let iscale = -127.0 / max;
    for (q, &v) in block.qs.iter_mut().zip(x) {
        *q = (round_even(iscale * v) as i32).min(127) as i8;
    }
    for (sum, qs) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
        *sum = qs.iter().map(|&q| q as i16).sum();
    }
    block.d = 1.0 / iscale;
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_rounds_half_to_even_with_ggml_x86_scale() {
        // amax 127 gives id = 1 exactly, so the values are rounded as given.
        let mut x = [0f32; QK];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = 3.5;
        x[4] = -0.5;
        let b = quantize_q8(&x);
        assert_eq!(&b.qs[..5], &[127, 2, -2, 4, 0]);
        assert_eq!(b.d, 1.0);
        assert_eq!(b.s, 131.0);
        // The sum is taken with the unrounded f32 scale, then rounded to f16.
        let x = [0.3f32; QK];
        let b = quantize_q8(&x);
        assert!(b.qs.iter().all(|&q| q == 127));
        assert_eq!(b.d, round_f16(0.3 / 127.0));
        assert_eq!(b.s, round_f16(0.3 / 127.0 * (127 * 32) as f32));
        assert_eq!(quantize_q8(&[0.0; QK]).qs, [0; QK]);
    }

    #[test]
    fn q8k_follows_the_signed_maximum() {
        let mut x = [0f32; QK_K];
        x[7] = -4.0;
        x[8] = 4.0; // same magnitude, later: the first one sets the sign of the scale
        x[9] = 1.0;
        let b = quantize_q8k(&x);
        assert_eq!(b.d, 1.0 / 31.75);
        assert_eq!((b.qs[7], b.qs[8], b.qs[9]), (-127, 127, 32));
        assert_eq!(b.bsums[0], 32);
        // A positive maximum gives a negative scale and negated quants.
        x[7] = 0.0;
        let b = quantize_q8k(&x);
        assert_eq!(b.d, 1.0 / -31.75);
        assert_eq!((b.qs[8], b.qs[9]), (-127, -32));
        assert_eq!(quantize_q8k(&[0.0; QK_K]).d, 0.0);
    }
}
