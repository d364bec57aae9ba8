//! The dot-product kernels, one set per instruction set, behind one calling convention: a
//! kernel computes a tile of up to `rows` weight rows times up to `tokens` tokens, so that
//! vector paths can keep several rows' unpacked blocks and several tokens' activations in
//! registers at once (the GEMM tiling of long prompts), while [`crate::schedule`] stays the same
//! for every type and instruction set.
//!
//! A set need not cover every type: what it lacks falls back to the scalar kernels.

pub(crate) mod scalar;
#[cfg(any(target_arch = "aarch64", all(target_arch = "wasm32", target_feature = "simd128")))]
mod v128;
#[cfg(target_arch = "x86_64")]
mod x86;

use selene_gguf::GgmlType;

use crate::activation::{Activations, Blocks, Q8Block, Q8KBlock};
use crate::layout::Layout;
use crate::simd::SimdLevel;

/// The largest tile any kernel computes.
pub(crate) const MAX_ROWS: usize = 8;
pub(crate) const MAX_TOKENS: usize = 8;

/// A kernel's results: the product of tile row `r` and tile token `t` at `r * MAX_TOKENS + t`.
pub(crate) type TileOut = [f32; MAX_ROWS * MAX_TOKENS];

/// One kernel call: `rows` consecutive weight rows and `tokens` consecutive tokens.
pub(crate) struct Tile<'a> {
    /// Exactly `rows * row_bytes` bytes, in the kernel's [`Layout`].
    pub weights: &'a [u8],
    pub row_bytes: usize,
    pub rows: usize,
    pub acts: &'a Activations,
    pub token: usize,
    pub tokens: usize,
}

impl<'a> Tile<'a> {
    pub fn row(&self, r: usize) -> &'a [u8] {
        &self.weights[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// The Q8_0/Q8_1 blocks of tile token `t`.
    pub fn q8(&self, t: usize) -> &'a [Q8Block] {
        let Blocks::Q8(blocks) = &self.acts.blocks else { unreachable!("kernel given the wrong activations") };
        let n = self.acts.per_token;
        &blocks[(self.token + t) * n..(self.token + t + 1) * n]
    }

    /// The Q8_K blocks of tile token `t`.
    pub fn q8k(&self, t: usize) -> &'a [Q8KBlock] {
        let Blocks::Q8K(blocks) = &self.acts.blocks else { unreachable!("kernel given the wrong activations") };
        let n = self.acts.per_token;
        &blocks[(self.token + t) * n..(self.token + t + 1) * n]
    }

    /// The (rounded) float activations of tile token `t`.
    pub fn floats(&self, t: usize) -> &'a [f32] {
        let Blocks::Float(values) = &self.acts.blocks else { unreachable!("kernel given the wrong activations") };
        let n = self.acts.per_token;
        &values[(self.token + t) * n..(self.token + t + 1) * n]
    }
}

/// A kernel for one weight type on one instruction set, with the tile it is fastest at.
#[derive(Clone, Copy)]
pub(crate) struct Kernel {
    pub rows: usize,
    pub tokens: usize,
    /// How it wants the weights arranged; interleaved kernels always get whole groups.
    pub layout: Layout,
    /// Unsafe because it may use instructions the CPU lacks; [`kernel`] only hands out kernels
    /// whose level [`SimdLevel::is_available`].
    run: unsafe fn(&Tile, &mut TileOut),
}

impl Kernel {
    pub fn run(&self, tile: &Tile, out: &mut TileOut) {
        debug_assert!(tile.rows <= self.rows && tile.tokens <= self.tokens);
        debug_assert_eq!(tile.weights.len(), tile.rows * tile.row_bytes);
        // SAFETY: kernels exist only for available levels (see `kernel`).
        unsafe { (self.run)(tile, out) }
    }
}

/// The kernel for `ty` weights of `rows` rows at `level`, falling back to scalar where the level
/// has none; `None` for an unsupported type or a level this CPU cannot run.
pub(crate) fn kernel(level: SimdLevel, ty: GgmlType, rows: usize) -> Option<Kernel> {
    if !level.is_available() {
        return None;
    }
    let simd = match level {
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2 => x86::avx2_kernel(ty, rows),
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512Vnni => x86::vnni_kernel(ty, rows),
        #[cfg(target_arch = "aarch64")]
        SimdLevel::NeonDotprod => v128::neon::kernel(ty),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        SimdLevel::Simd128 => v128::wasm::kernel(ty),
        _ => None,
    };
    let _ = rows;
    simd.or_else(|| scalar::kernel(ty))
}
