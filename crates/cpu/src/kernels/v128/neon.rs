//! [`V128`] on aarch64 NEON. The dot product is `sdot` (the dot-product extension, detected at
//! run time); its intrinsic is not stable in Rust yet, so it is one instruction of inline
//! assembly.

use std::arch::aarch64::*;
use std::arch::asm;

use super::V128;

pub(in crate::kernels) struct Neon;

impl V128 for Neon {
    type B = int8x16_t;
    type W = int32x4_t;
    type F = float32x4_t;

    #[inline(always)]
    unsafe fn load(p: *const u8) -> int8x16_t {
        unsafe { vld1q_s8(p.cast()) }
    }
    #[inline(always)]
    unsafe fn splat(v: u8) -> int8x16_t {
        unsafe { vdupq_n_s8(v as i8) }
    }
    #[inline(always)]
    unsafe fn and(a: int8x16_t, b: int8x16_t) -> int8x16_t {
        unsafe { vandq_s8(a, b) }
    }
    #[inline(always)]
    unsafe fn or(a: int8x16_t, b: int8x16_t) -> int8x16_t {
        unsafe { vorrq_s8(a, b) }
    }
    #[inline(always)]
    unsafe fn shr(a: int8x16_t, n: u32) -> int8x16_t {
        // USHL by a negative count shifts right, logically.
        unsafe { vreinterpretq_s8_u8(vshlq_u8(vreinterpretq_u8_s8(a), vdupq_n_s8(-(n as i8)))) }
    }
    #[inline(always)]
    unsafe fn shl(a: int8x16_t, n: u32) -> int8x16_t {
        unsafe { vreinterpretq_s8_u8(vshlq_u8(vreinterpretq_u8_s8(a), vdupq_n_s8(n as i8))) }
    }
    #[inline(always)]
    unsafe fn sub(a: int8x16_t, b: int8x16_t) -> int8x16_t {
        unsafe { vsubq_s8(a, b) }
    }
    #[inline(always)]
    unsafe fn zero() -> int32x4_t {
        unsafe { vdupq_n_s32(0) }
    }
    #[inline(always)]
    unsafe fn dot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: only called inside functions compiled with `dotprod`, detected at run time.
        unsafe {
            asm!("sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b", acc = inout(vreg) acc, a = in(vreg) a, b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags));
        }
        acc
    }
    #[inline(always)]
    unsafe fn mul_add(acc: int32x4_t, a: int32x4_t, s: i32) -> int32x4_t {
        unsafe { vmlaq_n_s32(acc, a, s) }
    }
    #[inline(always)]
    unsafe fn fzero() -> float32x4_t {
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    unsafe fn fma(acc: float32x4_t, a: int32x4_t, s: f32) -> float32x4_t {
        unsafe { vfmaq_n_f32(acc, vcvtq_f32_s32(a), s) }
    }
    #[inline(always)]
    unsafe fn fsum(a: float32x4_t) -> f32 {
        unsafe { vaddvq_f32(a) }
    }
}

v128_kernels!(Neon, "neon,dotprod", {
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
