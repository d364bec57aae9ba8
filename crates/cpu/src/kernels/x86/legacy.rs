//! Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 in ggml's layout (Q5_0 and Q5_1 always, the others when the
//! rows do not fill the interleaved layout's groups) against Q8_0/Q8_1 activations: one 32-value
//! block is one 256-bit vector of quants, multiplied by the activations' vector into 8 i32 lanes, converted
//! and scaled by `d_w * d_a` into an f32 accumulator per (row, token).
//!
//! The 4- and 5-bit quants are used unsigned (`u8 × i8` is what the instructions multiply), and
//! their zero point is taken out of the activations instead: `Σ(q - z)a = Σ q·a - z·Σa`, where
//! `-z·Σa` per lane is computed once per token and block and is the accumulator the quants'
//! products start from. Q8_0 weights are signed, so their signs move onto the activations.

use std::arch::x86_64::*;

use super::{Isa, bytes, f16_at, hsum, load};
use crate::activation::Q8Block;
use crate::kernels::{MAX_TOKENS, Tile, TileOut};

/// How one legacy type stores a block.
trait Format {
    const BYTES: usize;
    /// Subtracted from every quant (8 or 16), or 0.
    const ZERO: i8;
    /// Whether the block has a minimum `m` (at byte 2) added as `m * s_a`.
    const MIN: bool;
    /// Whether the quants are signed bytes (Q8_0).
    const SIGNED: bool = false;
    /// The 32 quants, in value order.
    unsafe fn quants(block: *const u8) -> __m256i;
}

/// 16 bytes of nibbles: values 0..16 are the low nibbles, 16..32 the high ones.
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> __m256i {
    unsafe {
        let v = _mm_loadu_si128(p.cast());
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), bytes(0x0F))
    }
}

/// The 32 bits at `p` as bytes `0x10` (bit set) or 0, bit `i` to byte `i`.
#[inline(always)]
unsafe fn fifth_bits(p: *const u8) -> __m256i {
    unsafe {
        let word = _mm256_set1_epi32(p.cast::<i32>().read_unaligned());
        // Byte i takes byte i / 8 of the word, then keeps bit i % 8.
        let spread =
            _mm256_shuffle_epi8(word, _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
        let bit = _mm256_set1_epi64x(0x8040201008040201u64 as i64);
        _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), bytes(0x10))
    }
}

struct Q4_0;
struct Q4_1;
struct Q5_0;
struct Q5_1;
struct Q8_0;

impl Format for Q4_0 {
    const BYTES: usize = 18;
    const ZERO: i8 = 8;
    const MIN: bool = false;
    #[inline(always)]
    unsafe fn quants(block: *const u8) -> __m256i {
        unsafe { nibbles(block.add(2)) }
    }
}

impl Format for Q4_1 {
    const BYTES: usize = 20;
    const ZERO: i8 = 0;
    const MIN: bool = true;
    #[inline(always)]
    unsafe fn quants(block: *const u8) -> __m256i {
        unsafe { nibbles(block.add(4)) }
    }
}

impl Format for Q5_0 {
    const BYTES: usize = 22;
    const ZERO: i8 = 16;
    const MIN: bool = false;
    #[inline(always)]
    unsafe fn quants(block: *const u8) -> __m256i {
        unsafe { _mm256_or_si256(nibbles(block.add(6)), fifth_bits(block.add(2))) }
    }
}

impl Format for Q5_1 {
    const BYTES: usize = 24;
    const ZERO: i8 = 0;
    const MIN: bool = true;
    #[inline(always)]
    unsafe fn quants(block: *const u8) -> __m256i {
        unsafe { _mm256_or_si256(nibbles(block.add(8)), fifth_bits(block.add(4))) }
    }
}

impl Format for Q8_0 {
    const BYTES: usize = 34;
    const ZERO: i8 = 0;
    const MIN: bool = false;
    const SIGNED: bool = true;
    #[inline(always)]
    unsafe fn quants(block: *const u8) -> __m256i {
        unsafe { load(block.add(2)) }
    }
}

/// Rows `row..row + R` times tile tokens `token..token + T`.
#[inline(always)]
unsafe fn product<I: Isa, F: Format, const R: usize, const T: usize>(
    tile: &Tile,
    row: usize,
    token: usize,
    out: &mut TileOut,
) {
    unsafe {
        let blocks = tile.row_bytes / F::BYTES;
        let mut rows = [std::ptr::null::<u8>(); R];
        for r in 0..R {
            rows[r] = tile.row(row + r).as_ptr();
        }
        let mut acts = [std::ptr::null::<Q8Block>(); T];
        for t in 0..T {
            acts[t] = tile.q8(token + t).as_ptr();
        }
        let zero = _mm256_setzero_si256();
        let mut acc = [[_mm256_setzero_ps(); T]; R];
        let mut mins = [[0f32; T]; R];
        for b in 0..blocks {
            let (mut q, mut d, mut m) = ([zero; R], [0f32; R], [0f32; R]);
            for r in 0..R {
                let block = rows[r].add(b * F::BYTES);
                q[r] = F::quants(block);
                d[r] = f16_at(block);
                if F::MIN {
                    m[r] = f16_at(block.add(2));
                }
            }
            for t in 0..T {
                let a = &*acts[t].add(b);
                let y = load(a.qs.as_ptr().cast());
                // -z·Σa per lane, the start of every row's sum for this token and block.
                let start = if F::ZERO != 0 { _mm256_sub_epi32(zero, I::dot4(zero, bytes(F::ZERO), y)) } else { zero };
                for r in 0..R {
                    let sum = if F::SIGNED {
                        I::dot4(zero, _mm256_sign_epi8(q[r], q[r]), _mm256_sign_epi8(y, q[r]))
                    } else {
                        I::dot4(start, q[r], y)
                    };
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(d[r] * a.d), acc[r][t]);
                    if F::MIN {
                        mins[r][t] += m[r] * a.s;
                    }
                }
            }
        }
        for r in 0..R {
            for t in 0..T {
                out[(row + r) * MAX_TOKENS + token + t] = hsum(acc[r][t]) + mins[r][t];
            }
        }
    }
}

macro_rules! entry_points {
    ($($name:ident => $format:ty,)*) => {$(
        #[inline(always)]
        pub(super) unsafe fn $name<I: Isa, const R: usize, const T: usize>(
            tile: &Tile,
            row: usize,
            token: usize,
            out: &mut TileOut,
        ) {
            unsafe { product::<I, $format, R, T>(tile, row, token, out) }
        }
    )*};
}

entry_points! {
    q4_0 => Q4_0,
    q4_1 => Q4_1,
    q5_0 => Q5_0,
    q5_1 => Q5_1,
    q8_0 => Q8_0,
}
