//! Which vector instruction set the kernels use, chosen at run time so that one x86-64 binary
//! runs everywhere and still uses AVX-512 where the CPU has it. aarch64 is chosen at run time too
//! (the dot-product extension is optional); wasm has no run-time detection, so simd128 is a
//! compile-time choice there.

use std::fmt;
use std::sync::OnceLock;

/// An instruction set the kernels can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimdLevel {
    /// Plain Rust, the reference every other level is tested against.
    Scalar,
    /// x86-64 AVX2 with FMA and F16C.
    Avx2,
    /// x86-64 AVX2 plus AVX-512 F/BW/VL/VNNI: 32 vector registers and fused integer dot products.
    Avx512Vnni,
    /// aarch64 NEON with the dot-product extension (`sdot`).
    NeonDotprod,
    /// wasm32 `simd128`.
    Simd128,
}

impl SimdLevel {
    pub const ALL: [SimdLevel; 5] =
        [SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512Vnni, SimdLevel::NeonDotprod, SimdLevel::Simd128];

    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "scalar",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512Vnni => "avx512-vnni",
            SimdLevel::NeonDotprod => "neon-dotprod",
            SimdLevel::Simd128 => "simd128",
        }
    }

    /// Whether this CPU (or, for wasm, this build) can run the level.
    pub fn is_available(self) -> bool {
        match self {
            SimdLevel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => {
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512Vnni => {
                SimdLevel::Avx2.is_available()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "aarch64")]
            SimdLevel::NeonDotprod => std::arch::is_aarch64_feature_detected!("dotprod"),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            SimdLevel::Simd128 => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The levels this CPU can run, scalar first.
    pub fn available() -> Vec<SimdLevel> {
        SimdLevel::ALL.into_iter().filter(|l| l.is_available()).collect()
    }
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The fastest level this CPU runs; what every [`crate::QuantMatrix`] uses unless told otherwise.
pub fn simd_level() -> SimdLevel {
    static BEST: OnceLock<SimdLevel> = OnceLock::new();
    *BEST.get_or_init(|| SimdLevel::available().pop().unwrap_or(SimdLevel::Scalar))
}
