//! ggml's k-quants: super-blocks of 256 values split into sub-blocks whose scales are themselves
//! quantized. Q2_K and Q3_K are decoded only; Q4_K, Q5_K and Q6_K are also encoded, with the
//! reference algorithm llama-quantize uses when it has no importance matrix. That algorithm
//! searches over candidate scales, so its output depends on every rounding step: arithmetic
//! here is plain f32 in ggml's order, and `nearest_int` rounds half to even as ggml's does.

use super::float::{f16_bits_to_f32, f32_to_f16_bits};

const QK_K: usize = 256;
const GROUP_MAX_EPS: f32 = 1e-15;

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// ggml's `nearest_int`: adding 1.5 * 2^23 leaves the integer in the low mantissa bits, which
/// rounds half to even for |x| < 2^22 (the range ggml asserts); outside it, the same bits as ggml.
fn nearest_int(x: f32) -> i32 {
    let bits = (x + 12582912.0).to_bits() as i32;
    (bits & 0x007F_FFFF) - 0x0040_0000
}

/// Scale and minimum of sub-block `j` from the 12 packed bytes of Q4_K and Q5_K.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

pub(super) fn decode_q2_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(84).zip(dst.chunks_exact_mut(QK_K)) {
        let (scales, qs) = (&b[0..16], &b[16..80]);
        let (d, min) = (f16_at(b, 80), f16_at(b, 82));
        let mut out = y.iter_mut();
        let mut is = 0;
        for half in 0..2 {
            let q = &qs[32 * half..];
            for shift in [0, 2, 4, 6] {
                for part in 0..2 {
                    let sc = scales[is];
                    is += 1;
                    let (dl, ml) = (d * (sc & 0x0F) as f32, min * (sc >> 4) as f32);
                    for l in 0..16 {
                        *out.next().unwrap() = dl * ((q[l + 16 * part] >> shift) & 3) as f32 - ml;
                    }
                }
            }
        }
    }
}

pub(super) fn decode_q3_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(110).zip(dst.chunks_exact_mut(QK_K)) {
        let (hmask, qs, packed) = (&b[0..32], &b[32..96], &b[96..108]);
        let d_all = f16_at(b, 108);
        // Sixteen 6-bit scales: low 4 bits from bytes 0-7, high 2 bits from bytes 8-11.
        let scale = |i: usize| -> i32 {
            let low = if i < 8 { packed[i] & 0x0F } else { packed[i - 8] >> 4 };
            let high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
            (low | high << 4) as i32 - 32
        };
        let mut out = y.iter_mut();
        let mut is = 0;
        let mut m = 1u8;
        for half in 0..2 {
            let q = &qs[32 * half..];
            for shift in [0, 2, 4, 6] {
                for part in 0..2 {
                    let dl = d_all * scale(is) as f32;
                    is += 1;
                    for l in 0..16 {
                        let k = l + 16 * part;
                        let low = ((q[k] >> shift) & 3) as i32;
                        let sub = if hmask[k] & m != 0 { 0 } else { 4 };
                        *out.next().unwrap() = dl * (low - sub) as f32;
                    }
                }
                m <<= 1;
            }
        }
    }
}

pub(super) fn decode_q4_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(144).zip(dst.chunks_exact_mut(QK_K)) {
        let (d, min) = (f16_at(b, 0), f16_at(b, 2));
        let (scales, qs) = (&b[4..16], &b[16..144]);
        for (c, (q, y)) in qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
            let (sc1, m1) = scale_min_k4(2 * c, scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            for l in 0..32 {
                y[l] = d1 * (q[l] & 0x0F) as f32 - m1;
                y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

pub(super) fn decode_q5_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(176).zip(dst.chunks_exact_mut(QK_K)) {
        let (d, min) = (f16_at(b, 0), f16_at(b, 2));
        let (scales, qh, qs) = (&b[4..16], &b[16..48], &b[48..176]);
        for (c, (ql, y)) in qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
            let (sc1, m1) = scale_min_k4(2 * c, scales);
            let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
            for l in 0..32 {
                let high1 = if qh[l] & u1 != 0 { 16 } else { 0 };
                let high2 = if qh[l] & u2 != 0 { 16 } else { 0 };
                y[l] = d1 * ((ql[l] & 0x0F) + high1) as f32 - m1;
                y[l + 32] = d2 * ((ql[l] >> 4) + high2) as f32 - m2;
            }
        }
    }
}

pub(super) fn decode_q6_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(210).zip(dst.chunks_exact_mut(QK_K)) {
        let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
        let d = f16_at(b, 208);
        for half in 0..2 {
            let (ql, qh, sc, y) = (&ql[64 * half..], &qh[32 * half..], &sc[8 * half..], &mut y[128 * half..]);
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0x0F) | (qh[l] & 3) << 4) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) as i32 - 32;
                let q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) as i32 - 32;
                y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
            }
        }
    }
}

