//! The k-quants in ggml's layout (Q2_K and Q3_K always, the others when the rows do not fill the
//! interleaved layout's groups) against Q8_K activations. A 256-value super-block is walked in
//! 32-value chunks:
//! `maddubs` multiplies unsigned quants by activations into i16 pairs, and `dot2` multiplies
//! those by the chunk's sub-block scales into i32 lanes, so the whole super-block is summed in
//! integers and scaled once. Minimums and zero points never touch the quants: they are
//! `Σ_g min_g · Σ_{i∈g} a_i`, one `madd` of the scales or minimums with Q8_K's group sums.
//!
//! Q4_K/Q5_K have 8 sub-blocks of 32 (6-bit scales and minimums); Q2_K, Q3_K and Q6_K have 16 of
//! 16 (a chunk's lower 8 i16 lanes belong to one group, its upper 8 to the next).

use std::arch::x86_64::*;

use super::{Isa, bytes, f16_at, hsum, load};
use crate::activation::Q8KBlock;
use crate::kernels::{MAX_TOKENS, Tile, TileOut};

/// Shuffle controls that broadcast i16 lane `j` of a 128-bit half to all 8 lanes of both halves.
static BROADCAST_I16: [[u8; 32]; 8] = {
    let mut c = [[0u8; 32]; 8];
    let mut j = 0;
    while j < 8 {
        let mut i = 0;
        while i < 32 {
            c[j][i] = (2 * j + i % 2) as u8;
            i += 1;
        }
        j += 1;
    }
    c
};

/// Shuffle controls that repeat byte `2k` eight times, then byte `2k + 1` eight times: the two
/// 16-value groups' scales of 32-value chunk `k`.
static GROUP_PAIR: [[u8; 16]; 8] = {
    let mut c = [[0u8; 16]; 8];
    let mut k = 0;
    while k < 8 {
        let mut i = 0;
        while i < 16 {
            c[k][i] = (2 * k + i / 8) as u8;
            i += 1;
        }
        k += 1;
    }
    c
};

#[inline(always)]
unsafe fn word(p: *const u8) -> i32 {
    unsafe { p.cast::<i32>().read_unaligned() }
}

/// Pointers to rows `row..row + R` and to tokens `token..token + T` of a tile.
#[inline(always)]
fn operands<const R: usize, const T: usize>(
    tile: &Tile,
    row: usize,
    token: usize,
) -> ([*const u8; R], [*const Q8KBlock; T]) {
    let mut rows = [std::ptr::null::<u8>(); R];
    for r in 0..R {
        rows[r] = tile.row(row + r).as_ptr();
    }
    // Blocks `0..row_bytes / block bytes` of each are in bounds: a token has a Q8_K block per
    // super-block of the row.
    let mut acts = [std::ptr::null::<Q8KBlock>(); T];
    for t in 0..T {
        acts[t] = tile.q8k(token + t).as_ptr();
    }
    (rows, acts)
}

/// Q8_K's 16 group sums as 16 i16 lanes.
#[inline(always)]
unsafe fn group_sums(a: &Q8KBlock) -> __m256i {
    unsafe { _mm256_loadu_si256(a.bsums.as_ptr().cast()) }
}

#[inline(always)]
fn store<const R: usize, const T: usize>(out: &mut TileOut, row: usize, token: usize, sums: [[f32; T]; R]) {
    for r in 0..R {
        for t in 0..T {
            out[(row + r) * MAX_TOKENS + token + t] = sums[r][t];
        }
    }
}

