//! The hyperparameters of a Hugging Face Llama checkpoint (`config.json`).
//!
//! Only `LlamaForCausalLM` is accepted: its GGUF layout (Q/K row permutation, `rope_freqs`, tensor
//! names) is the one this tool writes, and silently converting another architecture with it would
//! make a file that loads but talks nonsense. Missing or mistyped keys are errors that name the
//! key; defaults are those of transformers' `LlamaConfig`, which llama.cpp's converter also sees.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result, read_json};

/// Llama 3 RoPE frequency scaling (`rope_scaling.rope_type == "llama3"`).
#[derive(Clone, Debug, PartialEq)]
pub struct Llama3Rope {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: f64,
}

/// RoPE scaling as llama.cpp records it.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Written as the `rope_freqs` tensor, no metadata keys.
    Llama3(Llama3Rope),
    /// Written as `llama.rope.scaling.type = linear` and `.factor`.
    Linear(f64),
}

#[derive(Clone, Debug)]
pub struct LlamaConfig {
    pub n_layer: u32,
    pub n_embd: u32,
    pub n_ff: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    pub n_vocab: u32,
    pub n_ctx: Option<u32>,
    pub rope_theta: f64,
    pub rms_norm_eps: f64,
    pub rope_scaling: RopeScaling,
    pub tie_word_embeddings: bool,
    /// `{bos,eos,...}_token_id` given as plain integers (lists are ignored, as by the converter).
    pub token_ids: Vec<(String, u64)>,
}

const ARCHITECTURE: &str = "LlamaForCausalLM";

impl LlamaConfig {
    pub fn load(path: &Path) -> Result<LlamaConfig> {
        let json = read_json(path)?;
        Self::from_json(path, &json)
    }

    pub fn from_json(path: &Path, json: &Value) -> Result<LlamaConfig> {
        let err = |field: &str, why: String| Error::new(path, field, why);
        let arch = json.get("architectures").and_then(|a| a.get(0)).and_then(Value::as_str);
        match arch {
            Some(ARCHITECTURE) => {}
            Some(other) => {
                return Err(err("architectures", format!("{other} is not supported (only {ARCHITECTURE})")));
            }
            None => return Err(err("architectures", format!("missing (expected [\"{ARCHITECTURE}\"])"))),
        }
        let uint = |key: &str| -> Result<u32> {
            let v = json.get(key).ok_or_else(|| err(key, "missing".into()))?;
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| err(key, format!("{v} is not a positive integer")))
        };
        let float = |key: &str, default: f64| -> Result<f64> {
            match json.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| err(key, format!("{v} is not a number"))),
            }
        };
        let n_embd = uint("hidden_size")?;
        let n_head = uint("num_attention_heads")?;
        let n_head_kv = match json.get("num_key_value_heads") {
            None | Some(Value::Null) => n_head,
            Some(_) => uint("num_key_value_heads")?,
        };
        let head_dim = match json.get("head_dim") {
            None | Some(Value::Null) => n_embd / n_head,
            Some(_) => uint("head_dim")?,
        };
        if n_embd % n_head != 0 && json.get("head_dim").is_none() {
            return Err(err("num_attention_heads", format!("{n_head} does not divide hidden_size {n_embd}")));
        }
        if n_head % n_head_kv != 0 {
            return Err(err(
                "num_key_value_heads",
                format!("{n_head_kv} does not divide num_attention_heads {n_head}"),
            ));
        }
        if head_dim % 2 != 0 {
            return Err(err("head_dim", format!("{head_dim} is odd; rotary embeddings need pairs")));
        }
        let n_ctx = match json.get("max_position_embeddings") {
            None | Some(Value::Null) => None,
            Some(_) => Some(uint("max_position_embeddings")?),
        };
        let rope_theta = float("rope_theta", 10000.0)?;
        let rope_scaling = rope_scaling(path, json)?;
        let rope_theta = match &json.get("rope_parameters").and_then(|p| p.get("rope_theta")) {
            Some(v) => v.as_f64().ok_or_else(|| err("rope_parameters.rope_theta", format!("{v} is not a number")))?,
            None => rope_theta,
        };
        let tie_word_embeddings = match json.get("tie_word_embeddings") {
            None | Some(Value::Null) => false,
            Some(v) => v.as_bool().ok_or_else(|| err("tie_word_embeddings", format!("{v} is not a boolean")))?,
        };
        let token_ids = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]
            .iter()
            .filter_map(|typ| {
                json.get(format!("{typ}_token_id")).and_then(Value::as_u64).map(|id| (typ.to_string(), id))
            })
            .collect();
        Ok(LlamaConfig {
            n_layer: uint("num_hidden_layers")?,
            n_embd,
            n_ff: uint("intermediate_size")?,
            n_head,
            n_head_kv,
            head_dim,
            n_vocab: uint("vocab_size")?,
            n_ctx,
            rope_theta,
            rms_norm_eps: float("rms_norm_eps", 1e-6)?,
            rope_scaling,
            tie_word_embeddings,
            token_ids,
        })
    }
}

