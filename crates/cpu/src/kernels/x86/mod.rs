//! x86-64 kernels: AVX2 (+FMA, F16C) and AVX-512 VNNI, from one source.
//!
//! The two levels differ only in how bytes are multiplied ([`Isa`]): AVX2 has `maddubs`, whose
//! i16 results saturate, then `madd` to widen, so it sums in i16 only where the quants are small
//! enough and moves signs around for signed weights; VNNI's `vpdpbusd` accumulates four
//! products straight into an i32, so signed weights are offset by 128 instead. Every kernel is
//! written once, generic over [`Isa`], and compiled twice inside `#[target_feature]` entry
//! points; the AVX-512 build also gets 32 vector registers (AVX-512VL), which it spends on
//! larger tiles.
//! Vectors stay 256 bits wide: on the CPUs that have VNNI, 512-bit instructions do the same work
//! per cycle or clock the core down.
//!
//! Everything between an entry point and the intrinsics is `#[inline(always)]`, so that it is
//! compiled with the entry point's features.

// Index loops over the tile's rows and tokens, not iterator closures: a closure is compiled
// without the features of the `#[target_feature]` function it is written in.
#![allow(clippy::needless_range_loop)]

mod float;
mod interleaved;
mod kquant;
mod legacy;

use std::arch::x86_64::*;

use selene_gguf::GgmlType;

use super::{Kernel, Tile, TileOut};
use crate::layout::{GROUP, Layout, can_interleave};

/// The instructions that differ between the x86 levels.
pub(super) trait Isa {
    /// Lane `i`: `acc[i] + Σ_{k<4} a[4i+k] * b[4i+k]`, `a` unsigned and `b` signed bytes. Exact
    /// when each pair `a[2j]b[2j] + a[2j+1]b[2j+1]` fits an i16 (AVX2 saturates there).
    unsafe fn dot4(acc: __m256i, a: __m256i, b: __m256i) -> __m256i;
    /// Lane `i`: `acc[i] + a[2i]b[2i] + a[2i+1]b[2i+1]` on i16 lanes.
    unsafe fn dot2(acc: __m256i, a: __m256i, b: __m256i) -> __m256i;
    /// `Σ q·y` of signed bytes `q` over 8 pairs into `acc`; `sum_y` is the sum of the 32
    /// activations in `y` (each counted once: every lane of `y[k]` holds the same 4 bytes).
    unsafe fn dot_signed(acc: __m256i, q: [__m256i; 8], y: [__m256i; 8], sum_y: i32) -> __m256i;
    /// `dot4` of 8 pairs into `acc`, where every byte of `q` is below `2^BITS` (so that AVX2
    /// can sum several products in i16 before widening: `2 · (2^BITS - 1) · 127` per product).
    #[inline(always)]
    unsafe fn dot_unsigned<const BITS: u32>(acc: __m256i, q: [__m256i; 8], y: [__m256i; 8]) -> __m256i {
        let mut acc = acc;
        for k in 0..8 {
            acc = unsafe { Self::dot4(acc, q[k], y[k]) };
        }
        acc
    }
}

pub(super) struct Avx2;
pub(super) struct Vnni;

impl Isa for Avx2 {
    #[inline(always)]
    unsafe fn dot4(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1))) }
    }

    #[inline(always)]
    unsafe fn dot2(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)) }
    }

    /// The signs of `q` move onto `y` (|q| is at most 128, so pairs of products fit an i16).
    #[inline(always)]
    unsafe fn dot_signed(acc: __m256i, q: [__m256i; 8], y: [__m256i; 8], _sum_y: i32) -> __m256i {
        let mut acc = acc;
        for k in 0..8 {
            acc = unsafe { Self::dot4(acc, _mm256_sign_epi8(q[k], q[k]), _mm256_sign_epi8(y[k], q[k])) };
        }
        acc
    }

    #[inline(always)]
    unsafe fn dot_unsigned<const BITS: u32>(acc: __m256i, q: [__m256i; 8], y: [__m256i; 8]) -> __m256i {
        // Products that fit one i16 sum: 8 of 4-bit quants, 4 of 5-bit ones.
        let per_sum = (i16::MAX as usize / (2 * ((1 << BITS) - 1) * 127)).min(8);
        let mut acc = acc;
        unsafe {
            for start in (0..8).step_by(per_sum) {
                let mut pairs = _mm256_maddubs_epi16(q[start], y[start]);
                for k in start + 1..(start + per_sum).min(8) {
                    pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(q[k], y[k]));
                }
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
            }
        }
        acc
    }
}

impl Isa for Vnni {
    #[inline(always)]
    unsafe fn dot4(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_dpbusd_epi32(acc, a, b) }
    }

    #[inline(always)]
    unsafe fn dot2(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_dpwssd_epi32(acc, a, b) }
    }

    /// `q + 128` is unsigned: `Σ q·y = Σ (q + 128)·y - 128 Σy`, no sign juggling per product.
    #[inline(always)]
    unsafe fn dot_signed(acc: __m256i, q: [__m256i; 8], y: [__m256i; 8], sum_y: i32) -> __m256i {
        unsafe {
            let mut acc = _mm256_sub_epi32(acc, _mm256_set1_epi32(128 * sum_y));
            for k in 0..8 {
                acc = _mm256_dpbusd_epi32(acc, _mm256_xor_si256(q[k], bytes(-128)), y[k]);
            }
            acc
        }
    }
}

