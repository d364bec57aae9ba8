//! The scalar kernels: ggml's dot products written out value by value, in the order the block
//! formats define. Every vector path is tested against these, and they run where no vector path
//! exists. Integer sums are exact; the floats are combined per block as ggml combines them
//! (`d_w * d_a * Σq·a`, plus `m * s` for Q4_1/Q5_1 and `- dmin * d_a * Σm·bsum` for the k-quants).

use selene_gguf::GgmlType;
use selene_gguf::codec::{bf16_bits_to_f32, f16_bits_to_f32};

use super::{Kernel, MAX_TOKENS, Tile, TileOut};
use crate::activation::{Q8Block, Q8KBlock, QK, QK_K};
use crate::layout::Layout;

pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// Scale and minimum of sub-block `j` from the 12 packed bytes of Q4_K and Q5_K.
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (i32, i32) {
    let (sc, m) = if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    };
    (sc as i32, m as i32)
}

fn dot_i8(q: impl IntoIterator<Item = i32>, a: &[i8]) -> i32 {
    q.into_iter().zip(a).map(|(q, &a)| q * a as i32).sum()
}

/// The 32 quants of a Q4_x block (low nibbles first), or of a Q5_x block given its high bits.
fn legacy_quants(qs: &[u8], high: u32) -> [i32; QK] {
    std::array::from_fn(|i| {
        let nibble = if i < 16 { qs[i] & 0x0F } else { qs[i - 16] >> 4 };
        nibble as i32 | (((high >> i) & 1) << 4) as i32
    })
}