fn rope_scaling(path: &Path, json: &Value) -> Result<RopeScaling> {
    let (key, params) = match (json.get("rope_parameters"), json.get("rope_scaling")) {
        (Some(p), _) if !p.is_null() => ("rope_parameters", p),
        (_, Some(p)) if !p.is_null() => ("rope_scaling", p),
        _ => return Ok(RopeScaling::None),
    };
    let err = |field: &str, why: String| Error::new(path, format!("{key}.{field}"), why);
    let kind = params.get("rope_type").or_else(|| params.get("type")).and_then(Value::as_str).unwrap_or("default");
    let num = |field: &str, default: Option<f64>| -> Result<f64> {
        match (params.get(field), default) {
            (Some(v), _) => {
                v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| err(field, format!("{v} is not a number")))
            }
            (None, Some(d)) => Ok(d),
            (None, None) => Err(err(field, "missing".into())),
        }
    };
    match kind.to_ascii_lowercase().as_str() {
        "default" => Ok(RopeScaling::None),
        "llama3" => {
            let original = match params.get("original_max_position_embeddings") {
                Some(_) => num("original_max_position_embeddings", None)?,
                None => json.get("original_max_position_embeddings").and_then(Value::as_f64).unwrap_or(8192.0),
            };
            Ok(RopeScaling::Llama3(Llama3Rope {
                factor: num("factor", Some(8.0))?,
                low_freq_factor: num("low_freq_factor", Some(1.0))?,
                high_freq_factor: num("high_freq_factor", Some(4.0))?,
                original_max_position_embeddings: original,
            }))
        }
        "linear" => Ok(RopeScaling::Linear(num("factor", None)?)),
        other => Err(err("rope_type", format!("{other} is not supported (default, linear or llama3)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "architectures": ["LlamaForCausalLM"], "hidden_size": 512, "intermediate_size": 1536,
            "num_attention_heads": 4, "num_key_value_heads": 1, "num_hidden_layers": 4, "vocab_size": 1000,
            "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 131072,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
            "bos_token_id": 128000, "eos_token_id": [128001, 128009]
        })
    }

    #[test]
    fn reads_llama31_config() {
        let c = LlamaConfig::from_json(Path::new("config.json"), &base()).unwrap();
        assert_eq!((c.head_dim, c.n_head_kv, c.n_ctx), (128, 1, Some(131072)));
        assert!(matches!(c.rope_scaling, RopeScaling::Llama3(ref r) if r.factor == 8.0));
        assert_eq!(c.token_ids, vec![("bos".to_string(), 128000)], "list-valued ids are ignored");
    }

    #[test]
    fn names_the_bad_key() {
        let mut j = base();
        j.as_object_mut().unwrap().remove("hidden_size");
        let e = LlamaConfig::from_json(Path::new("x/config.json"), &j).unwrap_err();
        assert_eq!((e.file.as_str(), e.field.as_str(), e.why.as_str()), ("x/config.json", "hidden_size", "missing"));
        let mut j = base();
        j["architectures"] = json!(["MistralForCausalLM"]);
        let e = LlamaConfig::from_json(Path::new("config.json"), &j).unwrap_err();
        assert!(e.to_string().contains("MistralForCausalLM is not supported"), "{e}");
    }
}
