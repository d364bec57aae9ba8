//! Q4_0, Q4_1, Q8_0, Q4_K and Q6_K on the interleaved layout (see [`crate::layout`]): lane `r`
//! of every vector belongs to row `r` of a group of 8, so a tile is 8 rows by `T` tokens, the
//! quants are multiplied by 4 broadcast activation bytes, and each token's result for the 8 rows
//! is one f32 vector.

use std::arch::x86_64::*;

use super::{Isa, bytes, load};
use crate::activation::{Q8Block, Q8KBlock};
use crate::kernels::{MAX_TOKENS, Tile, TileOut};
use crate::layout::GROUP;

/// 4 activation bytes at `p`, broadcast to every lane.
#[inline(always)]
unsafe fn broadcast4(p: *const i8) -> __m256i {
    unsafe { _mm256_set1_epi32(p.cast::<i32>().read_unaligned()) }
}

#[inline(always)]
unsafe fn store<const T: usize>(out: &mut TileOut, token: usize, sums: [__m256; T]) {
    unsafe {
        for t in 0..T {
            let mut lanes = [0f32; GROUP];
            _mm256_storeu_ps(lanes.as_mut_ptr(), sums[t]);
            for r in 0..GROUP {
                out[r * MAX_TOKENS + token + t] = lanes[r];
            }
        }
    }
}

/// How a legacy type (32-value blocks) is stored interleaved: per 8 rows and block, the 8 `d`,
/// for Q4_1 the 8 `m`, then the quants, decoded to 8 vectors of 4 values per row.
trait Legacy {
    const BYTES: usize;
    /// Subtracted from every quant (Q4_0's 8).
    const ZERO: i32;
    const MIN: bool;
    const SIGNED: bool;
    /// Which 4 activations each quant vector takes: values `OFFSETS[k]..OFFSETS[k] + 4`.
    const OFFSETS: [usize; 8];
    unsafe fn quants(p: *const u8) -> [__m256i; 8];
}

/// 4 vectors of nibbles: low nibbles of vector `k` are values `4k..`, high ones `16 + 4k..`.
#[inline(always)]
unsafe fn nibble_quants(p: *const u8) -> [__m256i; 8] {
    unsafe {
        let mut q = [_mm256_setzero_si256(); 8];
        for k in 0..4 {
            let v = load(p.add(32 * k));
            q[2 * k] = _mm256_and_si256(v, bytes(0x0F));
            q[2 * k + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(v), bytes(0x0F));
        }
        q
    }
}

const NIBBLE_OFFSETS: [usize; 8] = [0, 16, 4, 20, 8, 24, 12, 28];

struct Q4_0;
struct Q4_1;
struct Q8_0;

impl Legacy for Q4_0 {
    const BYTES: usize = 18;
    const ZERO: i32 = 8;
    const MIN: bool = false;
    const SIGNED: bool = false;
    const OFFSETS: [usize; 8] = NIBBLE_OFFSETS;
    #[inline(always)]
    unsafe fn quants(p: *const u8) -> [__m256i; 8] {
        unsafe { nibble_quants(p.add(16)) }
    }
}

impl Legacy for Q4_1 {
    const BYTES: usize = 20;
    const ZERO: i32 = 0;
    const MIN: bool = true;
    const SIGNED: bool = false;
    const OFFSETS: [usize; 8] = NIBBLE_OFFSETS;
    #[inline(always)]
    unsafe fn quants(p: *const u8) -> [__m256i; 8] {
        unsafe { nibble_quants(p.add(32)) }
    }
}

impl Legacy for Q8_0 {
    const BYTES: usize = 34;
    const ZERO: i32 = 0;
    const MIN: bool = false;
    const SIGNED: bool = true;
    const OFFSETS: [usize; 8] = [0, 4, 8, 12, 16, 20, 24, 28];
    #[inline(always)]
    unsafe fn quants(p: *const u8) -> [__m256i; 8] {
        unsafe {
            let mut q = [_mm256_setzero_si256(); 8];
            for k in 0..8 {
                q[k] = load(p.add(16 + 32 * k));
            }
            q
        }
    }
}