/// Q4_K (`FIVE = false`) and Q5_K.
#[inline(always)]
unsafe fn k4<I: Isa, const FIVE: bool, const R: usize, const T: usize>(
    tile: &Tile,
    row: usize,
    token: usize,
    out: &mut TileOut,
) {
    unsafe {
        let bytes_per_block = if FIVE { 176 } else { 144 };
        let quants_at = if FIVE { 48 } else { 16 };
        let (rows, acts) = operands::<R, T>(tile, row, token);
        let zero = _mm256_setzero_si256();
        let mut acc = [[_mm256_setzero_ps(); T]; R];
        let mut min_acc = [[_mm_setzero_ps(); T]; R];
        for b in 0..tile.row_bytes / bytes_per_block {
            let (mut d, mut dmin, mut scales, mut mins) = ([0f32; R], [0f32; R], [zero; R], [_mm_setzero_si128(); R]);
            for r in 0..R {
                let block = rows[r].add(b * bytes_per_block);
                d[r] = f16_at(block);
                dmin[r] = f16_at(block.add(2));
                // Bytes 4..16: six-bit scales and minimums of the 8 sub-blocks, rearranged into
                // bytes sc0..sc7, m0..m7.
                let (w0, w1, w2) = (word(block.add(4)), word(block.add(8)), word(block.add(12)));
                let low6 = 0x3F3F3F3F;
                let (nib, top) = (0x0F0F0F0F, 0x03030303);
                let sc_high = (w2 & nib) | ((w0 >> 6) & top) << 4;
                let m_high = ((w2 >> 4) & nib) | ((w1 >> 6) & top) << 4;
                let packed = _mm_set_epi32(m_high, w1 & low6, sc_high, w0 & low6);
                scales[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(packed));
                mins[r] = _mm_cvtepu8_epi16(_mm_srli_si128(packed, 8));
            }
            let mut sums = [[zero; T]; R];
            for c in 0..4 {
                let mut y = [[zero; 2]; T];
                for t in 0..T {
                    let qs = (*acts[t].add(b)).qs.as_ptr().add(64 * c).cast::<u8>();
                    y[t] = [load(qs), load(qs.add(32))];
                }
                let (lo_scale, hi_scale) =
                    (load(BROADCAST_I16[2 * c].as_ptr()), load(BROADCAST_I16[2 * c + 1].as_ptr()));
                for r in 0..R {
                    let block = rows[r].add(b * bytes_per_block);
                    let bits = load(block.add(quants_at + 32 * c));
                    let mut lo = _mm256_and_si256(bits, bytes(0x0F));
                    let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), bytes(0x0F));
                    if FIVE {
                        // The fifth bits: bits 2c (low nibbles) and 2c + 1 of byte l, moved to bit 4.
                        let high = _mm256_srl_epi16(load(block.add(16)), _mm_cvtsi32_si128(2 * c as i32));
                        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16::<4>(high), bytes(0x10)));
                        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16::<3>(high), bytes(0x10)));
                    }
                    let (s_lo, s_hi) =
                        (_mm256_shuffle_epi8(scales[r], lo_scale), _mm256_shuffle_epi8(scales[r], hi_scale));
                    for t in 0..T {
                        let p_lo = _mm256_maddubs_epi16(lo, y[t][0]);
                        let p_hi = _mm256_maddubs_epi16(hi, y[t][1]);
                        sums[r][t] = I::dot2(I::dot2(sums[r][t], p_lo, s_lo), p_hi, s_hi);
                    }
                }
            }
            for t in 0..T {
                let a = &*acts[t].add(b);
                let bsums = group_sums(a);
                // Sums of 32 values: adjacent pairs of the 16-value sums.
                let sums32 = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
                for r in 0..R {
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r][t]), _mm256_set1_ps(d[r] * a.d), acc[r][t]);
                    let m = _mm_cvtepi32_ps(_mm_madd_epi16(mins[r], sums32));
                    min_acc[r][t] = _mm_fmadd_ps(m, _mm_set1_ps(dmin[r] * a.d), min_acc[r][t]);
                }
            }
        }
        let mut sums = [[0f32; T]; R];
        for r in 0..R {
            for t in 0..T {
                let m = min_acc[r][t];
                let m = _mm_add_ps(m, _mm_movehl_ps(m, m));
                sums[r][t] = hsum(acc[r][t]) - _mm_cvtss_f32(_mm_add_ss(m, _mm_movehdup_ps(m)));
            }
        }
        store(out, row, token, sums);
    }
}

/// How a k-quant with 16 groups of 16 stores a super-block.
trait Groups16 {
    const BYTES: usize;
    /// Subtracted from every (unsigned) quant: 32 for Q6_K, 4 for Q3_K, 0 for Q2_K.
    const ZERO: i16;
    /// `ZERO` is a power of two: its bits to shift by.
    const ZERO_BITS: i32 = Self::ZERO.trailing_zeros() as i32;
    /// Whether groups have minimums (Q2_K), weighted by the f16 after the scale.
    const MINS: bool;
    /// The f16 scale's offset.
    const D_AT: usize;
    /// The 16 group scales as i8 (in value order), and for Q2_K the 16 minimums as i16.
    unsafe fn scales(block: *const u8) -> (__m128i, __m256i);
    /// The unsigned quants of values `128h..128h + 128`, in four vectors of 32.
    unsafe fn half(block: *const u8, h: usize) -> [__m256i; 4];
}