/// Sub-blocks of a Q4_K or Q5_K super-block side by side: lane `j` of every array belongs to
/// sub-block `j` (32 values each). ggml searches the sub-blocks' scales one after the other, each
/// with sums that run through its 32 values in order; searching the 8 sub-blocks at once, one
/// lane each, keeps every sum in that order (so the bytes stay ggml's) and lets the compiler use
/// vector instructions, which a reordering within a sub-block could not do without changing the
/// rounding.
type Lanes<T> = [T; 8];

fn lanes<T>(f: impl FnMut(usize) -> T) -> Lanes<T> {
    std::array::from_fn(f)
}

/// `nearest_int(x).clamp(lo, hi) as f32` for every `x`, NaN included, without leaving f32:
/// the integer that ggml's trick leaves in the low mantissa bits is read back as the float
/// 2^23 + m, and clamped with float comparisons. In vector registers this saves the conversions
/// to integers and back, and SSE2 has no 32-bit integer min/max.
fn nearest_level(x: f32, lo: f32, hi: f32) -> f32 {
    let low_bits = (x + 12582912.0).to_bits() & 0x007F_FFFF;
    let r = f32::from_bits(low_bits | 0x4B00_0000) - 12582912.0;
    // Written as comparisons so that they become single max/min instructions (r is never NaN).
    let r = if r > lo { r } else { lo };
    if r < hi { r } else { hi }
}

