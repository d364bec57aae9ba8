//! ggml's first block formats: 32 values with one f16 scale (Q4_0, Q5_0, Q8_0) or a scale and a
//! minimum (Q4_1, Q5_1). Quantization follows ggml's reference functions operation by
//! operation, including their truncating casts, so that output bytes are identical.

use super::float::{f16_bits_to_f32, f32_to_f16_bits};

const QK: usize = 32;

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16_bits_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn put_f16(b: &mut [u8], at: usize, x: f32) {
    b[at..at + 2].copy_from_slice(&f32_to_f16_bits(x).to_le_bytes());
}

/// The value of largest magnitude (the first of equals), with its sign.
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// C's cast of a float to `int8_t`/`uint8_t` as ggml's reference runs on x86-64: the float is
/// truncated to 32 bits (`cvttss2si`, whose result for NaN and out-of-range values, infinities
/// included, is `i32::MIN`) and the low byte kept. Rust's `as i8` saturates instead, which
/// differs once a block's scale is subnormal and its inverse infinite.
fn c_cast_low_byte(x: f32) -> u8 {
    let wide = if (-2147483648.0..2147483648.0).contains(&x) { x as i32 } else { i32::MIN };
    wide as u8
}

/// ggml's `MIN(top, (int8_t)x)`: the low byte of the cast, compared as signed.
fn c_cast_min(x: f32, top: i8) -> u8 {
    (c_cast_low_byte(x) as i8).min(top) as u8
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// The 5th bits of a block's 32 quants: bit j for value j.
fn high_bits(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().unwrap())
}

pub(super) fn decode_q4_0(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(18).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        for j in 0..16 {
            y[j] = ((b[2 + j] & 0x0F) as i32 - 8) as f32 * d;
            y[j + 16] = ((b[2 + j] >> 4) as i32 - 8) as f32 * d;
        }
    }
}

pub(super) fn encode_q4_0(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(18)) {
        let d = signed_absmax(x) / -8.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        for j in 0..16 {
            let lo = c_cast_min(x[j] * id + 8.5, 15);
            let hi = c_cast_min(x[j + 16] * id + 8.5, 15);
            b[2 + j] = lo | hi << 4;
        }
    }
}

pub(super) fn decode_q4_1(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(20).zip(dst.chunks_exact_mut(QK)) {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        for j in 0..16 {
            y[j] = (b[4 + j] & 0x0F) as f32 * d + m;
            y[j + 16] = (b[4 + j] >> 4) as f32 * d + m;
        }
    }
}

pub(super) fn encode_q4_1(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(20)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        put_f16(b, 2, min);
        for j in 0..16 {
            let lo = c_cast_min((x[j] - min) * id + 0.5, 15);
            let hi = c_cast_min((x[j + 16] - min) * id + 0.5, 15);
            b[4 + j] = lo | hi << 4;
        }
    }
}

pub(super) fn decode_q5_0(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(22).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        let qh = high_bits(&b[2..]);
        for j in 0..16 {
            let lo = (b[6 + j] & 0x0F) as u32 | ((qh >> j) << 4 & 0x10);
            let hi = (b[6 + j] >> 4) as u32 | ((qh >> (j + 12)) & 0x10);
            y[j] = (lo as i32 - 16) as f32 * d;
            y[j + 16] = (hi as i32 - 16) as f32 * d;
        }
    }
}

pub(super) fn encode_q5_0(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(22)) {
        let d = signed_absmax(x) / -16.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        let mut qh = 0u32;
        for j in 0..16 {
            let lo = c_cast_min(x[j] * id + 16.5, 31);
            let hi = c_cast_min(x[j + 16] * id + 16.5, 31);
            b[6 + j] = (lo & 0x0F) | (hi & 0x0F) << 4;
            qh |= u32::from(lo >> 4) << j | u32::from(hi >> 4) << (j + 16);
        }
        b[2..6].copy_from_slice(&qh.to_le_bytes());
    }
}

pub(super) fn decode_q5_1(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(24).zip(dst.chunks_exact_mut(QK)) {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        let qh = high_bits(&b[4..]);
        for j in 0..16 {
            let lo = (b[8 + j] & 0x0F) as u32 | ((qh >> j) << 4 & 0x10);
            let hi = (b[8 + j] >> 4) as u32 | ((qh >> (j + 12)) & 0x10);
            y[j] = lo as f32 * d + m;
            y[j + 16] = hi as f32 * d + m;
        }
    }
}

pub(super) fn encode_q5_1(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(24)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        put_f16(b, 2, min);
        let mut qh = 0u32;
        for j in 0..16 {
            let lo = c_cast_low_byte((x[j] - min) * id + 0.5);
            let hi = c_cast_low_byte((x[j + 16] - min) * id + 0.5);
            b[8 + j] = (lo & 0x0F) | (hi & 0x0F) << 4;
            qh |= u32::from((lo & 0x10) >> 4) << j | u32::from((hi & 0x10) >> 4) << (j + 16);
        }
        b[4..8].copy_from_slice(&qh.to_le_bytes());
    }
}

pub(super) fn decode_q8_0(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(34).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        for j in 0..QK {
            y[j] = (b[2 + j] as i8) as f32 * d;
        }
    }
}

pub(super) fn encode_q8_0(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(34)) {
        let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
        let d = amax / 127.0;
        let id = inverse(d);
        put_f16(b, 0, d);
        for j in 0..QK {
            // C's roundf: half away from zero, which f32::round is.
            b[2 + j] = c_cast_low_byte((x[j] * id).round());
        }
    }
}
