//! Kernels for 128-bit vector sets whose integer dot product multiplies signed by signed bytes:
//! aarch64 NEON with `sdot` and wasm32 `simd128`. The two differ only in the handful of
//! instructions of [`V128`], so the kernels are written once over it.
//!
//! A weight block (or k-quant super-block) is decoded once into signed bytes, centered on zero
//! where the format has a zero point, with one integer scale per 16 values; every token of the
//! tile then takes 16-byte dot products against it, scales them in integers, and converts once
//! per block. Minimums use Q8_1's `s` or Q8_K's group sums, as in the scalar kernels. F16, BF16
//! and F32 weights are left to the scalar kernels, which the compiler vectorizes.

// Index loops over the tile's rows and tokens, not iterator closures: a closure is compiled
// without the features of the `#[target_feature]` function it is written in.
#![allow(clippy::needless_range_loop)]

use super::scalar::{bsums32, f16_at, q3k_scales, scale_min_k4};
use super::{MAX_TOKENS, Tile, TileOut};
use crate::activation::{Q8Block, Q8KBlock, QK_K};

/// The instructions the kernels need. Byte shifts are per byte (no carries between bytes).
pub(super) trait V128 {
    /// 16 bytes.
    type B: Copy;
    /// 4 i32 lanes.
    type W: Copy;
    /// 4 f32 lanes.
    type F: Copy;
    unsafe fn load(p: *const u8) -> Self::B;
    unsafe fn splat(v: u8) -> Self::B;
    unsafe fn and(a: Self::B, b: Self::B) -> Self::B;
    unsafe fn or(a: Self::B, b: Self::B) -> Self::B;
    unsafe fn shr(a: Self::B, n: u32) -> Self::B;
    unsafe fn shl(a: Self::B, n: u32) -> Self::B;
    unsafe fn sub(a: Self::B, b: Self::B) -> Self::B;
    unsafe fn zero() -> Self::W;
    /// `acc` plus the products of signed bytes `a` and `b`, summed into 4 lanes.
    unsafe fn dot(acc: Self::W, a: Self::B, b: Self::B) -> Self::W;
    /// `acc + a * s`.
    unsafe fn mul_add(acc: Self::W, a: Self::W, s: i32) -> Self::W;
    unsafe fn fzero() -> Self::F;
    /// `acc + f32(a) * s`.
    unsafe fn fma(acc: Self::F, a: Self::W, s: f32) -> Self::F;
    unsafe fn fsum(a: Self::F) -> f32;
}

/// A 32-value block (legacy types) decoded to signed bytes, with its factors.
struct Legacy<V: V128> {
    q: [V::B; 2],
    d: f32,
    /// Q4_1/Q5_1's minimum, added as `m * s_a`; 0 otherwise.
    m: f32,
}

/// A 256-value super-block decoded to signed bytes with a scale per 16 values, and its factors:
/// `d * Σ_g scale_g q_g·a - dmin * Σ_j min_j Σa` (Q4_K/Q5_K's minimums, per 32 values).
struct Super<V: V128> {
    q: [V::B; 16],
    scales: [i32; 16],
    d: f32,
    dmin: f32,
    mins: [i32; 8],
}

/// 16 bytes of `0x10` or 0: bits `16h..16h + 16` of Q5_0/Q5_1's high-bit word, one per byte.
#[inline(always)]
unsafe fn fifth_bits<V: V128>(high: u32, h: u32) -> V::B {
    let bits = (high >> (16 * h)) as u16;
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = ((bits >> i) as u8 & 1) << 4;
    }
    unsafe { V::load(bytes.as_ptr()) }
}

/// Decodes legacy block `b`: `bytes` per block, quants at `at`, high bits at `high` (Q5),
/// zero point `zero`, minimum at byte 2 if `min`.
#[inline(always)]
unsafe fn legacy<V: V128>(b: &[u8], at: usize, high: Option<usize>, zero: u8, min: bool) -> Legacy<V> {
    unsafe {
        let packed = V::load(b.as_ptr().add(at));
        let nibble = V::splat(0x0F);
        let mut q = [V::and(packed, nibble), V::shr(packed, 4)];
        if let Some(h) = high {
            let word = u32::from_le_bytes([b[h], b[h + 1], b[h + 2], b[h + 3]]);
            q = [V::or(q[0], fifth_bits::<V>(word, 0)), V::or(q[1], fifth_bits::<V>(word, 1))];
        }
        if zero != 0 {
            q = [V::sub(q[0], V::splat(zero)), V::sub(q[1], V::splat(zero))];
        }
        Legacy { q, d: f16_at(b, 0), m: if min { f16_at(b, 2) } else { 0.0 } }
    }
}

#[inline(always)]
unsafe fn decode_q8_0<V: V128>(b: &[u8]) -> Legacy<V> {
    unsafe { Legacy { q: [V::load(b.as_ptr().add(2)), V::load(b.as_ptr().add(18))], d: f16_at(b, 0), m: 0.0 } }
}