/// `Σ_b d_r d_a Σ(q - z)·a (+ m_r s_a)`: each block's integer sum starts from `-z Σa`.
#[inline(always)]
unsafe fn legacy<I: Isa, F: Legacy, const T: usize>(tile: &Tile, token: usize, out: &mut TileOut) {
    unsafe {
        let mut acts = [std::ptr::null::<Q8Block>(); T];
        for t in 0..T {
            acts[t] = tile.q8(token + t).as_ptr();
        }
        let mut acc = [_mm256_setzero_ps(); T];
        for b in 0..tile.row_bytes / F::BYTES {
            let p = tile.weights.as_ptr().add(b * GROUP * F::BYTES);
            let d = _mm256_cvtph_ps(_mm_loadu_si128(p.cast()));
            let m = if F::MIN { _mm256_cvtph_ps(_mm_loadu_si128(p.add(16).cast())) } else { _mm256_setzero_ps() };
            let q = F::quants(p);
            for t in 0..T {
                let a = &*acts[t].add(b);
                let mut y = [_mm256_setzero_si256(); 8];
                for k in 0..8 {
                    y[k] = broadcast4(a.qs.as_ptr().add(F::OFFSETS[k]));
                }
                let sum = if F::SIGNED {
                    I::dot_signed(_mm256_setzero_si256(), q, y, a.sum)
                } else {
                    I::dot_unsigned::<4>(_mm256_set1_epi32(-F::ZERO * a.sum), q, y)
                };
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, _mm256_set1_ps(a.d)), acc[t]);
                if F::MIN {
                    acc[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(a.s), acc[t]);
                }
            }
        }
        store(out, token, acc);
    }
}

macro_rules! legacy_entry_points {
    ($($name:ident => $format:ty,)*) => {$(
        #[inline(always)]
        pub(super) unsafe fn $name<I: Isa, const T: usize>(tile: &Tile, token: usize, out: &mut TileOut) {
            unsafe { legacy::<I, $format, T>(tile, token, out) }
        }
    )*};
}

#[inline(always)]
pub(super) unsafe fn q4_k<I: Isa, const T: usize>(tile: &Tile, token: usize, out: &mut TileOut) {
    unsafe { k4::<I, false, T>(tile, token, out) }
}

#[inline(always)]
pub(super) unsafe fn q5_k<I: Isa, const T: usize>(tile: &Tile, token: usize, out: &mut TileOut) {
    unsafe { k4::<I, true, T>(tile, token, out) }
}

legacy_entry_points! {
    q4_0 => Q4_0,
    q4_1 => Q4_1,
    q8_0 => Q8_0,
}

/// Q4_K and Q5_K (`FIVE`): per super-block `d_r d_a Σ_j sc_rj Σ q·a - dmin_r d_a Σ_j m_rj Σa`,
/// in integers up to the two scale vectors.
#[inline(always)]
unsafe fn k4<I: Isa, const FIVE: bool, const T: usize>(tile: &Tile, token: usize, out: &mut TileOut) {
    unsafe {
        let bytes_per_block = if FIVE { 176 } else { 144 };
        let mut acts = [std::ptr::null::<Q8KBlock>(); T];
        for t in 0..T {
            acts[t] = tile.q8k(token + t).as_ptr();
        }
        let zero = _mm256_setzero_si256();
        let mut acc = [_mm256_setzero_ps(); T];
        for b in 0..tile.row_bytes / bytes_per_block {
            let p = tile.weights.as_ptr().add(b * GROUP * bytes_per_block);
            // Scale and minimum j of the 8 rows, one per lane; minimums as i16 pairs (j = 2i, 2i + 1).
            let (mut scales, mut min_pairs) = ([zero; 8], [zero; 4]);
            for j in 0..8 {
                let low = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(32 + 8 * j).cast()));
                let high = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(96 + 8 * (j % 4)).cast()));
                let high = _mm256_srl_epi32(high, _mm_cvtsi32_si128(4 * (j / 4) as i32));
                let three = _mm256_set1_epi32(3);
                scales[j] = _mm256_or_si256(
                    _mm256_and_si256(low, _mm256_set1_epi32(15)),
                    _mm256_slli_epi32::<4>(_mm256_and_si256(high, three)),
                );
                let min = _mm256_or_si256(
                    _mm256_srli_epi32::<4>(low),
                    _mm256_slli_epi32::<4>(_mm256_and_si256(_mm256_srli_epi32::<2>(high), three)),
                );
                min_pairs[j / 2] =
                    _mm256_or_si256(min_pairs[j / 2], _mm256_sll_epi32(min, _mm_cvtsi32_si128(16 * (j % 2) as i32)));
            }
            let mut sums = [zero; T];
            for j in 0..8 {
                // Sub-block j: the low (even j) or high nibbles of chunk j / 2.
                let quants = if FIVE { 384 } else { 128 };
                let (chunk, shift) = (p.add(quants + (j / 2) * 8 * 32), _mm_cvtsi32_si128(4 * (j % 2) as i32));
                let mut q = [zero; 8];
                for k in 0..8 {
                    q[k] = _mm256_and_si256(_mm256_srl_epi16(load(chunk.add(32 * k)), shift), bytes(0x0F));
                    if FIVE {
                        // Bit j of the fifth-bit plane's byte, moved to bit 4.
                        let high = _mm256_srl_epi16(load(p.add(128 + 32 * k)), _mm_cvtsi32_si128(j as i32));
                        q[k] = _mm256_or_si256(q[k], _mm256_and_si256(_mm256_slli_epi16::<4>(high), bytes(0x10)));
                    }
                }
                for t in 0..T {
                    let y = (*acts[t].add(b)).qs.as_ptr().add(32 * j);
                    let mut groups = [zero; 8];
                    for k in 0..8 {
                        groups[k] = broadcast4(y.add(4 * k));
                    }
                    let s = if FIVE {
                        I::dot_unsigned::<5>(zero, q, groups)
                    } else {
                        I::dot_unsigned::<4>(zero, q, groups)
                    };
                    sums[t] = _mm256_add_epi32(sums[t], _mm256_mullo_epi32(s, scales[j]));
                }
            }
            let d = _mm256_cvtph_ps(_mm_loadu_si128(p.cast()));
            let dmin = _mm256_cvtph_ps(_mm_loadu_si128(p.add(16).cast()));
            for t in 0..T {
                let a = &*acts[t].add(b);
                // Σa per 32 values as i16, adjacent sub-blocks paired in each i32 lane.
                let bsums = _mm256_loadu_si256(a.bsums.as_ptr().cast());
                let sums32 = _mm256_castsi128_si256(_mm_hadd_epi16(
                    _mm256_castsi256_si128(bsums),
                    _mm256_extracti128_si256::<1>(bsums),
                ));
                let mut mins = zero;
                for i in 0..4 {
                    let pair = _mm256_permutevar8x32_epi32(sums32, _mm256_set1_epi32(i as i32));
                    mins = _mm256_add_epi32(mins, _mm256_madd_epi16(min_pairs[i], pair));
                }
                let da = _mm256_set1_ps(a.d);
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[t]), _mm256_mul_ps(d, da), acc[t]);
                acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_mul_ps(dmin, da), acc[t]);
            }
        }
        store(out, token, acc);
    }
}