struct Q2K;
struct Q3K;
struct Q6K;

impl Groups16 for Q2K {
    const BYTES: usize = 84;
    const ZERO: i16 = 0;
    const MINS: bool = true;
    const D_AT: usize = 80;
    #[inline(always)]
    unsafe fn scales(block: *const u8) -> (__m128i, __m256i) {
        unsafe {
            let packed = _mm_loadu_si128(block.cast());
            let scales = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
            let mins = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
            (scales, _mm256_cvtepu8_epi16(mins))
        }
    }
    #[inline(always)]
    unsafe fn half(block: *const u8, h: usize) -> [__m256i; 4] {
        // Value 128h + 32s + l: bits 2s of byte 16 + 32h + l.
        unsafe {
            let bits = load(block.add(16 + 32 * h));
            let three = bytes(3);
            [
                _mm256_and_si256(bits, three),
                _mm256_and_si256(_mm256_srli_epi16::<2>(bits), three),
                _mm256_and_si256(_mm256_srli_epi16::<4>(bits), three),
                _mm256_and_si256(_mm256_srli_epi16::<6>(bits), three),
            ]
        }
    }
}

impl Groups16 for Q3K {
    const BYTES: usize = 110;
    const ZERO: i16 = 4;
    const MINS: bool = false;
    const D_AT: usize = 108;
    #[inline(always)]
    unsafe fn scales(block: *const u8) -> (__m128i, __m256i) {
        unsafe {
            // Low nibbles of groups 0-7 in bytes 96..104 (groups 8-15 in their high nibbles),
            // high 2 bits in bytes 104..108, two bits per group and byte.
            let (a0, a1, a2) = (word(block.add(96)), word(block.add(100)), word(block.add(104)));
            let (nib, top) = (0x0F0F0F0F, 0x03030303);
            let s0 = (a0 & nib) | (a2 & top) << 4;
            let s1 = (a1 & nib) | ((a2 >> 2) & top) << 4;
            let s2 = ((a0 >> 4) & nib) | ((a2 >> 4) & top) << 4;
            let s3 = ((a1 >> 4) & nib) | ((a2 >> 6) & top) << 4;
            (_mm_sub_epi8(_mm_set_epi32(s3, s2, s1, s0), _mm_set1_epi8(32)), _mm256_setzero_si256())
        }
    }
    #[inline(always)]
    unsafe fn half(block: *const u8, h: usize) -> [__m256i; 4] {
        // Value 128h + 32s + l: bits 2s of byte 32 + 32h + l, plus 4 if bit 4h + s of mask byte l.
        unsafe {
            let (low, three, four) = (load(block.add(32 + 32 * h)), bytes(3), bytes(4));
            let mask = _mm256_srl_epi16(load(block), _mm_cvtsi32_si128(4 * h as i32));
            [
                _mm256_or_si256(_mm256_and_si256(low, three), _mm256_and_si256(_mm256_slli_epi16::<2>(mask), four)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<2>(low), three),
                    _mm256_and_si256(_mm256_slli_epi16::<1>(mask), four),
                ),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(low), three), _mm256_and_si256(mask, four)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<6>(low), three),
                    _mm256_and_si256(_mm256_srli_epi16::<1>(mask), four),
                ),
            ]
        }
    }
}

impl Groups16 for Q6K {
    const BYTES: usize = 210;
    const ZERO: i16 = 32;
    const MINS: bool = false;
    const D_AT: usize = 208;
    #[inline(always)]
    unsafe fn scales(block: *const u8) -> (__m128i, __m256i) {
        unsafe { (_mm_loadu_si128(block.add(192).cast()), _mm256_setzero_si256()) }
    }
    #[inline(always)]
    unsafe fn half(block: *const u8, h: usize) -> [__m256i; 4] {
        // Value 128h + 32s + l: nibble s/2 of byte 64h + 32(s%2) + l, bits 2s of byte 128 + 32h + l.
        unsafe {
            let (ql0, ql1, qh) = (load(block.add(64 * h)), load(block.add(64 * h + 32)), load(block.add(128 + 32 * h)));
            let (nibble, top) = (bytes(0x0F), bytes(0x30));
            [
                _mm256_or_si256(_mm256_and_si256(ql0, nibble), _mm256_and_si256(_mm256_slli_epi16::<4>(qh), top)),
                _mm256_or_si256(_mm256_and_si256(ql1, nibble), _mm256_and_si256(_mm256_slli_epi16::<2>(qh), top)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(ql0), nibble), _mm256_and_si256(qh, top)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), nibble),
                    _mm256_and_si256(_mm256_srli_epi16::<2>(qh), top),
                ),
            ]
        }
    }
}

