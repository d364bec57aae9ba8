//! How ggml blocks are laid out in device memory.
//!
//! Shaders read storage buffers as 32-bit words, and several ggml blocks are not a whole number
//! of words long (Q4_0 is 18 bytes, Q8_0 34, Q6_K 210), so a block straddles words at an offset
//! that changes from block to block. At load each block is therefore split in two: its *body*,
//! every byte but the one f16 scale that breaks the alignment, and that scale, moved to a plane
//! of f16 pairs after all the bodies. Bodies keep ggml's byte order, so the kernels decode them
//! with ggml's own formulas; the split costs no memory (two scales share a word). Types whose
//! blocks are already whole words (Q4_1, Q4_K, Q5_K) are copied as they are. Reading the file's
//! bytes as they are, bodies straddling words, was measured no faster for any type and slower for
//! Q4_0 (`tools/bench/results/kernel_layouts.md`).

use selene_gguf::GgmlType;
use serde::{Deserialize, Serialize};

/// The longest body of a block that has a scale plane (Q6_K's).
const MAX_BODY_BYTES: usize = 208;

/// A ggml block type the kernels compute with.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlockFormat {
    Q4_0,
    Q4_1,
    Q8_0,
    Q4_K,
    Q5_K,
    Q6_K,
}

impl BlockFormat {
    pub const ALL: [BlockFormat; 6] = [
        BlockFormat::Q4_0,
        BlockFormat::Q4_1,
        BlockFormat::Q8_0,
        BlockFormat::Q4_K,
        BlockFormat::Q5_K,
        BlockFormat::Q6_K,
    ];

    /// The format for a ggml type, if the kernels know it.
    pub fn of(ty: GgmlType) -> Option<BlockFormat> {
        Some(match ty {
            GgmlType::Q4_0 => BlockFormat::Q4_0,
            GgmlType::Q4_1 => BlockFormat::Q4_1,
            GgmlType::Q8_0 => BlockFormat::Q8_0,
            GgmlType::Q4_K => BlockFormat::Q4_K,
            GgmlType::Q5_K => BlockFormat::Q5_K,
            GgmlType::Q6_K => BlockFormat::Q6_K,
            _ => return None,
        })
    }

    pub fn ggml_type(self) -> GgmlType {
        match self {
            BlockFormat::Q4_0 => GgmlType::Q4_0,
            BlockFormat::Q4_1 => GgmlType::Q4_1,
            BlockFormat::Q8_0 => GgmlType::Q8_0,
            BlockFormat::Q4_K => GgmlType::Q4_K,
            BlockFormat::Q5_K => GgmlType::Q5_K,
            BlockFormat::Q6_K => GgmlType::Q6_K,
        }
    }

    /// Values per block.
    pub fn block_values(self) -> usize {
        self.ggml_type().block_size()
    }

    /// Where the f16 scale that breaks word alignment sits in the ggml block, if one does.
    fn plane_scale_offset(self) -> Option<usize> {
        match self {
            BlockFormat::Q4_0 | BlockFormat::Q8_0 => Some(0),
            BlockFormat::Q6_K => Some(208),
            BlockFormat::Q4_1 | BlockFormat::Q4_K | BlockFormat::Q5_K => None,
        }
    }

    /// Whether the block's scale lives in the plane after the bodies.
    fn has_scale_plane(self) -> bool {
        self.plane_scale_offset().is_some()
    }

    /// 32-bit words of one block's body.
    pub fn body_words(self) -> usize {
        let bytes = self.ggml_type().block_bytes() - if self.has_scale_plane() { 2 } else { 0 };
        debug_assert_eq!(bytes % 4, 0);
        bytes / 4
    }

    /// Words on the device for `blocks` blocks: their bodies, then their scales two to a word.
    pub fn device_words(self, blocks: usize) -> usize {
        blocks * self.body_words() + if self.has_scale_plane() { blocks.div_ceil(2) } else { 0 }
    }

    /// The device words for consecutive ggml blocks (`bytes` holds whole blocks).
    pub fn pack(self, bytes: &[u8]) -> Vec<u32> {
        let block_bytes = self.ggml_type().block_bytes();
        let blocks = bytes.len() / block_bytes;
        debug_assert_eq!(blocks * block_bytes, bytes.len());
        let mut words = Vec::with_capacity(self.device_words(blocks));
        let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        match self.plane_scale_offset() {
            None => words.extend(bytes.chunks_exact(4).map(word)),
            Some(at) => {
                let mut scales = Vec::with_capacity(blocks);
                let mut body = [0u8; MAX_BODY_BYTES];
                let body_bytes = block_bytes - 2;
                for block in bytes.chunks_exact(block_bytes) {
                    scales.push(u16::from_le_bytes([block[at], block[at + 1]]) as u32);
                    body[..at].copy_from_slice(&block[..at]);
                    body[at..body_bytes].copy_from_slice(&block[at + 2..]);
                    words.extend(body[..body_bytes].chunks_exact(4).map(word));
                }
                words.extend(scales.chunks(2).map(|pair| pair[0] | pair.get(1).map_or(0, |hi| hi << 16)));
            }
        }
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_whole_words_and_cost_no_memory() {
        for format in BlockFormat::ALL {
            let ty = format.ggml_type();
            assert_eq!(BlockFormat::of(ty), Some(format));
            // Two blocks take exactly their ggml bytes.
            assert_eq!(format.device_words(2) * 4, 2 * ty.block_bytes(), "{ty}");
            let bytes: Vec<u8> = (0..3 * ty.block_bytes()).map(|i| (i * 7 + 3) as u8).collect();
            assert_eq!(format.pack(&bytes).len(), format.device_words(3), "{ty}");
        }
    }

    #[test]
    fn the_scale_moves_to_the_plane_and_the_body_keeps_its_bytes() {
        let format = BlockFormat::Q4_0;
        let mut bytes = vec![0u8; 36];
        bytes[0..2].copy_from_slice(&0x1234u16.to_le_bytes());
        bytes[18..20].copy_from_slice(&0xabcdu16.to_le_bytes());
        bytes[2] = 0x11;
        bytes[20] = 0x22;
        let words = format.pack(&bytes);
        assert_eq!(words[0], 0x11);
        assert_eq!(words[4], 0x22);
        assert_eq!(words[8], 0xabcd_1234);
    }
}
