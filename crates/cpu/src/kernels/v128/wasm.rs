//! [`V128`] on wasm32 `simd128` (a compile-time feature: wasm has no run-time detection). There
//! is no byte dot product: bytes are multiplied into i16 lanes and added pairwise into i32.

use core::arch::wasm32::*;

use super::V128;

pub(in crate::kernels) struct Wasm;

impl V128 for Wasm {
    type B = v128;
    type W = v128;
    type F = v128;

    #[inline(always)]
    unsafe fn load(p: *const u8) -> v128 {
        unsafe { v128_load(p.cast()) }
    }
    #[inline(always)]
    unsafe fn splat(v: u8) -> v128 {
        u8x16_splat(v)
    }
    #[inline(always)]
    unsafe fn and(a: v128, b: v128) -> v128 {
        v128_and(a, b)
    }
    #[inline(always)]
    unsafe fn or(a: v128, b: v128) -> v128 {
        v128_or(a, b)
    }
    #[inline(always)]
    unsafe fn shr(a: v128, n: u32) -> v128 {
        u8x16_shr(a, n)
    }
    #[inline(always)]
    unsafe fn shl(a: v128, n: u32) -> v128 {
        i8x16_shl(a, n)
    }
    #[inline(always)]
    unsafe fn sub(a: v128, b: v128) -> v128 {
        i8x16_sub(a, b)
    }
    #[inline(always)]
    unsafe fn zero() -> v128 {
        i32x4_splat(0)
    }
    #[inline(always)]
    unsafe fn dot(acc: v128, a: v128, b: v128) -> v128 {
        // Two products of a weight byte (at least -128) and an activation (at least -127) fit
        // an i16, so the halves are added before widening.
        let pairs = i16x8_add(i16x8_extmul_low_i8x16(a, b), i16x8_extmul_high_i8x16(a, b));
        i32x4_add(acc, i32x4_extadd_pairwise_i16x8(pairs))
    }
    #[inline(always)]
    unsafe fn mul_add(acc: v128, a: v128, s: i32) -> v128 {
        i32x4_add(acc, i32x4_mul(a, i32x4_splat(s)))
    }
    #[inline(always)]
    unsafe fn fzero() -> v128 {
        f32x4_splat(0.0)
    }
    #[inline(always)]
    unsafe fn fma(acc: v128, a: v128, s: f32) -> v128 {
        f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(a), f32x4_splat(s)))
    }
    #[inline(always)]
    unsafe fn fsum(a: v128) -> f32 {
        (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
            + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a))
    }
}

v128_kernels!(Wasm, "simd128", {
    Q4_0 => q4_0,
    Q4_1 => q4_1,
    Q5_0 => q5_0,
    Q5_1 => q5_1,
    Q8_0 => q8_0,
    Q2_K => q2_k,
    Q3_K => q3_k,
    Q4_K => q4_k,
    Q5_K => q5_k,
    Q6_K => q6_k,
});
