//! Hugging Face Llama tensor names to GGUF names (gguf-py's tensor map for the `llama` arch).
//!
//! A name that maps to nothing is an error rather than a silent drop: an unknown tensor means
//! the checkpoint is not the plain Llama this tool converts (biases, extra heads, adapters).

/// How a tensor of the checkpoint enters the GGUF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapped {
    /// Written under this GGUF name.
    Tensor { gguf: String, layer: Option<u32>, role: Role },
    /// Not written (rotary inverse frequencies, which llama.cpp recomputes).
    Dropped,
}

/// What a tensor does, where that matters to the conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Q projection: rows permuted to llama.cpp's interleaved RoPE layout over `n_head` heads.
    Query,
    /// K projection: permuted over `n_head_kv` heads.
    Key,
    Other,
}

const LAYER_TENSORS: &[(&str, &str, Role)] = &[
    ("input_layernorm.weight", "attn_norm.weight", Role::Other),
    ("self_attn.q_proj.weight", "attn_q.weight", Role::Query),
    ("self_attn.k_proj.weight", "attn_k.weight", Role::Key),
    ("self_attn.v_proj.weight", "attn_v.weight", Role::Other),
    ("self_attn.o_proj.weight", "attn_output.weight", Role::Other),
    ("post_attention_layernorm.weight", "ffn_norm.weight", Role::Other),
    ("mlp.gate_proj.weight", "ffn_gate.weight", Role::Other),
    ("mlp.up_proj.weight", "ffn_up.weight", Role::Other),
    ("mlp.down_proj.weight", "ffn_down.weight", Role::Other),
];

/// Maps a checkpoint tensor name; `None` when the name is not part of a Llama model.
pub fn map(hf: &str, n_layer: u32) -> Option<Mapped> {
    let other = |gguf: &str| Some(Mapped::Tensor { gguf: gguf.to_owned(), layer: None, role: Role::Other });
    match hf {
        "model.embed_tokens.weight" => return other("token_embd.weight"),
        "model.norm.weight" => return other("output_norm.weight"),
        "lm_head.weight" => return other("output.weight"),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, what) = rest.split_once('.')?;
    let layer: u32 = layer.parse().ok().filter(|&l| l < n_layer)?;
    if what == "self_attn.rotary_emb.inv_freq" {
        return Some(Mapped::Dropped);
    }
    let (_, gguf, role) = LAYER_TENSORS.iter().find(|(name, _, _)| *name == what)?;
    Some(Mapped::Tensor { gguf: format!("blk.{layer}.{gguf}"), layer: Some(layer), role: *role })
}

/// Every checkpoint name a complete Llama model with `n_layer` layers has (the output projection
/// only when untied).
pub fn required(n_layer: u32, tied: bool) -> Vec<String> {
    let mut names = vec!["model.embed_tokens.weight".to_owned(), "model.norm.weight".to_owned()];
    if !tied {
        names.push("lm_head.weight".to_owned());
    }
    for l in 0..n_layer {
        names.extend(LAYER_TENSORS.iter().map(|(hf, _, _)| format!("model.layers.{l}.{hf}")));
    }
    names
}

/// llama-quantize's order: tensors outside blocks first, then by block number, by name inside
/// (its `weight_name_comparer`).
pub fn gguf_order(a: &str, b: &str) -> std::cmp::Ordering {
    let layer = |n: &str| -> i64 {
        n.strip_prefix("blk.").and_then(|r| r.split('.').next()).and_then(|l| l.parse().ok()).unwrap_or(-1)
    };
    layer(a).cmp(&layer(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_llama_names() {
        assert_eq!(
            map("model.layers.3.self_attn.k_proj.weight", 4),
            Some(Mapped::Tensor { gguf: "blk.3.attn_k.weight".into(), layer: Some(3), role: Role::Key })
        );
        assert_eq!(map("model.layers.4.mlp.up_proj.weight", 4), None, "layer beyond num_hidden_layers");
        assert_eq!(map("model.layers.0.self_attn.q_proj.bias", 4), None);
        assert_eq!(map("model.layers.0.self_attn.rotary_emb.inv_freq", 4), Some(Mapped::Dropped));
        assert_eq!(required(2, true).len(), 2 + 18);
    }

    #[test]
    fn orders_like_llama_quantize() {
        let mut names = vec![
            "blk.10.attn_q.weight",
            "token_embd.weight",
            "blk.2.ffn_up.weight",
            "blk.2.attn_k.weight",
            "output.weight",
            "output_norm.weight",
            "rope_freqs.weight",
        ];
        names.sort_by(|a, b| gguf_order(a, b));
        assert_eq!(
            names,
            [
                "output.weight",
                "output_norm.weight",
                "rope_freqs.weight",
                "token_embd.weight",
                "blk.2.attn_k.weight",
                "blk.2.ffn_up.weight",
                "blk.10.attn_q.weight"
            ]
        );
    }
}