/// Q6_K: per super-block `d_r d_a Σ_g sc_rg Σ (q - 32)·a`, each group's sum starting from
/// `-32 Σa` (Q8_K's group sums) so that the quants are used unsigned.
#[inline(always)]
pub(super) unsafe fn q6_k<I: Isa, const T: usize>(tile: &Tile, token: usize, out: &mut TileOut) {
    unsafe {
        let mut acts = [std::ptr::null::<Q8KBlock>(); T];
        for t in 0..T {
            acts[t] = tile.q8k(token + t).as_ptr();
        }
        let zero = _mm256_setzero_si256();
        let mut acc = [_mm256_setzero_ps(); T];
        for b in 0..tile.row_bytes / 210 {
            let p = tile.weights.as_ptr().add(b * GROUP * 210);
            // Per half h: 256 bytes of qh, then 2 x 256 of ql (see `layout`).
            let mut sums = [zero; T];
            // Values 128h + 32s + 4k + j: nibble s / 2 of ql byte 64h + 32(s % 2) + 4k + j, bits
            // 2s of qh byte 32h + 4k + j (each in the vectors of its 32 bytes).
            for h in 0..2 {
                for s in 0..4 {
                    let (qh, low) = (p.add(144 + 768 * h), p.add(144 + 768 * h + 256 * (1 + s % 2)));
                    let (low_shift, high_shift) =
                        (_mm_cvtsi32_si128(4 * (s / 2) as i32), _mm_cvtsi32_si128(2 * s as i32));
                    let mut q = [zero; 8];
                    for k in 0..8 {
                        let nibble = _mm256_and_si256(_mm256_srl_epi16(load(low.add(32 * k)), low_shift), bytes(0x0F));
                        let high = _mm256_srl_epi16(load(qh.add(32 * k)), high_shift);
                        q[k] = _mm256_or_si256(nibble, _mm256_and_si256(_mm256_slli_epi16::<4>(high), bytes(0x30)));
                    }
                    let g = 8 * h + 2 * s;
                    let scales = [
                        _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(16 + 8 * g).cast())),
                        _mm256_cvtepi8_epi32(_mm_loadl_epi64(p.add(16 + 8 * (g + 1)).cast())),
                    ];
                    for t in 0..T {
                        let a = &*acts[t].add(b);
                        let y = a.qs.as_ptr().add(16 * g);
                        for half in 0..2 {
                            let mut s = _mm256_set1_epi32(-32 * *a.bsums.get_unchecked(g + half) as i32);
                            for k in 0..4 {
                                s = I::dot4(s, q[4 * half + k], broadcast4(y.add(16 * half + 4 * k)));
                            }
                            sums[t] = _mm256_add_epi32(sums[t], _mm256_mullo_epi32(s, scales[half]));
                        }
                    }
                }
            }
            let d = _mm256_cvtph_ps(_mm_loadu_si128(p.cast()));
            for t in 0..T {
                let da = _mm256_set1_ps((*acts[t].add(b)).d);
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[t]), _mm256_mul_ps(d, da), acc[t]);
            }
        }
        store(out, token, acc);
    }
}
