//! Deterministic test checkpoints, made from nothing but the fixtures, so that CI and the
//! reference script (tools/reference/quantize_goldens.py, through `cargo run --example
//! make-checkpoint`) convert exactly the same bytes.
//!
//! * `llama31`: Llama 3.1 shaped (real tokenizer and vocabulary of 128256, GQA 4, head size 128,
//!   llama3 RoPE scaling, untied output) with random bf16 weights, 4 small layers, stored in two
//!   shards with an index.
//! * `llama31-wide`: the same at Llama 3.1 8B's full width with 8 layers (5.6 GB), for the
//!   benchmark against llama.cpp; not converted by the tests, so not among [`KINDS`].
//! * `smollm2`: SmolLM2-135M-Instruct rebuilt from the Q4_1 GGUF fixture: weights dequantized and
//!   rounded to bf16, Q/K rows put back in Hugging Face order, its tokenizer rebuilt as
//!   tokenizer.json, tied embeddings, one shard.

use std::path::Path;

use selene_arch::Weight;
use selene_gguf::{GgufModel, codec};
use selene_safetensors::{self as safetensors, Dtype, TensorToWrite};
use serde_json::{Value, json};

/// The checkpoint kinds the tests convert (and have goldens for).
pub const KINDS: &[&str] = &["llama31", "smollm2"];

/// Writes checkpoint `kind` into `dir` (created if needed).
pub fn make(kind: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    match kind {
        "llama31" => llama31(dir, &L31_SMALL),
        "llama31-wide" => llama31(dir, &L31_WIDE),
        "smollm2" => smollm2(dir),
        _ => panic!("unknown checkpoint kind {kind} (one of {KINDS:?})"),
    }
}

/// The folder name the goldens use for `kind` (it becomes `general.name` and friends).
pub fn dir_name(kind: &str) -> &'static str {
    match kind {
        "llama31" => "Llama-3.1-Selene-Test-Instruct",
        "llama31-wide" => "Llama-3.1-Selene-Bench-Instruct",
        "smollm2" => "SmolLM2-135M-Instruct",
        _ => panic!("unknown checkpoint kind {kind}"),
    }
}

fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap() + "\n").unwrap();
}

/// 64-bit LCG (Knuth's constants), the top 32 bits of the state per draw.
struct Rng(u64);

impl Rng {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }

    /// Uniform in [-1, 1), exact in f32 (24 random bits).
    fn uniform(&mut self) -> f32 {
        ((self.next_u32() >> 8) as i32 - 8388608) as f32 / 8388608.0
    }
}

fn bf16_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values.flat_map(|x| codec::f32_to_bf16_bits(x).to_le_bytes()).collect()
}

/// A Llama 3.1 shaped model: the real vocabulary, head size 128, llama3 RoPE scaling, untied output.
struct Llama31Shape {
    embd: u64,
    ff: u64,
    heads: u64,
    kv_heads: u64,
    layers: u64,
    /// The first layer of each safetensors shard after the first.
    shard_starts: &'static [u64],
}

const L31_VOCAB: u64 = 128256;
const L31_HEAD_DIM: u64 = 128;
/// The tests' checkpoint: 4 small layers in two shards.
const L31_SMALL: Llama31Shape =
    Llama31Shape { embd: 512, ff: 1536, heads: 4, kv_heads: 1, layers: 4, shard_starts: &[2] };
/// Llama 3.1 8B's full width with 8 of its 32 layers (2.8 billion parameters, 5.6 GB of bf16) in
/// four shards: too large for the tests, the size tools/bench/quantize_vs_llama_cpp.py times.
const L31_WIDE: Llama31Shape =
    Llama31Shape { embd: 4096, ff: 14336, heads: 32, kv_heads: 8, layers: 8, shard_starts: &[2, 4, 6] };