/// Q4_K and Q5_K: value `64c + l` is the low nibble of byte `32c + l`, `64c + 32 + l` the high
/// one; Q5_K adds bit `2c` (or `2c + 1`) of `qh[l]` as bit 4.
#[inline(always)]
unsafe fn k4<V: V128>(b: &[u8], five: bool) -> Super<V> {
    unsafe {
        let qs = b.as_ptr().add(if five { 48 } else { 16 });
        let nibble = V::splat(0x0F);
        let mut q = [V::splat(0); 16];
        for c in 0..4 {
            for half in 0..2 {
                let packed = V::load(qs.add(32 * c + 16 * half));
                let (mut lo, mut hi) = (V::and(packed, nibble), V::shr(packed, 4));
                if five {
                    let high = V::load(b.as_ptr().add(16 + 16 * half));
                    let one = V::splat(1);
                    lo = V::or(lo, V::shl(V::and(V::shr(high, 2 * c as u32), one), 4));
                    hi = V::or(hi, V::shl(V::and(V::shr(high, 2 * c as u32 + 1), one), 4));
                }
                q[4 * c + half] = lo;
                q[4 * c + 2 + half] = hi;
            }
        }
        let (mut scales, mut mins) = ([0; 16], [0; 8]);
        for j in 0..8 {
            let (sc, m) = scale_min_k4(j, &b[4..16]);
            scales[2 * j] = sc;
            scales[2 * j + 1] = sc;
            mins[j] = m;
        }
        Super { q, scales, d: f16_at(b, 0), dmin: f16_at(b, 2), mins }
    }
}

/// Q6_K: value `128h + 32s + l` is nibble `s / 2` of byte `64h + 32(s % 2) + l` with bits `2s` of
/// byte `128 + 32h + l` on top, minus 32.
#[inline(always)]
unsafe fn decode_q6_k<V: V128>(b: &[u8]) -> Super<V> {
    unsafe {
        let p = b.as_ptr();
        let mut q = [V::splat(0); 16];
        for h in 0..2 {
            for part in 0..2 {
                let high = V::load(p.add(128 + 32 * h + 16 * part));
                for s in 0..4 {
                    let low = V::load(p.add(64 * h + 32 * (s % 2) + 16 * part));
                    let low = V::and(V::shr(low, 4 * (s / 2) as u32), V::splat(0x0F));
                    let top = V::shl(V::and(V::shr(high, 2 * s as u32), V::splat(3)), 4);
                    q[8 * h + 2 * s + part] = V::sub(V::or(low, top), V::splat(32));
                }
            }
        }
        let scales = std::array::from_fn(|g| b[192 + g] as i8 as i32);
        Super { q, scales, d: f16_at(b, 208), dmin: 0.0, mins: [0; 8] }
    }
}

/// Q2_K (`hmask` none) and Q3_K: value `128h + 32s + l` is bits `2s` of byte `32h + l` of the
/// quants; Q3_K subtracts 4 unless bit `4h + s` of mask byte `l` is set.
#[inline(always)]
unsafe fn k2<V: V128>(b: &[u8], three: bool) -> Super<V> {
    unsafe {
        let p = b.as_ptr();
        let qs = p.add(if three { 32 } else { 16 });
        let mut q = [V::splat(0); 16];
        for h in 0..2 {
            for part in 0..2 {
                let packed = V::load(qs.add(32 * h + 16 * part));
                for s in 0..4 {
                    let mut v = V::and(V::shr(packed, 2 * s as u32), V::splat(3));
                    if three {
                        let mask = V::load(p.add(16 * part));
                        let high = V::shl(V::and(V::shr(mask, (4 * h + s) as u32), V::splat(1)), 2);
                        v = V::sub(V::or(v, high), V::splat(4));
                    }
                    q[8 * h + 2 * s + part] = v;
                }
            }
        }
        if three {
            Super { q, scales: q3k_scales(&b[96..108]), d: f16_at(b, 108), dmin: 0.0, mins: [0; 8] }
        } else {
            // Q2_K's minimums are per 16 values: the tile reads them from the block.
            let scales = std::array::from_fn(|g| (b[g] & 0x0F) as i32);
            Super { q, scales, d: f16_at(b, 80), dmin: f16_at(b, 82), mins: [0; 8] }
        }
    }
}

/// Rows `row` (one) times tokens `token..token + T` of a legacy type.
#[inline(always)]
unsafe fn legacy_tile<V: V128, const T: usize>(
    tile: &Tile,
    row: usize,
    token: usize,
    out: &mut TileOut,
    bytes: usize,
    decode: impl Fn(&[u8]) -> Legacy<V>,
) {
    unsafe {
        let mut acts: [&[Q8Block]; T] = [&[]; T];
        for t in 0..T {
            acts[t] = tile.q8(token + t);
        }
        let (mut acc, mut mins) = ([V::fzero(); T], [0f32; T]);
        for (b, block) in tile.row(row).chunks_exact(bytes).enumerate() {
            let w = decode(block);
            for t in 0..T {
                let a = &acts[t][b];
                let y = a.qs.as_ptr().cast::<u8>();
                let sum = V::dot(V::dot(V::zero(), w.q[0], V::load(y)), w.q[1], V::load(y.add(16)));
                acc[t] = V::fma(acc[t], sum, w.d * a.d);
                mins[t] += w.m * a.s;
            }
        }
        for t in 0..T {
            out[row * MAX_TOKENS + token + t] = V::fsum(acc[t]) + mins[t];
        }
    }
}

