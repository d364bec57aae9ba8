//! Test inputs and the f64 reference of ggml's products, written from the block formats and
//! ggml-cpu's activation quantizers independently of the crate's code.

#![allow(dead_code)]

use selene_gguf::GgmlType;
use selene_gguf::codec::{self, bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits, f32_to_f16_bits};

pub const ALL_TYPES: [GgmlType; 13] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::F32,
];

/// splitmix64: deterministic and dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// Uniform in `lo..=hi`.
    pub fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i32
    }

    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }

    /// Gaussian values with one in fifty an outlier twenty times larger, like LLM activations.
    pub fn activations(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.gaussian() * if self.int(0, 49) == 0 { 20.0 } else { 1.0 }).collect()
    }
}

fn put_f16(b: &mut [u8], at: usize, v: f32) {
    b[at..at + 2].copy_from_slice(&f32_to_f16_bits(v).to_le_bytes());
}

/// Where a block keeps its f16 factors: `(scales, minimums)`.
fn factor_offsets(ty: GgmlType) -> (&'static [usize], &'static [usize]) {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => (&[0], &[]),
        Q4_1 | Q5_1 => (&[0], &[2]),
        Q2_K => (&[80], &[82]),
        Q3_K => (&[108], &[]),
        Q4_K | Q5_K => (&[0], &[2]),
        Q6_K => (&[208], &[]),
        _ => (&[], &[]),
    }
}

/// Random valid blocks for `n` values, built byte by byte: random quants and sub-scales, and
/// f16 factors of realistic size (random sign). Float types get Gaussian values.
pub fn random_blocks(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {
            return codec::quantize_to_vec(ty, &rng.activations(n)).unwrap();
        }
        _ => {}
    }
    let mut out: Vec<u8> = (0..n / ty.block_size() * ty.block_bytes()).map(|_| rng.byte()).collect();
    let (scales, mins) = factor_offsets(ty);
    for b in out.chunks_exact_mut(ty.block_bytes()) {
        for &at in scales.iter().chain(mins) {
            put_f16(b, at, rng.gaussian() * 0.01);
        }
    }
    out
}

/// Blocks of one repeated byte (the largest quants and sub-scales a format has: `0xFF`, or `0x80`
/// for Q8_0's -128), with small f16 factors: the sums that could overflow an i16 or i32.
pub fn extreme_blocks(ty: GgmlType, n: usize) -> Vec<u8> {
    let byte = if ty == GgmlType::Q8_0 { 0x80 } else { 0xFF };
    let mut out = vec![byte; n / ty.block_size() * ty.block_bytes()];
    let (scales, mins) = factor_offsets(ty);
    for b in out.chunks_exact_mut(ty.block_bytes()) {
        for &at in scales.iter().chain(mins) {
            put_f16(b, at, 0.01);
        }
    }
    out
}

/// Blocks whose every product with [`exact_activations`] is an integer below 2^24 in all
/// partial sums: factors 1 or 2, sub-scales below 16. Any order of summation then gives the
/// same f32, so all paths must agree bit for bit.
pub fn exact_blocks(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    use GgmlType::*;
    if matches!(ty, F32 | F16 | BF16) {
        let values: Vec<f32> = (0..n).map(|_| rng.int(-64, 64) as f32 * rng.int(1, 2) as f32).collect();
        return codec::quantize_to_vec(ty, &values).unwrap();
    }
    let mut out = random_blocks(ty, n, rng);
    let (scales, mins) = factor_offsets(ty);
    for b in out.chunks_exact_mut(ty.block_bytes()) {
        for &at in scales.iter().chain(mins) {
            put_f16(b, at, rng.int(1, 2) as f32);
        }
        match ty {
            // Bytes 4..12 hold the low 6 bits of scales and minimums 0..3 and, in their top
            // two bits, the high bits of 4..7; bytes 12..16 the low nibbles of 4..7.
            Q4_K | Q5_K => b[4..12].iter_mut().for_each(|s| *s &= 0x0F),
            Q6_K => b[192..208].iter_mut().for_each(|s| *s = rng.int(-15, 15) as i8 as u8),
            _ => {}
        }
    }
    out
}

/// Activations that quantize exactly (every 32-block holds ±127, the rest small integers), so
/// that ggml's activation scales are ±1.
pub fn exact_activations(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|i| if i % 32 == 0 { 127.0 * if rng.int(0, 1) == 0 { 1.0 } else { -1.0 } } else { rng.int(-3, 3) as f32 })
        .collect()
}

fn round_f16(v: f32) -> f32 {
    f16_bits_to_f32(f32_to_f16_bits(v))
}