/// Q2_K, Q3_K and Q6_K.
#[inline(always)]
unsafe fn groups16<I: Isa, F: Groups16, const R: usize, const T: usize>(
    tile: &Tile,
    row: usize,
    token: usize,
    out: &mut TileOut,
) {
    unsafe {
        let (rows, acts) = operands::<R, T>(tile, row, token);
        let zero = _mm256_setzero_si256();
        let mut acc = [[_mm256_setzero_ps(); T]; R];
        let mut min_acc = [[_mm256_setzero_ps(); T]; R];
        for b in 0..tile.row_bytes / F::BYTES {
            let (mut d, mut dmin) = ([0f32; R], [0f32; R]);
            let (mut scales, mut wide_scales, mut mins) = ([_mm_setzero_si128(); R], [zero; R], [zero; R]);
            for r in 0..R {
                let block = rows[r].add(b * F::BYTES);
                d[r] = f16_at(block.add(F::D_AT));
                (scales[r], mins[r]) = F::scales(block);
                wide_scales[r] = _mm256_cvtepi8_epi16(scales[r]);
                if F::MINS {
                    dmin[r] = f16_at(block.add(F::D_AT + 2));
                }
            }
            let mut sums = [[zero; T]; R];
            for h in 0..2 {
                for r in 0..R {
                    let quants = F::half(rows[r].add(b * F::BYTES), h);
                    for s in 0..4 {
                        let (k, q) = (4 * h + s, quants[s]);
                        let pick = _mm_loadu_si128(GROUP_PAIR[k].as_ptr().cast());
                        let scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales[r], pick));
                        for t in 0..T {
                            let y = load((*acts[t].add(b)).qs.as_ptr().add(32 * k).cast());
                            sums[r][t] = I::dot2(sums[r][t], _mm256_maddubs_epi16(q, y), scale);
                        }
                    }
                }
            }
            for t in 0..T {
                let a = &*acts[t].add(b);
                let bsums = group_sums(a);
                for r in 0..R {
                    let mut sum = sums[r][t];
                    if F::ZERO != 0 {
                        // Σ_g scale_g (q - z)·a = Σ_g scale_g q·a - z Σ_g scale_g Σa.
                        let offset = _mm256_madd_epi16(wide_scales[r], bsums);
                        sum = _mm256_sub_epi32(sum, _mm256_sll_epi32(offset, _mm_cvtsi32_si128(F::ZERO_BITS)));
                    }
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d[r] * a.d), acc[r][t]);
                    if F::MINS {
                        let m = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins[r], bsums));
                        min_acc[r][t] = _mm256_fmadd_ps(m, _mm256_set1_ps(dmin[r] * a.d), min_acc[r][t]);
                    }
                }
            }
        }
        let mut sums = [[0f32; T]; R];
        for r in 0..R {
            for t in 0..T {
                sums[r][t] = hsum(acc[r][t]) - if F::MINS { hsum(min_acc[r][t]) } else { 0.0 };
            }
        }
        store(out, row, token, sums);
    }
}

macro_rules! entry_points {
    ($($name:ident => $call:ident::<$($arg:ty),*>,)*) => {$(
        #[inline(always)]
        pub(super) unsafe fn $name<I: Isa, const R: usize, const T: usize>(
            tile: &Tile,
            row: usize,
            token: usize,
            out: &mut TileOut,
        ) {
            unsafe { $call::<I, $($arg,)* R, T>(tile, row, token, out) }
        }
    )*};
}

entry_points! {
    q2_k => groups16::<Q2K>,
    q3_k => groups16::<Q3K>,
    q6_k => groups16::<Q6K>,
}

#[inline(always)]
pub(super) unsafe fn q4_k<I: Isa, const R: usize, const T: usize>(
    tile: &Tile,
    row: usize,
    token: usize,
    out: &mut TileOut,
) {
    unsafe { k4::<I, false, R, T>(tile, row, token, out) }
}

#[inline(always)]
pub(super) unsafe fn q5_k<I: Isa, const R: usize, const T: usize>(
    tile: &Tile,
    row: usize,
    token: usize,
    out: &mut TileOut,
) {
    unsafe { k4::<I, true, R, T>(tile, row, token, out) }
}
