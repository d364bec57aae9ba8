//! Deterministic tiny Llama checkpoints for the trainer's tests, made from a seed so that the
//! tests and the reference script (tests/reference/dpo_reference.py, through `cargo run
//! --example make-tiny`) see exactly the same bytes.
//!
//! * `loss`: vocabulary 128, width 32, 2 layers, GQA 2, head size 8, Llama 3 RoPE scaling whose
//!   three regimes all occur at this head size, untied head; plus a PEFT adapter (rank 2, alpha 4,
//!   on q_proj, v_proj and down_proj) with non-zero factors in `adapter/`. No tokenizer.
//! * `judge`: Llama 3.1's tokenizer and vocabulary (the fixture), width 64, 2 layers; small
//!   enough to train on two CPU cores, real enough to export, quantize and run as a judge.

#![allow(dead_code)]

use std::path::Path;

use selene_runtime::Rng;
use selene_safetensors::{self as safetensors, Dtype, TensorToWrite};
use serde_json::json;

pub struct Shape {
    pub vocab: usize,
    pub hidden: usize,
    pub ff: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

pub const LOSS: Shape = Shape { vocab: 128, hidden: 32, ff: 64, layers: 2, heads: 4, kv_heads: 2, head_dim: 8 };
pub const JUDGE: Shape = Shape { vocab: 128256, hidden: 64, ff: 128, layers: 2, heads: 4, kv_heads: 2, head_dim: 16 };

/// The LoRA of the `loss` checkpoint's adapter.
pub const LOSS_LORA: (usize, f64, &[&str]) = (2, 4.0, &["q_proj", "v_proj", "down_proj"]);

fn uniform(rng: &mut Rng, scale: f32) -> f32 {
    (rng.unit() as f32 * 2.0 - 1.0) * scale
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn write_tensors(path: &Path, tensors: &[(String, Vec<u64>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| f32_bytes(v)).collect();
    let data: Vec<TensorToWrite> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), bytes)| TensorToWrite { name, dtype: Dtype::F32, shape, bytes })
        .collect();
    safetensors::write(path, &data).unwrap();
}

fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap() + "\n").unwrap();
}

/// Writes checkpoint `kind` (`loss` or `judge`) into `dir`.
pub fn make(kind: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let (s, seed) = match kind {
        "loss" => (&LOSS, 11),
        "judge" => (&JUDGE, 12),
        _ => panic!("unknown checkpoint kind {kind} (loss or judge)"),
    };
    let bos_eos = if kind == "judge" { (128000, json!([128001, 128009])) } else { (1, json!(2)) };
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": false,
            "attention_dropout": 0.0, "mlp_bias": false, "hidden_act": "silu",
            "bos_token_id": bos_eos.0, "eos_token_id": bos_eos.1,
            "hidden_size": s.hidden, "intermediate_size": s.ff, "num_hidden_layers": s.layers,
            "num_attention_heads": s.heads, "num_key_value_heads": s.kv_heads, "head_dim": s.head_dim,
            "vocab_size": s.vocab, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
            "tie_word_embeddings": false, "torch_dtype": "float32", "pretraining_tp": 1, "use_cache": true,
            "_name_or_path": format!("selene-tiny-{kind}")
        }),
    );
    if kind == "judge" {
        let fixtures = selene_fixtures::dir().join("llama3.1");
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
        }
        write_json(
            &dir.join("generation_config.json"),
            &json!({"bos_token_id": 128000, "eos_token_id": [128001, 128009]}),
        );
    }
    let mut rng = Rng::new(seed);
    let (h, q, kv) = (s.hidden as u64, (s.heads * s.head_dim) as u64, (s.kv_heads * s.head_dim) as u64);
    let mut shapes: Vec<(String, Vec<u64>)> = vec![("model.embed_tokens.weight".into(), vec![s.vocab as u64, h])];
    for l in 0..s.layers {
        let p = format!("model.layers.{l}");
        shapes.extend([
            (format!("{p}.input_layernorm.weight"), vec![h]),
            (format!("{p}.self_attn.q_proj.weight"), vec![q, h]),
            (format!("{p}.self_attn.k_proj.weight"), vec![kv, h]),
            (format!("{p}.self_attn.v_proj.weight"), vec![kv, h]),
            (format!("{p}.self_attn.o_proj.weight"), vec![h, q]),
            (format!("{p}.post_attention_layernorm.weight"), vec![h]),
            (format!("{p}.mlp.gate_proj.weight"), vec![s.ff as u64, h]),
            (format!("{p}.mlp.up_proj.weight"), vec![s.ff as u64, h]),
            (format!("{p}.mlp.down_proj.weight"), vec![h, s.ff as u64]),
        ]);
    }
    shapes.push(("model.norm.weight".into(), vec![h]));
    shapes.push(("lm_head.weight".into(), vec![s.vocab as u64, h]));
    let tensors: Vec<(String, Vec<u64>, Vec<f32>)> = shapes
        .into_iter()
        .map(|(name, shape)| {
            let n = shape.iter().product::<u64>() as usize;
            let values = if name.ends_with("norm.weight") {
                (0..n).map(|_| 1.0 + uniform(&mut rng, 0.2)).collect()
            } else {
                let fan_in = *shape.last().unwrap() as f32;
                (0..n).map(|_| uniform(&mut rng, 1.7 / fan_in.sqrt())).collect()
            };
            (name, shape, values)
        })
        .collect();
    write_tensors(&dir.join("model.safetensors"), &tensors);
    if kind == "loss" {
        write_adapter(&dir.join("adapter"), s, &mut rng);
    }
}

fn write_adapter(dir: &Path, s: &Shape, rng: &mut Rng) {
    std::fs::create_dir_all(dir).unwrap();
    let (rank, alpha, targets) = LOSS_LORA;
    let mut tensors = Vec::new();
    for l in 0..s.layers {
        for &t in targets {
            let module = if t == "down_proj" { "mlp" } else { "self_attn" };
            let (out, inp) = match t {
                "q_proj" => (s.heads * s.head_dim, s.hidden),
                "v_proj" => (s.kv_heads * s.head_dim, s.hidden),
                _ => (s.hidden, s.ff),
            };
            let prefix = format!("base_model.model.model.layers.{l}.{module}.{t}");
            let a: Vec<f32> = (0..rank * inp).map(|_| uniform(rng, 0.3)).collect();
            let b: Vec<f32> = (0..out * rank).map(|_| uniform(rng, 0.3)).collect();
            tensors.push((format!("{prefix}.lora_A.weight"), vec![rank as u64, inp as u64], a));
            tensors.push((format!("{prefix}.lora_B.weight"), vec![out as u64, rank as u64], b));
        }
    }
    write_tensors(&dir.join("adapter_model.safetensors"), &tensors);
    write_json(
        &dir.join("adapter_config.json"),
        &json!({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha,
                "target_modules": targets, "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": false,
                "base_model_name_or_path": "selene-tiny-loss"}),
    );
}

/// The loss test's batch: (prompt, chosen, rejected) token ids, from the same seed.
pub fn loss_batch() -> Vec<(Vec<u32>, Vec<u32>, Vec<u32>)> {
    let mut rng = Rng::new(99);
    let mut ids = |n: usize| (0..n).map(|_| rng.below(LOSS.vocab) as u32).collect::<Vec<u32>>();
    [(5, 4, 3), (9, 2, 5), (3, 6, 1)].iter().map(|&(p, c, r)| (ids(p), ids(c), ids(r))).collect()
}