fn llama31(dir: &Path, s: &Llama31Shape) {
    let fixtures = selene_fixtures::dir().join("llama3.1");
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
            "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
            "hidden_size": s.embd, "initializer_range": 0.02, "intermediate_size": s.ff,
            "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
            "num_attention_heads": s.heads, "num_hidden_layers": s.layers, "num_key_value_heads": s.kv_heads,
            "pretraining_tp": 1, "rms_norm_eps": 1e-05,
            "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                             "original_max_position_embeddings": 8192, "rope_type": "llama3"},
            "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
            "transformers_version": "4.43.0", "use_cache": true, "vocab_size": L31_VOCAB
        }),
    );
    write_json(
        &dir.join("generation_config.json"),
        &json!({"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128008, 128009],
                "temperature": 0.6, "top_p": 0.9, "transformers_version": "4.43.0"}),
    );
    let (embd, ff) = (s.embd, s.ff);
    let kv = s.kv_heads * L31_HEAD_DIM;
    let mut shapes: Vec<(String, Vec<u64>)> = vec![("model.embed_tokens.weight".into(), vec![L31_VOCAB, embd])];
    for l in 0..s.layers {
        let p = format!("model.layers.{l}");
        shapes.extend([
            (format!("{p}.input_layernorm.weight"), vec![embd]),
            (format!("{p}.self_attn.q_proj.weight"), vec![embd, embd]),
            (format!("{p}.self_attn.k_proj.weight"), vec![kv, embd]),
            (format!("{p}.self_attn.v_proj.weight"), vec![kv, embd]),
            (format!("{p}.self_attn.o_proj.weight"), vec![embd, embd]),
            (format!("{p}.post_attention_layernorm.weight"), vec![embd]),
            (format!("{p}.mlp.gate_proj.weight"), vec![ff, embd]),
            (format!("{p}.mlp.up_proj.weight"), vec![ff, embd]),
            (format!("{p}.mlp.down_proj.weight"), vec![embd, ff]),
        ]);
    }
    shapes.push(("model.norm.weight".into(), vec![embd]));
    shapes.push(("lm_head.weight".into(), vec![L31_VOCAB, embd]));

    // Shard k holds the tensors from its first layer up to the next shard's; the first shard also
    // has the embeddings, the last the final norm and the output.
    let mut bounds = vec![0];
    for first in s.shard_starts {
        let prefix = format!("model.layers.{first}.");
        bounds.push(shapes.iter().position(|(n, _)| n.starts_with(&prefix)).unwrap());
    }
    bounds.push(shapes.len());
    let n_shards = bounds.len() - 1;
    // One shard in memory at a time; the draws run through the tensors in order.
    let mut rng = Rng(0x5e1e_e31);
    let mut weight_map = serde_json::Map::new();
    for (part, range) in bounds.windows(2).map(|w| w[0]..w[1]).enumerate() {
        let data: Vec<Vec<u8>> = shapes[range.clone()]
            .iter()
            .map(|(name, shape)| {
                let n = shape.iter().product::<u64>() as usize;
                if name.ends_with("norm.weight") {
                    bf16_bytes((0..n).map(|_| 1.0 + 0.25 * rng.uniform()))
                } else {
                    // Mostly small weights with an occasional outlier, as in trained models.
                    bf16_bytes((0..n).map(|_| {
                        let u = rng.uniform();
                        if rng.next_u32() % 512 == 0 { 0.5 * u } else { 0.05 * u }
                    }))
                }
            })
            .collect();
        let file = format!("model-{:05}-of-{n_shards:05}.safetensors", part + 1);
        let tensors: Vec<TensorToWrite> = shapes[range.clone()]
            .iter()
            .zip(&data)
            .map(|((name, shape), bytes)| TensorToWrite { name, dtype: Dtype::BF16, shape, bytes })
            .collect();
        safetensors::write(&dir.join(&file), &tensors).unwrap();
        for (name, _) in &shapes[range] {
            weight_map.insert(name.clone(), json!(file));
        }
    }
    let total: u64 = shapes.iter().map(|(_, shape)| 2 * shape.iter().product::<u64>()).sum();
    write_json(
        &dir.join("model.safetensors.index.json"),
        &json!({"metadata": {"total_size": total}, "weight_map": weight_map}),
    );
}

/// Inverse of llama.cpp's Q/K permutation: GGUF row `h*hd + 2i + j` came from HF row
/// `h*hd + j*hd/2 + i`. Written out here rather than taken from `selene-arch`, whose permutation
/// the quantizer applies to this checkpoint: a mistake there would cancel itself out.
fn unpermute_rows(values: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let hd = rows / n_head;
    let mut out = vec![0f32; values.len()];
    for h in 0..n_head {
        for i in 0..hd / 2 {
            for j in 0..2 {
                let gguf_row = h * hd + 2 * i + j;
                let hf_row = h * hd + j * (hd / 2) + i;
                out[hf_row * cols..(hf_row + 1) * cols]
                    .copy_from_slice(&values[gguf_row * cols..(gguf_row + 1) * cols]);
            }
        }
    }
    out
}

