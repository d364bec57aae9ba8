//! The weights of a Llama model, by role: what each is called in a GGUF file and in a Hugging
//! Face checkpoint, its shape, and the row order llama.cpp gives query and key projections.
//!
//! Hugging Face rotates the two halves of each head (dimension `i` with `i + d/2`); llama.cpp
//! rotates neighbours (`2i` with `2i + 1`), so its converter interleaves the rows of each head of
//! the query and key projections: GGUF row `2i + j` of a head is Hugging Face row `j·d/2 + i`.
//! Writers apply that permutation and readers undo it, both through the pair of functions here.

use crate::config::LlamaConfig;

/// The GGUF tensor of Llama 3's rotary frequency divisors ([`crate::RopeConfig::freq_factors`]),
/// which has no Hugging Face counterpart.
pub const ROPE_FREQS: &str = "rope_freqs.weight";

/// The role of a weight in a Llama model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Weight {
    TokenEmbedding,
    OutputNorm,
    Output,
    Layer(usize, LayerWeight),
}

/// The weights of each decoder layer, in the order checkpoints are written here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerWeight {
    AttnNorm,
    Query,
    Key,
    Value,
    AttnOutput,
    FfnNorm,
    Gate,
    Up,
    Down,
}

/// Every role outside the layers with its GGUF and Hugging Face names (without `.weight`).
const GLOBAL_NAMES: [(Weight, &str, &str); 3] = [
    (Weight::TokenEmbedding, "token_embd", "model.embed_tokens"),
    (Weight::OutputNorm, "output_norm", "model.norm"),
    (Weight::Output, "output", "lm_head"),
];

/// Every layer role with its name inside `blk.{i}.` (GGUF) and `model.layers.{i}.` (Hugging
/// Face), without `.weight`.
const LAYER_NAMES: [(LayerWeight, &str, &str); 9] = [
    (LayerWeight::AttnNorm, "attn_norm", "input_layernorm"),
    (LayerWeight::Query, "attn_q", "self_attn.q_proj"),
    (LayerWeight::Key, "attn_k", "self_attn.k_proj"),
    (LayerWeight::Value, "attn_v", "self_attn.v_proj"),
    (LayerWeight::AttnOutput, "attn_output", "self_attn.o_proj"),
    (LayerWeight::FfnNorm, "ffn_norm", "post_attention_layernorm"),
    (LayerWeight::Gate, "ffn_gate", "mlp.gate_proj"),
    (LayerWeight::Up, "ffn_up", "mlp.up_proj"),
    (LayerWeight::Down, "ffn_down", "mlp.down_proj"),
];

/// The two naming schemes.
#[derive(Clone, Copy)]
enum Format {
    Gguf,
    Hf,
}

impl Format {
    fn layer_prefix(self) -> &'static str {
        match self {
            Format::Gguf => "blk.",
            Format::Hf => "model.layers.",
        }
    }

    fn pick(self, gguf: &'static str, hf: &'static str) -> &'static str {
        match self {
            Format::Gguf => gguf,
            Format::Hf => hf,
        }
    }
}

impl Weight {
    /// Every weight of a model with `num_layers` layers, in checkpoint order: the embedding, the
    /// layers, the final norm and, unless `tied` to the embedding, the output head.
    pub fn all(num_layers: usize, tied: bool) -> Vec<Weight> {
        let mut all = vec![Weight::TokenEmbedding];
        for i in 0..num_layers {
            all.extend(LAYER_NAMES.iter().map(|&(w, _, _)| Weight::Layer(i, w)));
        }
        all.push(Weight::OutputNorm);
        if !tied {
            all.push(Weight::Output);
        }
        all
    }

    /// The tensor's name in llama.cpp's GGUF files.
    pub fn gguf_name(self) -> String {
        self.name(Format::Gguf)
    }

    /// The tensor's name in Hugging Face Llama checkpoints.
    pub fn hf_name(self) -> String {
        self.name(Format::Hf)
    }

    /// The weight a GGUF tensor name stands for in a model of `num_layers` layers.
    pub fn from_gguf_name(name: &str, num_layers: usize) -> Option<Weight> {
        Self::parse(name, num_layers, Format::Gguf)
    }

    /// The weight a Hugging Face tensor name stands for in a model of `num_layers` layers.
    pub fn from_hf_name(name: &str, num_layers: usize) -> Option<Weight> {
        Self::parse(name, num_layers, Format::Hf)
    }

    fn name(self, format: Format) -> String {
        if let Weight::Layer(i, w) = self {
            let (_, gguf, hf) = LAYER_NAMES.iter().find(|(r, _, _)| *r == w).expect("every role is in the table");
            return format!("{}{i}.{}.weight", format.layer_prefix(), format.pick(gguf, hf));
        }
        let (_, gguf, hf) = GLOBAL_NAMES.iter().find(|(r, _, _)| *r == self).expect("every role is in the table");
        format!("{}.weight", format.pick(gguf, hf))
    }

    fn parse(name: &str, num_layers: usize, format: Format) -> Option<Weight> {
        let stem = name.strip_suffix(".weight")?;
        if let Some(&(w, _, _)) = GLOBAL_NAMES.iter().find(|&&(_, gguf, hf)| format.pick(gguf, hf) == stem) {
            return Some(w);
        }
        let (layer, role) = stem.strip_prefix(format.layer_prefix())?.split_once('.')?;
        let i = layer.parse::<usize>().ok().filter(|&i| i < num_layers && i.to_string() == layer)?;
        let &(w, _, _) = LAYER_NAMES.iter().find(|&&(_, gguf, hf)| format.pick(gguf, hf) == role)?;
        Some(Weight::Layer(i, w))
    }

