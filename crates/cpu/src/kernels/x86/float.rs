//! F16, BF16 and F32 weights against activations already rounded to the weights' precision
//! (kept as f32): 8 weights widened to f32 per step, one FMA per (row, token). The products of
//! two f16 or two bf16 values are exact in f32, as in ggml's `vec_dot_f16`/`vec_dot_bf16`.

use std::arch::x86_64::*;

use super::{Isa, hsum};
use crate::kernels::{MAX_TOKENS, Tile, TileOut};

trait Format {
    const BYTES: usize;
    /// 8 weights at `p`, widened.
    unsafe fn load8(p: *const u8) -> __m256;
    /// One weight at `p`, widened (for rows whose length is not a multiple of 8).
    fn load1(p: &[u8]) -> f32;
}

struct F16;
struct BF16;
struct F32;

impl Format for F16 {
    const BYTES: usize = 2;
    #[inline(always)]
    unsafe fn load8(p: *const u8) -> __m256 {
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
    fn load1(p: &[u8]) -> f32 {
        selene_gguf::codec::f16_bits_to_f32(u16::from_le_bytes([p[0], p[1]]))
    }
}

impl Format for BF16 {
    const BYTES: usize = 2;
    #[inline(always)]
    unsafe fn load8(p: *const u8) -> __m256 {
        unsafe { _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())), 16)) }
    }
    fn load1(p: &[u8]) -> f32 {
        selene_gguf::codec::bf16_bits_to_f32(u16::from_le_bytes([p[0], p[1]]))
    }
}

impl Format for F32 {
    const BYTES: usize = 4;
    #[inline(always)]
    unsafe fn load8(p: *const u8) -> __m256 {
        unsafe { _mm256_loadu_ps(p.cast()) }
    }
    fn load1(p: &[u8]) -> f32 {
        f32::from_le_bytes([p[0], p[1], p[2], p[3]])
    }
}

#[inline(always)]
unsafe fn product<F: Format, const R: usize, const T: usize>(tile: &Tile, row: usize, token: usize, out: &mut TileOut) {
    unsafe {
        let cols = tile.row_bytes / F::BYTES;
        let mut rows = [std::ptr::null::<u8>(); R];
        for r in 0..R {
            rows[r] = tile.row(row + r).as_ptr();
        }
        let mut acts = [std::ptr::null::<f32>(); T];
        for t in 0..T {
            acts[t] = tile.floats(token + t).as_ptr();
        }
        let mut acc = [[_mm256_setzero_ps(); T]; R];
        let whole = cols / 8 * 8;
        for i in (0..whole).step_by(8) {
            let mut w = [_mm256_setzero_ps(); R];
            for r in 0..R {
                w[r] = F::load8(rows[r].add(i * F::BYTES));
            }
            for t in 0..T {
                let x = _mm256_loadu_ps(acts[t].add(i));
                for r in 0..R {
                    acc[r][t] = _mm256_fmadd_ps(w[r], x, acc[r][t]);
                }
            }
        }
        for r in 0..R {
            for t in 0..T {
                let (w, x) = (tile.row(row + r), tile.floats(token + t));
                let tail: f32 = (whole..cols).map(|i| F::load1(&w[i * F::BYTES..]) * x[i]).sum();
                out[(row + r) * MAX_TOKENS + token + t] = hsum(acc[r][t]) + tail;
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
            unsafe { product::<$format, R, T>(tile, row, token, out) }
        }
    )*};
}

entry_points! {
    f16 => F16,
    bf16 => BF16,
    f32 => F32,
}