fn smollm2(dir: &Path) {
    let model = GgufModel::open(selene_fixtures::smollm2()).unwrap();
    let meta = model.metadata();
    let u = |k: &str| meta.require_u64(k).unwrap();
    let (n_head, n_head_kv) = (u("llama.attention.head_count") as usize, u("llama.attention.head_count_kv") as usize);
    let n_layer = u("llama.block_count") as usize;
    let mut tensors = Vec::new();
    for t in model.layout().tensors() {
        let info = &t.info;
        let shape = info.shape();
        let values =
            codec::dequantize_to_vec(info.ggml_type, &model.tensor_bytes(t).unwrap(), info.n_elements() as usize)
                .unwrap();
        let (rows, cols) = (shape[0] as usize, shape.get(1).copied().unwrap_or(1) as usize);
        let values = match info.name.as_str() {
            n if n.ends_with("attn_q.weight") => unpermute_rows(&values, rows, cols, n_head),
            n if n.ends_with("attn_k.weight") => unpermute_rows(&values, rows, cols, n_head_kv),
            _ => values,
        };
        let weight =
            Weight::from_gguf_name(&info.name, n_layer).unwrap_or_else(|| panic!("unexpected tensor {}", info.name));
        tensors.push((weight.hf_name(), shape, bf16_bytes(values.into_iter())));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let data: Vec<TensorToWrite> =
        tensors.iter().map(|(name, shape, bytes)| TensorToWrite { name, dtype: Dtype::BF16, shape, bytes }).collect();
    safetensors::write(&dir.join("model.safetensors"), &data).unwrap();

    let f = |k: &str| meta.require_f64(k).unwrap();
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
            "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
            "hidden_size": u("llama.embedding_length"), "initializer_range": 0.041666666666666664,
            "intermediate_size": u("llama.feed_forward_length"), "is_llama_config": true,
            "max_position_embeddings": u("llama.context_length"), "model_type": "llama",
            "num_attention_heads": n_head, "num_hidden_layers": u("llama.block_count"),
            "num_key_value_heads": n_head_kv, "pad_token_id": 2, "pretraining_tp": 1,
            "rms_norm_eps": 1e-05, "rope_interleaved": false, "rope_scaling": null,
            "rope_theta": f("llama.rope.freq_base"), "tie_word_embeddings": true, "torch_dtype": "bfloat16",
            "transformers_version": "4.42.3", "use_cache": true, "vocab_size": u("llama.vocab_size")
        }),
    );
    write_json(
        &dir.join("generation_config.json"),
        &json!({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2, "transformers_version": "4.42.3"}),
    );
    let strings = |k: &str| -> Vec<String> {
        match meta.require_array(k).unwrap() {
            selene_gguf::Array::String(v) => v.clone(),
            _ => panic!("{k} is not a string array"),
        }
    };
    let tokens = strings("tokenizer.ggml.tokens");
    let types = match meta.require_array("tokenizer.ggml.token_type").unwrap() {
        selene_gguf::Array::I32(v) => v.clone(),
        _ => panic!("token types are not i32"),
    };
    let merges = strings("tokenizer.ggml.merges");
    let token = |k: &str| tokens[u(k) as usize].clone();
    let added: Vec<Value> = (0..tokens.len())
        .filter(|&i| types[i] == 3)
        .map(|i| {
            json!({"id": i, "content": tokens[i], "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": true})
        })
        .collect();
    let vocab: serde_json::Map<String, Value> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    let byte_level = |add_prefix_space: bool, trim_offsets: bool| json!({"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": true});
    write_json(
        &dir.join("tokenizer.json"),
        &json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, byte_level(false, true)]},
            "post_processor": byte_level(true, false),
            "decoder": byte_level(true, true),
            "model": {"type": "BPE", "dropout": null, "unk_token": token("tokenizer.ggml.unknown_token_id"),
                      "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false,
                      "byte_fallback": false, "vocab": vocab, "merges": merges}
        }),
    );
    let chat_template = meta.require_str("tokenizer.chat_template").unwrap();
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "add_prefix_space": false,
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "bos_token": token("tokenizer.ggml.bos_token_id"), "chat_template": chat_template,
            "clean_up_tokenization_spaces": false, "eos_token": token("tokenizer.ggml.eos_token_id"),
            "model_max_length": 8192, "pad_token": token("tokenizer.ggml.padding_token_id"),
            "tokenizer_class": "GPT2Tokenizer", "unk_token": token("tokenizer.ggml.unknown_token_id"),
            "vocab_size": tokens.len()
        }),
    );
}
