//! A tiny Llama 3 checkpoint (real tokenizer, one small layer) for tests that break or extend
//! it: bad input, LoRA merges. Weights are deterministic bf16.

use std::path::Path;

use selene_gguf::codec;
use selene_safetensors::{self as safetensors, Dtype, TensorToWrite};
use serde_json::json;

pub const EMBD: u64 = 64;
pub const FF: u64 = 128;
pub const VOCAB: u64 = 128256;

/// Tensor names and shapes of the tiny model, in file order.
pub fn shapes() -> Vec<(String, Vec<u64>)> {
    let p = "model.layers.0";
    vec![
        ("model.embed_tokens.weight".into(), vec![VOCAB, EMBD]),
        (format!("{p}.input_layernorm.weight"), vec![EMBD]),
        (format!("{p}.self_attn.q_proj.weight"), vec![EMBD, EMBD]),
        (format!("{p}.self_attn.k_proj.weight"), vec![32, EMBD]),
        (format!("{p}.self_attn.v_proj.weight"), vec![32, EMBD]),
        (format!("{p}.self_attn.o_proj.weight"), vec![EMBD, EMBD]),
        (format!("{p}.post_attention_layernorm.weight"), vec![EMBD]),
        (format!("{p}.mlp.gate_proj.weight"), vec![FF, EMBD]),
        (format!("{p}.mlp.up_proj.weight"), vec![FF, EMBD]),
        (format!("{p}.mlp.down_proj.weight"), vec![EMBD, FF]),
        ("model.norm.weight".into(), vec![EMBD]),
        ("lm_head.weight".into(), vec![VOCAB, EMBD]),
    ]
}

/// Deterministic f32 values of tensor `i` (already bf16-representable).
pub fn values(i: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|j| {
            let x = ((j as u64 * 2654435761 + i as u64 * 40503) % 2001) as f32 / 1000.0 - 1.0;
            codec::bf16_bits_to_f32(codec::f32_to_bf16_bits(0.05 * x))
        })
        .collect()
}

pub fn bf16(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|&x| codec::f32_to_bf16_bits(x).to_le_bytes()).collect()
}

/// Writes the checkpoint; `tensor` may replace the values of any tensor by name.
pub fn write(dir: &Path, tensor: impl Fn(&str, Vec<f32>) -> Vec<f32>) {
    std::fs::create_dir_all(dir).unwrap();
    let fixtures = selene_fixtures::dir().join("llama3.1");
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    let config = json!({
        "architectures": ["LlamaForCausalLM"], "hidden_size": EMBD, "intermediate_size": FF,
        "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": VOCAB,
        "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 8192,
        "bos_token_id": 128000, "eos_token_id": 128009, "tie_word_embeddings": false
    });
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let shapes = shapes();
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .enumerate()
        .map(|(i, (name, shape))| bf16(&tensor(name, values(i, shape.iter().product::<u64>() as usize))))
        .collect();
    let tensors: Vec<TensorToWrite> = shapes
        .iter()
        .zip(&data)
        .map(|((name, shape), bytes)| TensorToWrite { name, dtype: Dtype::BF16, shape, bytes })
        .collect();
    safetensors::write(&dir.join("model.safetensors"), &tensors).unwrap();
}