    /// The weight's shape in a model of this configuration: `[out, in]` for matrices, as
    /// checkpoints store them (GGUF lists the same dimensions innermost first).
    pub fn shape(self, c: &LlamaConfig) -> Vec<usize> {
        let (q, kv) = (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
        match self {
            Weight::TokenEmbedding | Weight::Output => vec![c.vocab_size, c.hidden_size],
            Weight::OutputNorm => vec![c.hidden_size],
            Weight::Layer(_, w) => match w {
                LayerWeight::AttnNorm | LayerWeight::FfnNorm => vec![c.hidden_size],
                LayerWeight::Query => vec![q, c.hidden_size],
                LayerWeight::Key | LayerWeight::Value => vec![kv, c.hidden_size],
                LayerWeight::AttnOutput => vec![c.hidden_size, q],
                LayerWeight::Gate | LayerWeight::Up => vec![c.intermediate_size, c.hidden_size],
                LayerWeight::Down => vec![c.hidden_size, c.intermediate_size],
            },
        }
    }

    /// For the query and key projections, whose rows llama.cpp interleaves, the number of heads
    /// they are interleaved over; `None` for every other weight.
    pub fn rope_heads(self, c: &LlamaConfig) -> Option<usize> {
        match self {
            Weight::Layer(_, LayerWeight::Query) => Some(c.num_heads),
            Weight::Layer(_, LayerWeight::Key) => Some(c.num_kv_heads),
            _ => None,
        }
    }
}

/// Where llama.cpp's converter puts Hugging Face row `hf_row` of a rope-permuted matrix of `rows`
/// rows over `heads` heads: row `h·d + j·d/2 + i` becomes `h·d + 2i + j`.
fn rope_row_to_gguf(hf_row: usize, rows: usize, heads: usize) -> usize {
    let d = rows / heads;
    let (h, rem) = (hf_row / d, hf_row % d);
    h * d + 2 * (rem % (d / 2)) + rem / (d / 2)
}

/// The inverse of `rope_row_to_gguf`: the Hugging Face row that GGUF row `gguf_row` holds.
pub fn rope_row_to_hf(gguf_row: usize, rows: usize, heads: usize) -> usize {
    let d = rows / heads;
    let (h, rem) = (gguf_row / d, gguf_row % d);
    h * d + (rem % 2) * (d / 2) + rem / 2
}

/// Reorders the `rows` rows of a rope-permuted matrix from GGUF's order to Hugging Face's. Rows
/// are `data.len() / rows` items each, so this works on values and on the stored bytes of any
/// ggml type (a row is whole blocks).
pub fn rope_rows_to_hf<T: Copy>(data: &[T], rows: usize, heads: usize) -> Vec<T> {
    let row_len = data.len() / rows;
    let mut out = Vec::with_capacity(data.len());
    for hf_row in 0..rows {
        let src = rope_row_to_gguf(hf_row, rows, heads);
        out.extend_from_slice(&data[src * row_len..(src + 1) * row_len]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_both_formats() {
        let all = Weight::all(2, false);
        assert_eq!(all.len(), 3 + 2 * 9);
        assert_eq!(Weight::all(2, true).len(), 2 + 2 * 9);
        for w in all {
            assert_eq!(Weight::from_gguf_name(&w.gguf_name(), 2), Some(w));
            assert_eq!(Weight::from_hf_name(&w.hf_name(), 2), Some(w));
        }
        let k = Weight::Layer(1, LayerWeight::Key);
        assert_eq!(
            (k.gguf_name(), k.hf_name()),
            ("blk.1.attn_k.weight".into(), "model.layers.1.self_attn.k_proj.weight".into())
        );
        assert_eq!(Weight::from_hf_name("model.layers.2.mlp.up_proj.weight", 2), None, "layer beyond the model");
        assert_eq!(Weight::from_hf_name("model.layers.01.mlp.up_proj.weight", 2), None);
        assert_eq!(Weight::from_hf_name("model.layers.0.self_attn.q_proj.bias", 2), None);
        assert_eq!(Weight::from_hf_name("model.layers.0.self_attn.rotary_emb.inv_freq", 2), None);
        assert_eq!(Weight::from_gguf_name(ROPE_FREQS, 2), None);
    }

    #[test]
    fn q_rows_interleave_rotary_halves() {
        // 2 heads of 4 rows: HF rows [0 1 | 2 3] per head (halves) become [0 2 1 3].
        let q: Vec<usize> = (0..8).map(|r| rope_row_to_hf(r, 8, 2)).collect();
        assert_eq!(q, [0, 2, 1, 3, 4, 6, 5, 7]);
        for (rows, heads) in [(8, 2), (4, 1), (24, 3), (128, 2)] {
            for r in 0..rows {
                assert_eq!(rope_row_to_hf(rope_row_to_gguf(r, rows, heads), rows, heads), r);
            }
        }
        // Rows of two bytes each.
        let gguf: Vec<u8> = (0..4).flat_map(|r| [10 * r, 10 * r + 1]).collect();
        assert_eq!(rope_rows_to_hf(&gguf, 4, 1), [0, 1, 20, 21, 10, 11, 30, 31]);
    }
}
