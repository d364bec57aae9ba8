//! File types (`--type Q4_K_M`) and llama-quantize's rules for the type of each tensor.
//!
//! A "Q4_K_M" file is not all Q4_K: llama-quantize gives the output projection Q6_K, half of the
//! `attn_v` and `ffn_down` tensors Q6_K, keeps norms in F32, and falls back to a 32-block type
//! when a row is not a multiple of 256. These rules (`src/llama-quant.cpp`, for dense Llama
//! models without an importance matrix) decide the bytes, so they are reproduced exactly,
//! including the order-dependent counters over `attn_v` tensors.

use selene_gguf::GgmlType;

/// The output file types, with llama.cpp's `llama_ftype` ids (`general.file_type`).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
}

/// Each type with its name and llama-quantize's one-line description.
pub const FILE_TYPES: &[(FileType, &str, &str)] = &[
    (FileType::Q4_0, "Q4_0", "4.34G, +0.4685 ppl @ Llama-3-8B"),
    (FileType::Q4_1, "Q4_1", "4.78G, +0.4511 ppl @ Llama-3-8B"),
    (FileType::Q5_0, "Q5_0", "5.21G, +0.1316 ppl @ Llama-3-8B"),
    (FileType::Q5_1, "Q5_1", "5.65G, +0.1062 ppl @ Llama-3-8B"),
    (FileType::Q4_K_S, "Q4_K_S", "4.37G, +0.2689 ppl @ Llama-3-8B"),
    (FileType::Q4_K_M, "Q4_K_M", "4.58G, +0.1754 ppl @ Llama-3-8B"),
    (FileType::Q5_K_S, "Q5_K_S", "5.21G, +0.1049 ppl @ Llama-3-8B"),
    (FileType::Q5_K_M, "Q5_K_M", "5.33G, +0.0569 ppl @ Llama-3-8B"),
    (FileType::Q6_K, "Q6_K", "6.14G, +0.0217 ppl @ Llama-3-8B"),
    (FileType::Q8_0, "Q8_0", "7.96G, +0.0026 ppl @ Llama-3-8B"),
    (FileType::F16, "F16", "14.00G, +0.0020 ppl @ Mistral-7B"),
    (FileType::BF16, "BF16", "14.00G, -0.0050 ppl @ Mistral-7B"),
    (FileType::F32, "F32", "26.00G @ 7B"),
];

impl FileType {
    pub fn from_name(name: &str) -> Option<FileType> {
        FILE_TYPES.iter().find(|(_, n, _)| n.eq_ignore_ascii_case(name)).map(|(t, _, _)| *t)
    }

    pub fn name(self) -> &'static str {
        FILE_TYPES.iter().find(|(t, _, _)| *t == self).map(|(_, n, _)| *n).expect("every type is listed")
    }

    /// `general.file_type`.
    pub fn id(self) -> u32 {
        match self {
            FileType::F32 => 0,
            FileType::F16 => 1,
            FileType::Q4_0 => 2,
            FileType::Q4_1 => 3,
            FileType::Q8_0 => 7,
            FileType::Q5_0 => 8,
            FileType::Q5_1 => 9,
            FileType::Q4_K_S => 14,
            FileType::Q4_K_M => 15,
            FileType::Q5_K_S => 16,
            FileType::Q5_K_M => 17,
            FileType::Q6_K => 18,
            FileType::BF16 => 32,
        }
    }

    fn default_type(self) -> GgmlType {
        match self {
            FileType::F32 => GgmlType::F32,
            FileType::F16 => GgmlType::F16,
            FileType::BF16 => GgmlType::BF16,
            FileType::Q8_0 => GgmlType::Q8_0,
            FileType::Q4_0 => GgmlType::Q4_0,
            FileType::Q4_1 => GgmlType::Q4_1,
            FileType::Q5_0 => GgmlType::Q5_0,
            FileType::Q5_1 => GgmlType::Q5_1,
            FileType::Q4_K_S | FileType::Q4_K_M => GgmlType::Q4_K,
            FileType::Q5_K_S | FileType::Q5_K_M => GgmlType::Q5_K,
            FileType::Q6_K => GgmlType::Q6_K,
        }
    }
}

/// What the rules need to know about one tensor.
pub struct TensorShape<'a> {
    pub name: &'a str,
    /// Row length (ggml's `ne[0]`).
    pub row: u64,
    pub n_dims: usize,
}

/// The model facts the rules look at.
pub struct ModelShape {
    pub n_layer: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
}

