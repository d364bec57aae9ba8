//! Plain float storage: F32, F16 and BF16, rounded exactly as ggml rounds.

use half::f16;

/// ggml's `GGML_FP32_TO_FP16`: round to nearest even, subnormals kept, every NaN to the quiet
/// NaN 0x7E00 with the sign kept.
pub fn f32_to_f16_bits(x: f32) -> u16 {
    if x.is_nan() { ((x.to_bits() >> 16) as u16 & 0x8000) | 0x7E00 } else { f16::from_f32(x).to_bits() }
}

pub fn f16_bits_to_f32(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

/// ggml's `GGML_FP32_TO_BF16`: round to nearest even; a NaN keeps its top bits and is made quiet.
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let u = x.to_bits();
    if u & 0x7FFF_FFFF > 0x7F80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    ((u + (0x7FFF + ((u >> 16) & 1))) >> 16) as u16
}

pub fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

pub(super) fn decode_f32(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(4).zip(dst) {
        *y = f32::from_le_bytes(b.try_into().unwrap());
    }
}

pub(super) fn encode_f32(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.iter().zip(dst.chunks_exact_mut(4)) {
        b.copy_from_slice(&x.to_le_bytes());
    }
}

pub(super) fn decode_f16(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(2).zip(dst) {
        *y = f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

pub(super) fn encode_f16(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.iter().zip(dst.chunks_exact_mut(2)) {
        b.copy_from_slice(&f32_to_f16_bits(*x).to_le_bytes());
    }
}

pub(super) fn decode_bf16(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(2).zip(dst) {
        *y = bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]));
    }
}

pub(super) fn encode_bf16(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.iter().zip(dst.chunks_exact_mut(2)) {
        b.copy_from_slice(&f32_to_bf16_bits(*x).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounding_matches_ggml() {
        assert_eq!(f32_to_f16_bits(1.0), 0x3C00);
        assert_eq!(f32_to_f16_bits(65520.0), 0x7C00, "rounds up to infinity");
        assert_eq!(f32_to_f16_bits(f32::NAN), 0x7E00);
        assert_eq!(f32_to_f16_bits(-f32::NAN), 0xFE00);
        // Halfway between the two smallest subnormals rounds to even (zero).
        assert_eq!(f32_to_f16_bits(2f32.powi(-25)), 0x0000);
        assert_eq!(f32_to_f16_bits(3.0 * 2f32.powi(-25)), 0x0002);
    }

    #[test]
    fn bf16_rounding_matches_ggml() {
        assert_eq!(f32_to_bf16_bits(1.0), 0x3F80);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3F80_8000)), 0x3F80, "tie to even");
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3F81_8000)), 0x3F82, "tie to even");
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x7FC0_0001)), 0x7FC0);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x7F80_0001)), 0x7FC0, "signalling NaN made quiet");
    }
}
