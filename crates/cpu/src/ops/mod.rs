//! The small operations between matrix products, fused so that each reads and writes its data
//! once: RMSNorm, rotary embeddings, the SwiGLU gate and attention over a KV cache.
//!
//! They are plain Rust loops written so that the compiler vectorizes them; the ones that compute
//! enough per byte to gain from AVX2 (the exponential, attention's dot products) are also
//! compiled for it and picked at run time ([`multiversion`]). Rust does not contract `a * b + c`
//! into an FMA, so both builds give identical results.

pub(crate) mod attention;
mod exp;
pub(crate) mod glu;
pub(crate) mod norm;
pub(crate) mod rope;

/// Below this many values an operation runs on the calling thread.
const PARALLEL_VALUES: usize = 1 << 15;

/// Defines `fn $name` whose body is compiled twice, for the baseline and for AVX2 + FMA + F16C
/// (x86-64, chosen at run time when the CPU has them). Everything the body calls must be
/// `#[inline(always)]` to be compiled with the features too.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident$(<$($g:ident: $bound:path),*>)?($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name$(<$($g: $bound),*>)?($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma,f16c")]
                fn avx2$(<$($g: $bound),*>)?($($arg: $ty),*) $(-> $ret)? $body
                if crate::simd::SimdLevel::Avx2.is_available() {
                    // SAFETY: the features were detected.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body
        }
    };
}
pub(crate) use multiversion;