/// ggml's `make_qkx2_quants` on 8 sub-blocks at once (see [`Lanes`]): quantizes `x[i][j]`, value
/// `i` of sub-block `j`, to levels `0..=nmax` with a scale and a minimum per sub-block, trying
/// `nstep + 1` candidate scales and keeping the one with the least weighted squared error.
/// Returns each sub-block's scale and (positive) minimum; `levels` receives the quants (as f32,
/// which holds them exactly and saves conversions in the loop).
fn quantize_with_min(
    x: &[Lanes<f32>; 32],
    weights: &[Lanes<f32>; 32],
    nmax: i32,
    levels: &mut [Lanes<f32>; 32],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> (Lanes<f32>, Lanes<f32>) {
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = lanes(|j| sum_w[j] * x[0][j]);
    for i in 1..32 {
        for j in 0..8 {
            if x[i][j] < min[j] {
                min[j] = x[i][j];
            }
            if x[i][j] > max[j] {
                max[j] = x[i][j];
            }
            sum_w[j] += weights[i][j];
            sum_x[j] += weights[i][j] * x[i][j];
        }
    }
    for m in &mut min {
        if *m > 0.0 {
            *m = 0.0;
        }
    }
    // A constant sub-block (max == min) gets scale 0, levels 0; its lane is computed with the
    // others (on infinities, harmlessly) and overwritten at the end.
    let (flat, flat_min) = (lanes(|j| max[j] == min[j]), min);
    let top = nmax as f32;
    let level = |iscale: f32, xi: f32, min: f32| nearest_level(iscale * (xi - min), 0.0, top);
    let iscale = lanes(|j| top / (max[j] - min[j]));
    let mut scale = lanes(|j| 1.0 / iscale[j]);
    let mut best_error = [0f32; 8];
    for i in 0..32 {
        for j in 0..8 {
            let l = level(iscale[j], x[i][j], min[j]);
            levels[i][j] = l;
            let diff = scale[j] * l + min[j] - x[i][j];
            best_error[j] += weights[i][j] * (diff * diff);
        }
    }
    let mut trial = [[0f32; 8]; 32];
    for is in 0..=nstep {
        // As in ggml, a better candidate's minimum moves the range of the next ones.
        let iscale = lanes(|j| (rmin + rdelta * is as f32 + top) / (max[j] - min[j]));
        let (mut sum_l, mut sum_l2, mut sum_xl) = ([0f32; 8], [0f32; 8], [0f32; 8]);
        for i in 0..32 {
            for j in 0..8 {
                let (w, l) = (weights[i][j], level(iscale[j], x[i][j], min[j]));
                trial[i][j] = l;
                sum_l[j] += w * l;
                sum_l2[j] += w * l * l;
                sum_xl[j] += w * l * x[i][j];
            }
        }
        let det = lanes(|j| sum_w[j] * sum_l2[j] - sum_l[j] * sum_l[j]);
        let mut this_scale = lanes(|j| (sum_w[j] * sum_xl[j] - sum_x[j] * sum_l[j]) / det[j]);
        let mut this_min = lanes(|j| (sum_l2[j] * sum_x[j] - sum_l[j] * sum_xl[j]) / det[j]);
        for j in 0..8 {
            if this_min[j] > 0.0 {
                this_min[j] = 0.0;
                this_scale[j] = sum_xl[j] / sum_l2[j];
            }
        }
        let mut cur_error = [0f32; 8];
        for i in 0..32 {
            for j in 0..8 {
                let diff = this_scale[j] * trial[i][j] + this_min[j] - x[i][j];
                cur_error[j] += weights[i][j] * (diff * diff);
            }
        }
        // ggml only looks at a candidate whose normal equations are solvable (det > 0).
        let better = lanes(|j| det[j] > 0.0 && cur_error[j] < best_error[j]);
        for j in 0..8 {
            if better[j] {
                best_error[j] = cur_error[j];
                scale[j] = this_scale[j];
                min[j] = this_min[j];
            }
        }
        for (level, trial) in levels.iter_mut().zip(&trial) {
            for j in 0..8 {
                if better[j] {
                    level[j] = trial[j];
                }
            }
        }
    }
    for j in 0..8 {
        if flat[j] {
            levels.iter_mut().for_each(|l| l[j] = 0.0);
            (scale[j], min[j]) = (0.0, flat_min[j]);
        }
    }
    (scale, lanes(|j| -min[j]))
}

/// The shared part of Q4_K and Q5_K encoding: per 32-value sub-block scales and minimums found
/// by [`quantize_with_min`], quantized to 6 bits, then every value re-quantized against the
/// stored scales. Writes `d`, `dmin` and the 12 scale bytes into `head` and returns the quants.
fn encode_k4_scales(x: &[f32], nmax: i32, rmin: f32, nstep: i32, head: &mut [u8]) -> [u8; QK_K] {
    let columns: [Lanes<f32>; 32] = std::array::from_fn(|i| lanes(|j| x[32 * j + i]));
    let mut sum_x2 = [0f32; 8];
    for row in &columns {
        for j in 0..8 {
            sum_x2[j] += row[j] * row[j];
        }
    }
    let av_x = lanes(|j| (sum_x2[j] / 32.0).sqrt());
    let weights: [Lanes<f32>; 32] = std::array::from_fn(|i| lanes(|j| av_x[j] + columns[i][j].abs()));
    let mut found = [[0f32; 8]; 32];
    let (scales, mins) = quantize_with_min(&columns, &weights, nmax, &mut found, rmin, 0.1, nstep);
    let mut levels = [0u8; QK_K];
    for (i, row) in found.iter().enumerate() {
        for j in 0..8 {
            levels[32 * j + i] = row[j] as u8;
        }
    }
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..8 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let packed = &mut head[4..16];
    packed.fill(0);
    for j in 0..8 {
        // ggml stores nearest_int into a uint8_t before clamping: keep that wrap-around.
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0x0F) | (lm & 0x0F) << 4;
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let d_bits = f32_to_f16_bits(max_scale / 63.0);
    let dmin_bits = f32_to_f16_bits(max_min / 63.0);
    head[0..2].copy_from_slice(&d_bits.to_le_bytes());
    head[2..4].copy_from_slice(&dmin_bits.to_le_bytes());
    let (d_all, dmin_all) = (f16_bits_to_f32(d_bits), f16_bits_to_f32(dmin_bits));
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &head[4..16]);
        let d = d_all * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin_all * m as f32;
        for i in 32 * j..32 * j + 32 {
            levels[i] = nearest_level((x[i] + dm) / d, 0.0, nmax as f32) as u8;
        }
    }
    levels
}

pub(super) fn encode_q4_k(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(144)) {
        let levels = encode_k4_scales(x, 15, -1.0, 20, b);
        let qs = &mut b[16..144];
        for c in 0..4 {
            for l in 0..32 {
                qs[32 * c + l] = levels[64 * c + l] | levels[64 * c + 32 + l] << 4;
            }
        }
    }
}

pub(super) fn encode_q5_k(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(176)) {
        let levels = encode_k4_scales(x, 31, -0.5, 15, b);
        let (qh, qs) = b[16..176].split_at_mut(32);
        qh.fill(0);
        for c in 0..4 {
            let (m1, m2) = (1u8 << (2 * c), 2u8 << (2 * c));
            for j in 0..32 {
                let mut l1 = levels[64 * c + j];
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = levels[64 * c + 32 + j];
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                qs[32 * c + j] = l1 | l2 << 4;
            }
        }
    }
}

