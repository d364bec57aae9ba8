//! The ggml tensor types a GGUF file can name.
//!
//! Every type llama.cpp defines is listed, including those this crate cannot decode, because a
//! reader must still compute each tensor's byte size to validate a file and to print it.

use std::fmt;

macro_rules! ggml_types {
    ($($variant:ident = $id:literal, $name:literal, $block:literal, $bytes:literal;)*) => {
        /// A ggml tensor element type, with the id it has in GGUF files.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum GgmlType { $($variant,)* }

        impl GgmlType {
            /// Every type, in id order.
            pub const ALL: &[GgmlType] = &[$(GgmlType::$variant,)*];

            /// The id stored in GGUF tensor infos.
            pub const fn id(self) -> u32 { match self { $(GgmlType::$variant => $id,)* } }

            /// The name llama.cpp prints (`Q4_K`, `BF16`, ...).
            pub const fn name(self) -> &'static str { match self { $(GgmlType::$variant => $name,)* } }

            /// Elements per block: 1 for plain types, 32 or 256 for block-quantized ones.
            pub const fn block_size(self) -> usize { match self { $(GgmlType::$variant => $block,)* } }

            /// Bytes per block.
            pub const fn block_bytes(self) -> usize { match self { $(GgmlType::$variant => $bytes,)* } }

            /// The type with this GGUF id, if ggml defines one.
            pub const fn from_id(id: u32) -> Option<GgmlType> {
                match id { $($id => Some(GgmlType::$variant),)* _ => None }
            }
        }
    };
}

ggml_types! {
    F32 = 0, "F32", 1, 4;
    F16 = 1, "F16", 1, 2;
    Q4_0 = 2, "Q4_0", 32, 18;
    Q4_1 = 3, "Q4_1", 32, 20;
    Q5_0 = 6, "Q5_0", 32, 22;
    Q5_1 = 7, "Q5_1", 32, 24;
    Q8_0 = 8, "Q8_0", 32, 34;
    Q8_1 = 9, "Q8_1", 32, 40;
    Q2_K = 10, "Q2_K", 256, 84;
    Q3_K = 11, "Q3_K", 256, 110;
    Q4_K = 12, "Q4_K", 256, 144;
    Q5_K = 13, "Q5_K", 256, 176;
    Q6_K = 14, "Q6_K", 256, 210;
    Q8_K = 15, "Q8_K", 256, 292;
    IQ2_XXS = 16, "IQ2_XXS", 256, 66;
    IQ2_XS = 17, "IQ2_XS", 256, 74;
    IQ3_XXS = 18, "IQ3_XXS", 256, 98;
    IQ1_S = 19, "IQ1_S", 256, 50;
    IQ4_NL = 20, "IQ4_NL", 32, 18;
    IQ3_S = 21, "IQ3_S", 256, 110;
    IQ2_S = 22, "IQ2_S", 256, 82;
    IQ4_XS = 23, "IQ4_XS", 256, 136;
    I8 = 24, "I8", 1, 1;
    I16 = 25, "I16", 1, 2;
    I32 = 26, "I32", 1, 4;
    I64 = 27, "I64", 1, 8;
    F64 = 28, "F64", 1, 8;
    IQ1_M = 29, "IQ1_M", 256, 56;
    BF16 = 30, "BF16", 1, 2;
    TQ1_0 = 34, "TQ1_0", 256, 54;
    TQ2_0 = 35, "TQ2_0", 256, 66;
    MXFP4 = 39, "MXFP4", 32, 17;
    NVFP4 = 40, "NVFP4", 64, 36;
    Q1_0 = 41, "Q1_0", 128, 18;
}

impl GgmlType {
    /// The type with this name, ignoring case (`q4_k` finds `Q4_K`).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        GgmlType::ALL.iter().copied().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Bytes taken by `n_elements` values, or `None` when they do not fill whole blocks or the
    /// size overflows.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let block = self.block_size() as u64;
        (n_elements % block == 0).then(|| (n_elements / block).checked_mul(self.block_bytes() as u64))?
    }

    /// Whether values are stored in blocks with shared scales rather than one by one.
    pub fn is_block_quantized(self) -> bool {
        self.block_size() > 1
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for t in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(t.id()), Some(*t));
            assert_eq!(GgmlType::from_name(&t.name().to_lowercase()), Some(*t));
        }
        assert_eq!(GgmlType::from_id(4), None, "id 4 (old Q4_2) was removed from ggml");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(GgmlType::Q4_0.bytes_for(4096), Some(128 * 18));
        assert_eq!(GgmlType::Q6_K.bytes_for(4096), Some(16 * 210));
        assert_eq!(GgmlType::Q4_K.bytes_for(100), None);
        assert_eq!(GgmlType::F16.bytes_for(3), Some(6));
    }
}