fn high_bits(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `Σ_blocks d_w * d_a * Σ(q - zero) * a` for the symmetric legacy types.
fn dot_legacy_symmetric(w: &[u8], a: &[Q8Block], bytes: usize, quants: impl Fn(&[u8]) -> [i32; QK]) -> f32 {
    let mut sum = 0f32;
    for (b, a) in w.chunks_exact(bytes).zip(a) {
        sum += (f16_at(b, 0) * a.d) * dot_i8(quants(b), &a.qs) as f32;
    }
    sum
}

/// `Σ_blocks d_w * d_a * Σq * a + m_w * s_a` for the legacy types with a minimum.
fn dot_legacy_min(w: &[u8], a: &[Q8Block], bytes: usize, quants: impl Fn(&[u8]) -> [i32; QK]) -> f32 {
    let mut sum = 0f32;
    for (b, a) in w.chunks_exact(bytes).zip(a) {
        sum += (f16_at(b, 0) * a.d) * dot_i8(quants(b), &a.qs) as f32 + f16_at(b, 2) * a.s;
    }
    sum
}

fn dot_q4_0(w: &[u8], a: &[Q8Block]) -> f32 {
    dot_legacy_symmetric(w, a, 18, |b| legacy_quants(&b[2..18], 0).map(|q| q - 8))
}

fn dot_q5_0(w: &[u8], a: &[Q8Block]) -> f32 {
    dot_legacy_symmetric(w, a, 22, |b| legacy_quants(&b[6..22], high_bits(b, 2)).map(|q| q - 16))
}

fn dot_q8_0(w: &[u8], a: &[Q8Block]) -> f32 {
    dot_legacy_symmetric(w, a, 34, |b| std::array::from_fn(|i| b[2 + i] as i8 as i32))
}

fn dot_q4_1(w: &[u8], a: &[Q8Block]) -> f32 {
    dot_legacy_min(w, a, 20, |b| legacy_quants(&b[4..20], 0))
}

fn dot_q5_1(w: &[u8], a: &[Q8Block]) -> f32 {
    dot_legacy_min(w, a, 24, |b| legacy_quants(&b[8..24], high_bits(b, 4)))
}

/// A k-quant super-block reduced to integers: `Σ_g scale_g Σ_{i∈g} q_i a_i` and
/// `Σ_g min_g Σ_{i∈g} a_i`, and the two f16 factors that turn them into floats.
struct SuperBlock {
    d: f32,
    dmin: f32,
    dot: i32,
    mins: i32,
}

/// `Σ_superblocks d_a * (d * dot - dmin * mins)`.
fn dot_kquant(w: &[u8], a: &[Q8KBlock], bytes: usize, reduce: impl Fn(&[u8], &Q8KBlock) -> SuperBlock) -> f32 {
    let mut sum = 0f32;
    for (b, a) in w.chunks_exact(bytes).zip(a) {
        let s = reduce(b, a);
        sum += (a.d * s.d) * s.dot as f32 - (a.d * s.dmin) * s.mins as f32;
    }
    sum
}

/// `Σ_g scales[g] * Σ_{i∈g} q_i a_i` over groups of `QK_K / scales.len()` values.
fn scaled_dot(q: &[i32; QK_K], a: &[i8; QK_K], scales: &[i32]) -> i32 {
    let group = QK_K / scales.len();
    scales
        .iter()
        .enumerate()
        .map(|(g, s)| s * dot_i8(q[g * group..(g + 1) * group].iter().copied(), &a[g * group..]))
        .sum()
}

/// Q3_K's 16 six-bit group scales, offset by 32, from its 12 packed bytes: low nibbles of groups
/// 0-7 in bytes 0..8 (groups 8-15 in their high nibbles), high two bits in bytes 8..12.
pub(crate) fn q3k_scales(packed: &[u8]) -> [i32; 16] {
    std::array::from_fn(|g| {
        let low = if g < 8 { packed[g] & 0x0F } else { packed[g - 8] >> 4 };
        let high = (packed[8 + g % 4] >> (2 * (g / 4))) & 3;
        (low | high << 4) as i32 - 32
    })
}

/// Sums of the activations over groups of 32 (pairs of Q8_K's 16-sums).
pub(crate) fn bsums32(a: &Q8KBlock) -> [i32; 8] {
    std::array::from_fn(|j| a.bsums[2 * j] as i32 + a.bsums[2 * j + 1] as i32)
}

fn dot_q2_k(w: &[u8], a: &[Q8KBlock]) -> f32 {
    dot_kquant(w, a, 84, |b, a| {
        let (scales, qs) = (&b[0..16], &b[16..80]);
        // Value 128h + 32s + 16p + l: bits 2s of byte 32h + 16p + l.
        let q = std::array::from_fn(|v| {
            let (h, s, pl) = (v / 128, (v / 32) % 4, v % 32);
            ((qs[32 * h + pl] >> (2 * s)) & 3) as i32
        });
        let low: Vec<i32> = scales.iter().map(|s| (s & 0x0F) as i32).collect();
        let mins = scales.iter().zip(a.bsums).map(|(s, b)| (s >> 4) as i32 * b as i32).sum();
        SuperBlock { d: f16_at(b, 80), dmin: f16_at(b, 82), dot: scaled_dot(&q, &a.qs, &low), mins }
    })
}

fn dot_q3_k(w: &[u8], a: &[Q8KBlock]) -> f32 {
    dot_kquant(w, a, 110, |b, a| {
        let (hmask, qs, packed) = (&b[0..32], &b[32..96], &b[96..108]);
        let q = std::array::from_fn(|v| {
            let (h, s, pl) = (v / 128, (v / 32) % 4, v % 32);
            let low = ((qs[32 * h + pl] >> (2 * s)) & 3) as i32;
            let high_set = hmask[pl] & (1 << (4 * h + s)) != 0;
            low - if high_set { 0 } else { 4 }
        });
        SuperBlock { d: f16_at(b, 108), dmin: 0.0, dot: scaled_dot(&q, &a.qs, &q3k_scales(packed)), mins: 0 }
    })
}

/// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and minimums; value `64c + l` is the low
/// nibble of byte `32c + l` (`l < 32`), value `64c + 32 + l` its high nibble, plus for Q5_K bit
/// `2c` or `2c + 1` of `qh[l]` as the fifth bit.
fn k4_superblock(b: &[u8], a: &Q8KBlock, qs: &[u8], qh: Option<&[u8]>) -> SuperBlock {
    let q = std::array::from_fn(|v| {
        let (c, half, l) = (v / 64, (v / 32) % 2, v % 32);
        let nibble = ((qs[32 * c + l] >> (4 * half)) & 0x0F) as i32;
        let fifth = qh.map_or(0, |qh| ((qh[l] >> (2 * c + half)) & 1) as i32);
        nibble | fifth << 4
    });
    let (scales, mins): (Vec<i32>, Vec<i32>) = (0..8).map(|j| scale_min_k4(j, &b[4..16])).unzip();
    let mins = mins.iter().zip(bsums32(a)).map(|(m, s)| m * s).sum();
    SuperBlock { d: f16_at(b, 0), dmin: f16_at(b, 2), dot: scaled_dot(&q, &a.qs, &scales), mins }
}

fn dot_q4_k(w: &[u8], a: &[Q8KBlock]) -> f32 {
    dot_kquant(w, a, 144, |b, a| k4_superblock(b, a, &b[16..144], None))
}

fn dot_q5_k(w: &[u8], a: &[Q8KBlock]) -> f32 {
    dot_kquant(w, a, 176, |b, a| k4_superblock(b, a, &b[48..176], Some(&b[16..48])))
}

fn dot_q6_k(w: &[u8], a: &[Q8KBlock]) -> f32 {
    dot_kquant(w, a, 210, |b, a| {
        let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
        // Value 128h + 32k + l: nibble k/2 of ql[64h + 32(k%2) + l], bits 2k of qh[32h + l].
        let q = std::array::from_fn(|v| {
            let (h, k, l) = (v / 128, (v / 32) % 4, v % 32);
            let low = (ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0F;
            let high = (qh[32 * h + l] >> (2 * k)) & 3;
            (low | high << 4) as i32 - 32
        });
        let scales: Vec<i32> = scales.iter().map(|&s| s as i8 as i32).collect();
        SuperBlock { d: f16_at(b, 208), dmin: 0.0, dot: scaled_dot(&q, &a.qs, &scales), mins: 0 }
    })
}

/// `Σ w_i * a_i` in f32, eight running sums (so that the compiler can vectorize it).
fn dot_float(w: impl Iterator<Item = f32>, a: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    for (i, (w, a)) in w.zip(a).enumerate() {
        sums[i % 8] += w * a;
    }
    sums.iter().sum()
}

fn dot_f32(w: &[u8], a: &[f32]) -> f32 {
    dot_float(w.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])), a)
}