/// ggml's `make_qx_quants` with `rmse_type` 1 and no weights, on 8 sub-blocks of 16 values at
/// once (lanes as in [`Lanes`]; `x[i][j]` is value `i` of sub-block `j`): a symmetric scale per
/// sub-block for levels `-nmax..nmax-1`, refined over 18 nearby candidates by
/// squared-magnitude-weighted error. `levels` receives the quants (as f32, not yet offset).
fn quantize_symmetric(x: &[Lanes<f32>; 16], nmax: i32, levels: &mut [Lanes<f32>; 16]) -> Lanes<f32> {
    let mut max = [0f32; 8];
    let mut amax = [0f32; 8];
    for row in x {
        for j in 0..8 {
            if row[j].abs() > amax[j] {
                amax[j] = row[j].abs();
                max[j] = row[j];
            }
        }
    }
    let level = |iscale: f32, v: f32| nearest_level(iscale * v, -nmax as f32, (nmax - 1) as f32);
    // ggml's two sums over the levels at `iscale`.
    let sums = |iscale: &Lanes<f32>| {
        let (mut sumlx, mut suml2) = ([0f32; 8], [0f32; 8]);
        for row in x {
            for j in 0..8 {
                let (v, l) = (row[j], level(iscale[j], row[j]));
                let w = v * v;
                sumlx[j] += w * v * l;
                suml2[j] += w * l * l;
            }
        }
        (sumlx, suml2)
    };
    // The levels of the best candidate are recomputed from its inverse scale at the end.
    let mut best_iscale = lanes(|j| -(nmax as f32) / max[j]);
    let (sumlx, suml2) = sums(&best_iscale);
    let mut scale = lanes(|j| if suml2[j] != 0.0 { sumlx[j] / suml2[j] } else { 0.0 });
    let mut best = lanes(|j| scale[j] * sumlx[j]);
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = lanes(|j| -(nmax as f32 + 0.1 * is as f32) / max[j]);
        let (sumlx, suml2) = sums(&iscale);
        for j in 0..8 {
            if suml2[j] > 0.0 && sumlx[j] * sumlx[j] > best[j] * suml2[j] {
                scale[j] = sumlx[j] / suml2[j];
                best[j] = scale[j] * sumlx[j];
                best_iscale[j] = iscale[j];
            }
        }
    }
    // A sub-block of (nearly) zeros: scale 0, stored levels 0 (computed above on infinities).
    let zero = lanes(|j| amax[j] < GROUP_MAX_EPS);
    for (level_row, x_row) in levels.iter_mut().zip(x) {
        for j in 0..8 {
            level_row[j] = if zero[j] { -nmax as f32 } else { level(best_iscale[j], x_row[j]) };
        }
    }
    lanes(|j| if zero[j] { 0.0 } else { scale[j] })
}

pub(super) fn encode_q6_k(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(210)) {
        let mut levels = [0i8; QK_K];
        let mut scales = [0f32; 16];
        for half in 0..2 {
            let columns: [Lanes<f32>; 16] = std::array::from_fn(|i| lanes(|j| x[16 * (8 * half + j) + i]));
            let mut found = [[0f32; 8]; 16];
            let found_scales = quantize_symmetric(&columns, 32, &mut found);
            for j in 0..8 {
                scales[8 * half + j] = found_scales[j];
                for (i, row) in found.iter().enumerate() {
                    levels[16 * (8 * half + j) + i] = (row[j] as i32 + 32) as i8;
                }
            }
        }
        let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
        for ib in 0..16 {
            if scales[ib].abs() > max_abs_scale {
                max_abs_scale = scales[ib].abs();
                max_scale = scales[ib];
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            b.fill(0);
            continue;
        }
        let iscale = -128.0 / max_scale;
        let d_bits = f32_to_f16_bits(1.0 / iscale);
        b[208..210].copy_from_slice(&d_bits.to_le_bytes());
        let d_all = f16_bits_to_f32(d_bits);
        for ib in 0..16 {
            let sc = nearest_int(iscale * scales[ib]).min(127) as i8;
            b[192 + ib] = sc as u8;
            let d = d_all * sc as f32;
            if d == 0.0 {
                continue;
            }
            for i in 16 * ib..16 * ib + 16 {
                levels[i] = (nearest_level(x[i] / d, -32.0, 31.0) + 32.0) as i8;
            }
        }
        let (ql, qh) = b[..192].split_at_mut(128);
        for half in 0..2 {
            let l6 = |k: usize| levels[128 * half + k] as u8;
            for l in 0..32 {
                ql[64 * half + l] = (l6(l) & 0x0F) | (l6(l + 64) & 0x0F) << 4;
                ql[64 * half + l + 32] = (l6(l + 32) & 0x0F) | (l6(l + 96) & 0x0F) << 4;
                qh[32 * half + l] =
                    l6(l) >> 4 | (l6(l + 32) >> 4) << 2 | (l6(l + 64) >> 4) << 4 | (l6(l + 96) >> 4) << 6;
            }
        }
    }
}
