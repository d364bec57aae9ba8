//! An `exp` the compiler can vectorize (`f32::exp` is a libm call per value): Cody-Waite range
//! reduction to `x = n ln2 + r`, |r| <= ln2 / 2, and a degree-6 polynomial for `e^r` (the
//! classic single-precision minimax coefficients), scaled by `2^n` through the exponent bits.
//! Within 2 ulp of `e^x` on the normal range; clamped where f32 would overflow or go subnormal.

#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.33, 88.72);
    // Round half to even by the 1.5 * 2^23 trick (no libm call, vectorizes).
    let n = (x * LOG2E + 12582912.0) - 12582912.0;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n, n in [-126, 128]: built in two halves so that n = 128 does not overflow the exponent.
    let half = (n * 0.5 + 12582912.0) - 12582912.0;
    e * power_of_two(half) * power_of_two(n - half)
}

/// `2^k` for an integral `k` in `-126..=127`.
#[inline(always)]
fn power_of_two(k: f32) -> f32 {
    f32::from_bits(((k as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::exp;

    #[test]
    fn close_to_libm_over_the_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 2.5 * f32::EPSILON as f64, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(1000.0) > 1e38);
    }
}