/// Rows `row` (one) times tokens `token..token + T` of a k-quant; Q2_K's minimums are per 16
/// values (`mins16`).
#[inline(always)]
unsafe fn kquant_tile<V: V128, const T: usize>(
    tile: &Tile,
    row: usize,
    token: usize,
    out: &mut TileOut,
    bytes: usize,
    decode: impl Fn(&[u8]) -> Super<V>,
    mins16: bool,
) {
    unsafe {
        let mut acts: [&[Q8KBlock]; T] = [&[]; T];
        for t in 0..T {
            acts[t] = tile.q8k(token + t);
        }
        let (mut acc, mut mins) = ([V::fzero(); T], [0f32; T]);
        for (b, block) in tile.row(row).chunks_exact(bytes).enumerate() {
            let w = decode(block);
            for t in 0..T {
                let a = &acts[t][b];
                let y = a.qs.as_ptr().cast::<u8>();
                let mut sum = V::zero();
                for g in 0..QK_K / 16 {
                    sum = V::mul_add(sum, V::dot(V::zero(), w.q[g], V::load(y.add(16 * g))), w.scales[g]);
                }
                acc[t] = V::fma(acc[t], sum, w.d * a.d);
                let m: i32 = if mins16 {
                    block[..16].iter().zip(a.bsums).map(|(s, b)| (s >> 4) as i32 * b as i32).sum()
                } else {
                    w.mins.iter().zip(bsums32(a)).map(|(m, s)| m * s).sum()
                };
                mins[t] += (w.dmin * a.d) * m as f32;
            }
        }
        for t in 0..T {
            out[row * MAX_TOKENS + token + t] = V::fsum(acc[t]) - mins[t];
        }
    }
}

macro_rules! tiles {
    ($($name:ident => $tile:ident($bytes:literal, $decode:expr $(, $mins16:expr)?);)*) => {$(
        #[inline(always)]
        unsafe fn $name<V: V128, const T: usize>(tile: &Tile, row: usize, token: usize, out: &mut TileOut) {
            unsafe { $tile::<V, T>(tile, row, token, out, $bytes, $decode $(, $mins16)?) }
        }
    )*};
}

tiles! {
    q4_0 => legacy_tile(18, |b| legacy(b, 2, None, 8, false));
    q4_1 => legacy_tile(20, |b| legacy(b, 4, None, 0, true));
    q5_0 => legacy_tile(22, |b| legacy(b, 6, Some(2), 16, false));
    q5_1 => legacy_tile(24, |b| legacy(b, 8, Some(4), 0, true));
    q8_0 => legacy_tile(34, |b| decode_q8_0(b));
    q2_k => kquant_tile(84, |b| k2(b, false), true);
    q3_k => kquant_tile(110, |b| k2(b, true), false);
    q4_k => kquant_tile(144, |b| k4(b, false), false);
    q5_k => kquant_tile(176, |b| k4(b, true), false);
    q6_k => kquant_tile(210, |b| decode_q6_k(b), false);
}

/// Tokens per tile of the 128-bit kernels (one row at a time).
const TOKENS: usize = 4;

/// A kernel entry point `$name` running `v128::$name` on `$v` inside `$features`.
macro_rules! v128_entry {
    ($v:ty, $features:literal, $name:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $name(tile: &Tile, out: &mut TileOut) {
            use crate::kernels::v128::{TOKENS, $name as run};
            for r in 0..tile.rows {
                if tile.tokens == TOKENS {
                    unsafe { run::<$v, TOKENS>(tile, r, 0, out) }
                } else {
                    for t in 0..tile.tokens {
                        unsafe { run::<$v, 1>(tile, r, t, out) }
                    }
                }
            }
        }
    };
}

/// `fn kernel(ty)` for one [`V128`] implementation, its kernels compiled with `$features`.
macro_rules! v128_kernels {
    ($v:ty, $features:literal, { $($ty:ident => $name:ident,)* }) => {
        pub(in crate::kernels) fn kernel(ty: selene_gguf::GgmlType) -> Option<crate::kernels::Kernel> {
            use crate::kernels::{Kernel, Tile, TileOut};
            $(v128_entry!($v, $features, $name);)*
            let run: unsafe fn(&Tile, &mut TileOut) = match ty {
                $(selene_gguf::GgmlType::$ty => $name,)*
                _ => return None,
            };
            Some(Kernel { rows: 1, tokens: crate::kernels::v128::TOKENS, layout: crate::layout::Layout::Ggml, run })
        }
    };
}

// After the macros: they are in scope in these modules.
#[cfg(target_arch = "aarch64")]
pub(super) mod neon;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) mod wasm;