fn dot_f16(w: &[u8], a: &[f32]) -> f32 {
    dot_float(w.chunks_exact(2).map(|b| f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))), a)
}

fn dot_bf16(w: &[u8], a: &[f32]) -> f32 {
    dot_float(w.chunks_exact(2).map(|b| bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))), a)
}

/// Runs `dot` for every (row, token) pair of a tile.
fn each_pair<'a, A: ?Sized + 'a>(
    tile: &Tile<'a>,
    out: &mut TileOut,
    acts: impl Fn(&Tile<'a>, usize) -> &'a A,
    dot: impl Fn(&[u8], &A) -> f32,
) {
    for t in 0..tile.tokens {
        let a = acts(tile, t);
        for r in 0..tile.rows {
            out[r * MAX_TOKENS + t] = dot(tile.row(r), a);
        }
    }
}

macro_rules! scalar_kernels {
    ($($ty:ident => $dot:ident, $acts:ident;)*) => {
        /// Tile entry points, one per type, named after the dot product they run.
        mod tiles {
            use super::*;
            $(
                pub(super) fn $dot(tile: &Tile, out: &mut TileOut) {
                    each_pair(tile, out, |t, i| t.$acts(i), super::$dot);
                }
            )*
        }

        pub(crate) fn kernel(ty: GgmlType) -> Option<Kernel> {
            let run: fn(&Tile, &mut TileOut) = match ty {
                $(GgmlType::$ty => tiles::$dot,)*
                _ => return None,
            };
            Some(Kernel { rows: 4, tokens: 4, layout: Layout::Ggml, run })
        }
    };
}

scalar_kernels! {
    Q4_0 => dot_q4_0, q8;
    Q4_1 => dot_q4_1, q8;
    Q5_0 => dot_q5_0, q8;
    Q5_1 => dot_q5_1, q8;
    Q8_0 => dot_q8_0, q8;
    Q2_K => dot_q2_k, q8k;
    Q3_K => dot_q3_k, q8k;
    Q4_K => dot_q4_k, q8k;
    Q5_K => dot_q5_k, q8k;
    Q6_K => dot_q6_k, q8k;
    F16 => dot_f16, floats;
    BF16 => dot_bf16, floats;
    F32 => dot_f32, floats;
}