/// The sum of the 8 lanes.
#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

/// The little-endian f16 at `p`, widened.
#[inline(always)]
unsafe fn f16_at(p: *const u8) -> f32 {
    unsafe { _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(p.cast::<u16>().read_unaligned() as i32))) }
}

#[inline(always)]
unsafe fn load(p: *const u8) -> __m256i {
    unsafe { _mm256_loadu_si256(p.cast()) }
}

#[inline(always)]
unsafe fn bytes(v: i8) -> __m256i {
    unsafe { _mm256_set1_epi8(v) }
}

/// `fn $name(ty, rows)`: the interleaved kernel for `ty` where there is one and `rows` fill its
/// groups, else the ggml-layout one. Each runs its `R x T` instance where the tile is full, and
/// rows or tokens one by one at the tile's edges; every output gets the same arithmetic.
macro_rules! kernel_table {
    (
        $name:ident, $isa:ty, $features:literal,
        ggml: { $($ty:ident => $m:ident::$f:ident [$r:literal x $t:literal],)* }
        interleaved: { $($ity:ident => $if:ident [$it:literal],)* }
    ) => {
        pub(super) fn $name(ty: GgmlType, rows: usize) -> Option<Kernel> {
            mod ggml {
                use super::*;
                $(
                    #[allow(non_snake_case)]
                    #[target_feature(enable = $features)]
                    pub(super) unsafe fn $ty(tile: &Tile, out: &mut TileOut) {
                        unsafe {
                            if tile.tokens == $t {
                                if tile.rows == $r {
                                    $m::$f::<$isa, $r, $t>(tile, 0, 0, out)
                                } else {
                                    for r in 0..tile.rows {
                                        $m::$f::<$isa, 1, $t>(tile, r, 0, out)
                                    }
                                }
                            } else {
                                for t in 0..tile.tokens {
                                    if tile.rows == $r {
                                        $m::$f::<$isa, $r, 1>(tile, 0, t, out)
                                    } else {
                                        for r in 0..tile.rows {
                                            $m::$f::<$isa, 1, 1>(tile, r, t, out)
                                        }
                                    }
                                }
                            }
                        }
                    }
                )*
            }
            mod interleaved_entries {
                use super::*;
                $(
                    #[allow(non_snake_case)]
                    #[target_feature(enable = $features)]
                    pub(super) unsafe fn $ity(tile: &Tile, out: &mut TileOut) {
                        unsafe {
                            if tile.tokens == $it {
                                interleaved::$if::<$isa, $it>(tile, 0, out)
                            } else {
                                for t in 0..tile.tokens {
                                    interleaved::$if::<$isa, 1>(tile, t, out)
                                }
                            }
                        }
                    }
                )*
            }
            if can_interleave(ty, rows) {
                match ty {
                    $(GgmlType::$ity => {
                        return Some(Kernel { rows: GROUP, tokens: $it, layout: Layout::Interleaved, run: interleaved_entries::$ity });
                    })*
                    _ => {}
                }
            }
            match ty {
                $(GgmlType::$ty => Some(Kernel { rows: $r, tokens: $t, layout: Layout::Ggml, run: ggml::$ty }),)*
                _ => None,
            }
        }
    };
}

kernel_table!(avx2_kernel, Avx2, "avx2,fma,f16c",
    ggml: {
        Q4_0 => legacy::q4_0 [4 x 2],
        Q4_1 => legacy::q4_1 [4 x 2],
        Q5_0 => legacy::q5_0 [4 x 2],
        Q5_1 => legacy::q5_1 [4 x 2],
        Q8_0 => legacy::q8_0 [4 x 2],
        Q2_K => kquant::q2_k [2 x 2],
        Q3_K => kquant::q3_k [2 x 2],
        Q4_K => kquant::q4_k [2 x 2],
        Q5_K => kquant::q5_k [2 x 2],
        Q6_K => kquant::q6_k [2 x 2],
        F16 => float::f16 [4 x 2],
        BF16 => float::bf16 [4 x 2],
        F32 => float::f32 [4 x 2],
    }
    interleaved: {
        Q4_0 => q4_0 [4],
        Q4_1 => q4_1 [4],
        Q8_0 => q8_0 [4],
        Q4_K => q4_k [4],
        Q5_K => q5_k [4],
        Q6_K => q6_k [4],
    }
);

kernel_table!(vnni_kernel, Vnni, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni",
    ggml: {
        Q4_0 => legacy::q4_0 [4 x 4],
        Q4_1 => legacy::q4_1 [4 x 4],
        Q5_0 => legacy::q5_0 [4 x 4],
        Q5_1 => legacy::q5_1 [4 x 4],
        Q8_0 => legacy::q8_0 [4 x 4],
        Q2_K => kquant::q2_k [4 x 2],
        Q3_K => kquant::q3_k [4 x 2],
        Q4_K => kquant::q4_k [4 x 2],
        Q5_K => kquant::q5_k [4 x 2],
        Q6_K => kquant::q6_k [4 x 2],
        F16 => float::f16 [4 x 4],
        BF16 => float::bf16 [4 x 4],
        F32 => float::f32 [4 x 4],
    }
    interleaved: {
        Q4_0 => q4_0 [8],
        Q4_1 => q4_1 [8],
        Q8_0 => q8_0 [8],
        Q4_K => q4_k [4],
        Q5_K => q5_k [4],
        Q6_K => q6_k [4],
    }
);
