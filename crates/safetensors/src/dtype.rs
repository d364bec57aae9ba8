//! The element types of the checkpoints selene reads and writes.

use selene_gguf::codec::{bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits, f32_to_f16_bits};

/// A floating-point element type, as a safetensors header names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    pub(crate) fn from_name(name: &str) -> Option<Dtype> {
        Some(match name {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }

    /// Widens little-endian values to f32 (exactly: every F16 and BF16 value is an f32).
    pub fn decode(self, bytes: &[u8], out: &mut [f32]) {
        match self {
            Dtype::F32 => out
                .iter_mut()
                .zip(bytes.chunks_exact(4))
                .for_each(|(y, b)| *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Dtype::F16 => out
                .iter_mut()
                .zip(bytes.chunks_exact(2))
                .for_each(|(y, b)| *y = f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))),
            Dtype::BF16 => out
                .iter_mut()
                .zip(bytes.chunks_exact(2))
                .for_each(|(y, b)| *y = bf16_bits_to_f32(u16::from_le_bytes([b[0], b[1]]))),
        }
    }

    /// Rounds values to this type (to nearest even, as ggml does) as little-endian bytes.
    pub fn encode(self, values: &[f32]) -> Vec<u8> {
        match self {
            Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::F16 => values.iter().flat_map(|&v| f32_to_f16_bits(v).to_le_bytes()).collect(),
            Dtype::BF16 => values.iter().flat_map(|&v| f32_to_bf16_bits(v).to_le_bytes()).collect(),
        }
    }

    /// Rounds an f32 to the nearest value of this type (to nearest even, as ggml does).
    pub fn round(self, x: f32) -> f32 {
        match self {
            Dtype::F32 => x,
            Dtype::F16 => f16_bits_to_f32(f32_to_f16_bits(x)),
            Dtype::BF16 => bf16_bits_to_f32(f32_to_bf16_bits(x)),
        }
    }
}