/// The ggml type of each tensor, given in llama-quantize's order (see `convert::gguf_order`):
/// llama-quantize's `llama_tensor_get_type` over the converter's output.
pub fn tensor_types(ftype: FileType, tensors: &[TensorShape<'_>], model: &ModelShape) -> Vec<GgmlType> {
    let default = ftype.default_type();
    let tied = !tensors.iter().any(|t| t.name == "output.weight");
    let n_attn_v = tensors.iter().filter(|t| t.name.contains("attn_v.weight")).count() as i64;
    let n_layer = i64::from(model.n_layer);
    // LLM_TYPE_70B: 80 layers with grouped-query attention.
    let is_70b = model.n_layer == 80 && model.n_head != model.n_head_kv;
    let (mut i_attn_v, mut i_ffn_down) = (0i64, 0i64);
    let more_bits = |i: i64, n: i64| i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    let mut types = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !allows_quantization(t) {
            types.push(GgmlType::F32);
            continue;
        }
        if !default.is_block_quantized() {
            types.push(default);
            continue;
        }
        let mut ty = default;
        if t.name == "output.weight" || (tied && t.name == "token_embd.weight") {
            if t.row % default.block_size() as u64 != 0 {
                ty = GgmlType::Q8_0;
            } else if ty != GgmlType::Q8_0 {
                ty = GgmlType::Q6_K;
            }
        } else if t.name.contains("attn_v.weight") {
            if matches!(ftype, FileType::Q4_K_M | FileType::Q5_K_M) && more_bits(i_attn_v, n_attn_v) {
                ty = GgmlType::Q6_K;
            } else if ftype == FileType::Q4_K_S && i_attn_v < 4 {
                ty = GgmlType::Q5_K;
            }
            if is_70b && matches!(ty, GgmlType::Q3_K | GgmlType::Q4_K) {
                ty = GgmlType::Q5_K;
            }
            i_attn_v += 1;
        } else if t.name.contains("ffn_down") {
            let i = i_ffn_down;
            match ftype {
                FileType::Q4_K_M | FileType::Q5_K_M if more_bits(i, n_layer) => ty = GgmlType::Q6_K,
                FileType::Q4_K_S if i < n_layer / 8 => ty = GgmlType::Q5_K,
                _ => {}
            }
            i_ffn_down += 1;
        }
        types.push(fallback(ty, t.row));
    }
    types
}

/// llama-quantize quantizes only 2-D weights that are not norms (the others stay F32).
fn allows_quantization(t: &TensorShape<'_>) -> bool {
    t.n_dims >= 2 && t.name.ends_with("weight") && !t.name.contains("_norm.weight")
}

/// A type whose block does not divide the row length is replaced (Q4_K → Q5_0, Q5_K → Q5_1,
/// Q6_K → Q8_0), and by F16 when even 32 does not divide it.
fn fallback(ty: GgmlType, row: u64) -> GgmlType {
    if row % ty.block_size() as u64 == 0 {
        return ty;
    }
    let smaller = match ty {
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q5_K => GgmlType::Q5_1,
        GgmlType::Q6_K => GgmlType::Q8_0,
        other => other,
    };
    if row % smaller.block_size() as u64 == 0 { smaller } else { GgmlType::F16 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama(n_layer: u32, tied: bool) -> Vec<String> {
        let mut names: Vec<String> =
            ["output_norm.weight", "rope_freqs.weight", "token_embd.weight"].map(String::from).into();
        if !tied {
            names.insert(0, "output.weight".into());
        }
        for l in 0..n_layer {
            for t in
                ["attn_k", "attn_norm", "attn_output", "attn_q", "attn_v", "ffn_down", "ffn_gate", "ffn_norm", "ffn_up"]
            {
                names.push(format!("blk.{l}.{t}.weight"));
            }
        }
        names
    }

    fn count(ftype: FileType, n_layer: u32, row: u64, tied: bool) -> std::collections::BTreeMap<&'static str, usize> {
        let names = llama(n_layer, tied);
        let shapes: Vec<TensorShape> = names
            .iter()
            .map(|n| TensorShape {
                name: n,
                row: if n.contains("ffn_down") { 14336 } else { row },
                n_dims: if n.contains("norm") || n.contains("rope") { 1 } else { 2 },
            })
            .collect();
        let types = tensor_types(ftype, &shapes, &ModelShape { n_layer, n_head: 32, n_head_kv: 8 });
        let mut c = std::collections::BTreeMap::new();
        for t in types {
            *c.entry(t.name()).or_default() += 1;
        }
        c
    }

    #[test]
    fn llama31_8b_mixes_match_published_counts() {
        // gguf_quant.md section 3.7: Q4_K_M = 66 F32, 193 Q4_K, 33 Q6_K.
        assert_eq!(count(FileType::Q4_K_M, 32, 4096, false), [("F32", 66), ("Q4_K", 193), ("Q6_K", 33)].into());
        assert_eq!(count(FileType::Q5_K_M, 32, 4096, false), [("F32", 66), ("Q5_K", 193), ("Q6_K", 33)].into());
        assert_eq!(count(FileType::Q8_0, 32, 4096, false), [("F32", 66), ("Q8_0", 226)].into());
        assert_eq!(count(FileType::Q4_0, 32, 4096, false), [("F32", 66), ("Q4_0", 225), ("Q6_K", 1)].into());
        assert_eq!(
            count(FileType::Q4_K_S, 32, 4096, false),
            [("F32", 66), ("Q4_K", 217), ("Q5_K", 8), ("Q6_K", 1)].into()
        );
    }

    #[test]
    fn rows_of_576_fall_back() {
        // SmolLM2: tied embeddings, rows of 576 (not a multiple of 256).
        let c = count(FileType::Q4_K_M, 30, 576, true);
        // 14 of 30 attn_v get "more bits" (Q6_K, so Q8_0 here), like token_embd.
        assert_eq!(c.get("Q5_0"), Some(&(30 * 5 + 30 - 14)), "{c:?}");
        assert_eq!(c.get("Q8_0"), Some(&(1 + 14)), "{c:?}");
        assert_eq!(fallback(GgmlType::Q4_0, 40), GgmlType::F16);
    }
}