/// ggml's activations for `ty` weights, dequantized, plus per 32-block the Q8_1 correction
/// `s - d * Σq` that its `m * s` term adds to the exact product (zero elsewhere).
fn dequantized_activations(ty: GgmlType, x: &[f32]) -> (Vec<f64>, Vec<f64>) {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 | Q4_1 | Q5_1 => {
            let mut a = Vec::with_capacity(x.len());
            let mut corrections = Vec::new();
            for block in x.chunks_exact(32) {
                let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if amax == 0.0 { 0.0 } else { 127.0 / amax };
                let q: Vec<f32> = block.iter().map(|v| (v * id).round_ties_even()).collect();
                let sum: f32 = q.iter().sum();
                let d16 = round_f16(d);
                a.extend(q.iter().map(|&q| q as f64 * d16 as f64));
                corrections.push(round_f16(d * sum) as f64 - d16 as f64 * sum as f64);
            }
            (a, corrections)
        }
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => {
            let mut a = Vec::with_capacity(x.len());
            for block in x.chunks_exact(256) {
                let (mut max, mut amax) = (0f32, 0f32);
                for &v in block {
                    if v.abs() > amax {
                        (amax, max) = (v.abs(), v);
                    }
                }
                if amax == 0.0 {
                    a.extend(std::iter::repeat_n(0.0, 256));
                    continue;
                }
                let iscale = -127.0 / max;
                let d = 1.0 / iscale;
                a.extend(block.iter().map(|v| (iscale * v).round_ties_even().min(127.0) as f64 * d as f64));
            }
            (a, vec![0.0; x.len() / 32])
        }
        F16 => (x.iter().map(|&v| round_f16(v) as f64).collect(), vec![0.0; x.len() / 32 + 1]),
        BF16 => {
            (x.iter().map(|&v| bf16_bits_to_f32(f32_to_bf16_bits(v)) as f64).collect(), vec![0.0; x.len() / 32 + 1])
        }
        F32 => (x.iter().map(|&v| v as f64).collect(), vec![0.0; x.len() / 32 + 1]),
        _ => unreachable!(),
    }
}

/// Per value of a row, the size of the part of the weight that is a block minimum (what the
/// kernels add separately from the scaled quants), for the error bound.
fn min_parts(ty: GgmlType, row: &[u8]) -> Vec<f64> {
    use GgmlType::*;
    let f16 = |b: &[u8], at: usize| f16_bits_to_f32(u16::from_le_bytes([b[at], b[at + 1]])) as f64;
    let mut out = Vec::new();
    for b in row.chunks_exact(ty.block_bytes()) {
        match ty {
            Q4_1 | Q5_1 => out.extend(std::iter::repeat_n(f16(b, 2).abs(), 32)),
            Q4_K | Q5_K => {
                for j in 0..8 {
                    let m = if j < 4 { b[4 + j + 4] & 63 } else { (b[4 + j + 4] >> 4) | ((b[4 + j] >> 6) << 4) };
                    out.extend(std::iter::repeat_n((f16(b, 2) * m as f64).abs(), 32));
                }
            }
            Q2_K => {
                for g in 0..16 {
                    out.extend(std::iter::repeat_n((f16(b, 82) * (b[g] >> 4) as f64).abs(), 16));
                }
            }
            _ => out.extend(std::iter::repeat_n(0.0, ty.block_size())),
        }
    }
    out
}

/// ggml's product in f64: `(reference, magnitude)`, each `[tokens, rows]`, where magnitude is
/// the sum of the absolute values of every term the kernels add (what rounding errors scale with).
pub fn reference(ty: GgmlType, w: &[u8], rows: usize, cols: usize, x: &[f32], tokens: usize) -> (Vec<f64>, Vec<f64>) {
    let weights = codec::dequantize_to_vec(ty, w, rows * cols).unwrap();
    let row_bytes = w.len() / rows;
    let (mut reference, mut magnitude) = (vec![0f64; tokens * rows], vec![0f64; tokens * rows]);
    for t in 0..tokens {
        let (a, corrections) = dequantized_activations(ty, &x[t * cols..(t + 1) * cols]);
        for r in 0..rows {
            let row = &weights[r * cols..(r + 1) * cols];
            let mins = min_parts(ty, &w[r * row_bytes..(r + 1) * row_bytes]);
            let (mut sum, mut size) = (0f64, 0f64);
            for c in 0..cols {
                sum += row[c] as f64 * a[c];
                size += (row[c] as f64 * a[c]).abs() + mins[c] * a[c].abs();
            }
            if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) {
                for (b, block) in w[r * row_bytes..(r + 1) * row_bytes].chunks_exact(ty.block_bytes()).enumerate() {
                    let m = f16_bits_to_f32(u16::from_le_bytes([block[2], block[3]])) as f64;
                    sum += m * corrections[b];
                    size += (m * corrections[b]).abs();
                }
            }
            reference[t * rows + r] = sum;
            magnitude[t * rows + r] = size;
        }
    }
    (reference, magnitude)
}

/// Rounding steps along the longest chain of f32 additions a kernel makes for a row of `cols`
/// values, plus a few for the scale products and the final horizontal sums.
pub fn rounding_steps(ty: GgmlType, cols: usize) -> f64 {
    let chain = if ty.block_size() == 1 { cols / 8 } else { cols / ty.block_size() };
    (chain + 20) as f64
}
