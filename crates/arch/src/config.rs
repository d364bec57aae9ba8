//! The hyper-parameters of a Llama model, from GGUF metadata (inference) or from a Hugging Face
//! `config.json` (training, conversion), so that every path builds the same definition.
//!
//! GGUF keys are read as llama.cpp reads them for the `llama` architecture. A `config.json` is
//! read as transformers' `LlamaConfig` reads it, with its defaults, which llama.cpp's converter
//! also sees; only `LlamaForCausalLM` is accepted, since its layout (row interleaving of query
//! and key, `rope_freqs`, tensor names) is the one described here, and converting another
//! architecture with it would make a file that loads but talks nonsense. Every error names the
//! file and the key at fault.

use std::path::Path;

use selene_gguf::Metadata;
use selene_gguf::keys::{ArchKey, attention, general, llm, rope, tokenizer};
use serde_json::Value;

use crate::rope::{Llama3Rope, RopeConfig, RopeScaling};

/// `general.architecture` of the models described here.
pub const ARCHITECTURE: &str = "llama";
/// `architectures[0]` of the checkpoints described here.
const HF_ARCHITECTURE: &str = "LlamaForCausalLM";

/// transformers' `LlamaConfig` defaults, for keys a `config.json` may leave out.
const DEFAULT_RMS_NORM_EPS: f64 = 1e-6;
const DEFAULT_ROPE_THETA: f64 = 10_000.0;
const DEFAULT_MAX_POSITION_EMBEDDINGS: usize = 2048;

/// Hyper-parameters of a Llama-family transformer.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope: RopeConfig,
    /// Longest context the model was trained for (`max_position_embeddings`).
    pub context_length: usize,
    /// Whether the source stated the context length rather than leaving it to transformers'
    /// default; llama.cpp's converter writes `{arch}.context_length` only then.
    pub context_length_stated: bool,
    /// Whether the output head reuses the token embedding matrix.
    pub tied_embeddings: bool,
}

/// A config that cannot be read, located by file and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {why}")]
pub struct ConfigError {
    pub file: String,
    pub field: String,
    pub why: String,
}

impl ConfigError {
    fn new(file: impl AsRef<Path>, field: impl Into<String>, why: impl std::fmt::Display) -> Self {
        ConfigError { file: file.as_ref().display().to_string(), field: field.into(), why: why.to_string() }
    }
}

impl From<selene_gguf::Error> for ConfigError {
    fn from(e: selene_gguf::Error) -> Self {
        ConfigError { file: e.file, field: e.field, why: e.kind.to_string() }
    }
}

type Result<T> = std::result::Result<T, ConfigError>;

impl LlamaConfig {
    /// Reads `{arch}.*` keys the way llama.cpp does for the `llama` architecture. What GGUF keeps
    /// in tensors is the loader's to add: `rope_freqs` ([`RopeConfig::freq_factors`]), the
    /// vocabulary size when the embedding says otherwise, and whether the output head is tied.
    pub fn from_gguf(metadata: &Metadata) -> Result<Self> {
        let origin = metadata.origin();
        let arch = metadata.require_str(general::ARCHITECTURE)?;
        if arch != ARCHITECTURE {
            return Err(ConfigError::new(
                origin,
                general::ARCHITECTURE,
                format!("{arch:?} is not supported (selene runs {ARCHITECTURE:?})"),
            ));
        }
        let usize_of = |key: ArchKey| metadata.require_u64(&key.of(arch)).map(|v| v as usize);
        let optional = |key: ArchKey| metadata.optional_u64(&key.of(arch));
        let hidden_size = usize_of(llm::EMBEDDING_LENGTH)?;
        let num_heads = usize_of(attention::HEAD_COUNT)?;
        let num_kv_heads = optional(attention::HEAD_COUNT_KV)?.map_or(num_heads, |v| v as usize);
        if num_heads == 0 || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            return Err(ConfigError::new(
                origin,
                attention::HEAD_COUNT_KV.of(arch),
                format!("{num_heads} attention heads cannot be shared by {num_kv_heads} key/value heads"),
            ));
        }
        let head_dim = optional(attention::KEY_LENGTH)?.map_or(hidden_size / num_heads, |d| d as usize);
        if let Some(rot) = optional(rope::DIMENSION_COUNT)? {
            if rot as usize != head_dim {
                return Err(ConfigError::new(
                    origin,
                    rope::DIMENSION_COUNT.of(arch),
                    format!("partial rotary embeddings ({rot} of {head_dim} dimensions) are not supported"),
                ));
            }
        }
        let vocab_size = match optional(llm::VOCAB_SIZE)? {
            Some(v) => v as usize,
            None => metadata.require_array(tokenizer::TOKENS)?.len(),
        };
        let scaling = match metadata.optional_str(&rope::SCALING_TYPE.of(arch))? {
            None | Some("none") => RopeScaling::None,
            Some("linear") => {
                RopeScaling::Linear(metadata.optional_f64(&rope::SCALING_FACTOR.of(arch))?.unwrap_or(1.0))
            }
            Some(other) => {
                return Err(ConfigError::new(
                    origin,
                    rope::SCALING_TYPE.of(arch),
                    format!("{other:?} is not supported (none or linear)"),
                ));
            }
        };
        Ok(LlamaConfig {
            vocab_size,
            hidden_size,
            intermediate_size: usize_of(llm::FEED_FORWARD_LENGTH)?,
            num_layers: usize_of(llm::BLOCK_COUNT)?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: metadata.require_f64(&attention::LAYERNORM_RMS_EPS.of(arch))?,
            rope: RopeConfig {
                theta: metadata.optional_f64(&rope::FREQ_BASE.of(arch))?.unwrap_or(DEFAULT_ROPE_THETA),
                scaling,
                freq_factors: None,
            },
            context_length: usize_of(llm::CONTEXT_LENGTH)?,
            context_length_stated: true,
            tied_embeddings: false,
        })
    }

    /// Reads the text of a Hugging Face `config.json` found at `file`.
    pub fn from_hf_json(text: &str, file: impl AsRef<Path>) -> Result<Self> {
        let json: Value = serde_json::from_str(text).map_err(|e| ConfigError::new(&file, "JSON", e))?;
        Self::from_hf_value(&json, file)
    }

    /// Reads a parsed Hugging Face `config.json` found at `file`. The output head counts as tied
    /// when `tie_word_embeddings` says so; a loader that finds no `lm_head.weight` ties it too.
    pub fn from_hf_value(json: &Value, file: impl AsRef<Path>) -> Result<Self> {
        let file = file.as_ref();
        let err = |field: &str, why: String| ConfigError::new(file, field, why);
        let given = |key: &str| json.get(key).filter(|v| !v.is_null());
        match json.get("architectures").and_then(|a| a.get(0)).and_then(Value::as_str) {
            Some(HF_ARCHITECTURE) => {}
            Some(other) => {
                return Err(err("architectures", format!("{other} is not supported (only {HF_ARCHITECTURE})")));
            }
            None => return Err(err("architectures", format!("missing (expected [\"{HF_ARCHITECTURE}\"])"))),
        }
        // GGUF stores these as u32.
        let uint = |key: &str| -> Result<usize> {
            let v = json.get(key).ok_or_else(|| err(key, "missing".into()))?;
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| err(key, format!("{v} is not a positive integer")))
        };
        let float = |key: &str, default: f64| -> Result<f64> {
            match given(key) {
                None => Ok(default),
                Some(v) => v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| err(key, format!("{v} is not a number"))),
            }
        };
        let hidden_size = uint("hidden_size")?;
        let num_heads = uint("num_attention_heads")?;
        let num_kv_heads = match given("num_key_value_heads") {
            None => num_heads,
            Some(_) => uint("num_key_value_heads")?,
        };
        let head_dim = match given("head_dim") {
            None if hidden_size % num_heads != 0 => {
                return Err(err(
                    "num_attention_heads",
                    format!("{num_heads} does not divide hidden_size {hidden_size}"),
                ));
            }
            None => hidden_size / num_heads,
            Some(_) => uint("head_dim")?,
        };
        if num_heads % num_kv_heads != 0 {
            return Err(err(
                "num_key_value_heads",
                format!("{num_kv_heads} does not divide num_attention_heads {num_heads}"),
            ));
        }
        if head_dim % 2 != 0 {
            return Err(err("head_dim", format!("{head_dim} is odd; rotary embeddings need pairs")));
        }
        let (context_length, context_length_stated) = match given("max_position_embeddings") {
            None => (DEFAULT_MAX_POSITION_EMBEDDINGS, false),
            Some(_) => (uint("max_position_embeddings")?, true),
        };
        // transformers 5 writes `rope_parameters` (theta included) where 4.x wrote `rope_theta`
        // and `rope_scaling`; either may come with a checkpoint.
        let theta = match json.get("rope_parameters").and_then(|p| p.get("rope_theta")) {
            Some(v) => v.as_f64().ok_or_else(|| err("rope_parameters.rope_theta", format!("{v} is not a number")))?,
            None => float("rope_theta", DEFAULT_ROPE_THETA)?,
        };
        let scaling = rope_scaling(file, json)?;
        let freq_factors = match &scaling {
            RopeScaling::Llama3(params) => Some(params.freq_factors(theta, head_dim)),
            RopeScaling::None | RopeScaling::Linear(_) => None,
        };
        let tied_embeddings = match given("tie_word_embeddings") {
            None => false,
            Some(v) => v.as_bool().ok_or_else(|| err("tie_word_embeddings", format!("{v} is not a boolean")))?,
        };
        Ok(LlamaConfig {
            vocab_size: uint("vocab_size")?,
            hidden_size,
            intermediate_size: uint("intermediate_size")?,
            num_layers: uint("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: float("rms_norm_eps", DEFAULT_RMS_NORM_EPS)?,
            rope: RopeConfig { theta, scaling, freq_factors },
            context_length,
            context_length_stated,
            tied_embeddings,
        })
    }
}

/// `rope_parameters` (transformers 5) or `rope_scaling` (4.x), with transformers' defaults for
/// Llama 3's parameters.
fn rope_scaling(file: &Path, json: &Value) -> Result<RopeScaling> {
    let (key, params) = match (json.get("rope_parameters"), json.get("rope_scaling")) {
        (Some(p), _) if !p.is_null() => ("rope_parameters", p),
        (_, Some(p)) if !p.is_null() => ("rope_scaling", p),
        _ => return Ok(RopeScaling::None),
    };
    let err = |field: &str, why: String| ConfigError::new(file, format!("{key}.{field}"), why);
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
        "default" | "none" => Ok(RopeScaling::None),
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
    use serde_json::json;

    use super::*;

    const LLAMA31_8B: &str = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":14336,
        "max_position_embeddings":131072,"num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,
        "rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
        "original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,
        "tie_word_embeddings":false,"vocab_size":128256,"bos_token_id":128000,"eos_token_id":[128001,128009]}"#;

    #[test]
    fn reads_llama31_config() {
        let c = LlamaConfig::from_hf_json(LLAMA31_8B, "config.json").unwrap();
        assert_eq!((c.head_dim, c.num_kv_heads, c.context_length, c.context_length_stated), (128, 8, 131072, true));
        assert!(matches!(c.rope.scaling, RopeScaling::Llama3(ref r) if r.factor == 8.0));
        let f = c.rope.freq_factors.unwrap();
        assert_eq!(f.len(), 64);
        assert_eq!(&f[29..35], &[1.2074839, 1.5534146, 2.0263131, 2.69453, 3.6842532, 5.257327]);
    }

    #[test]
    fn transformers_5_rope_parameters_are_read() {
        let v5 = LLAMA31_8B.replace("\"rope_scaling\"", "\"rope_parameters\"").replace(
            "\"rope_type\":\"llama3\"},\"rope_theta\":500000.0",
            "\"rope_type\":\"llama3\",\"rope_theta\":500000.0}",
        );
        assert!(v5.contains("rope_parameters") && !v5.contains("\"rope_theta\":500000.0,"), "{v5}");
        let old = LlamaConfig::from_hf_json(LLAMA31_8B, "config.json").unwrap();
        assert_eq!(LlamaConfig::from_hf_json(&v5, "config.json").unwrap(), old);
        let default = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
            "max_position_embeddings":256,"num_attention_heads":4,"num_hidden_layers":2,"rms_norm_eps":1e-05,
            "vocab_size":256,"rope_parameters":{"rope_theta":20000.0,"rope_type":"default"}}"#;
        let c = LlamaConfig::from_hf_json(default, "config.json").unwrap();
        assert_eq!((c.rope.theta, c.rope.scaling, c.rope.freq_factors), (20000.0, RopeScaling::None, None));
    }

    #[test]
    fn left_out_keys_take_transformers_defaults() {
        let c = LlamaConfig::from_hf_value(
            &json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "intermediate_size": 8,
                "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 4}),
            "config.json",
        )
        .unwrap();
        assert_eq!((c.rms_norm_eps, c.rope.theta, c.num_kv_heads, c.head_dim), (1e-6, 10000.0, 2, 4));
        assert_eq!((c.context_length, c.context_length_stated, c.tied_embeddings), (2048, false, false));
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let bad = LLAMA31_8B.replace("\"num_key_value_heads\":8", "\"num_key_value_heads\":5");
        let e = LlamaConfig::from_hf_json(&bad, "config.json").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.why.as_str()),
            ("num_key_value_heads", "5 does not divide num_attention_heads 32")
        );
        assert!(
            LlamaConfig::from_hf_json("{", "config.json").unwrap_err().to_string().starts_with("config.json: JSON")
        );
        let missing = LLAMA31_8B.replace("\"hidden_size\":4096,", "");
        let e = LlamaConfig::from_hf_json(&missing, "x/config.json").unwrap_err();
        assert_eq!((e.file.as_str(), e.field.as_str(), e.why.as_str()), ("x/config.json", "hidden_size", "missing"));
        let mistral = LLAMA31_8B.replace("LlamaForCausalLM", "MistralForCausalLM");
        let e = LlamaConfig::from_hf_json(&mistral, "config.json").unwrap_err();
        assert!(e.to_string().contains("MistralForCausalLM is not supported"), "{e}");
        let linear =
            LLAMA31_8B.replace("\"rope_type\":\"llama3\"", "\"rope_type\":\"linear\"").replace("\"factor\":8.0,", "");
        let e = LlamaConfig::from_hf_json(&linear, "config.json").unwrap_err();
        assert_eq!((e.field.as_str(), e.why.as_str()), ("rope_scaling.factor", "missing"));
    }

    fn gguf(edit: impl FnOnce(&mut Metadata)) -> std::result::Result<LlamaConfig, ConfigError> {
        use selene_gguf::Value as V;
        let mut m = Metadata::new("m.gguf");
        m.set(general::ARCHITECTURE, V::String("llama".into()));
        for (key, v) in [
            (llm::BLOCK_COUNT, 2),
            (llm::CONTEXT_LENGTH, 256),
            (llm::EMBEDDING_LENGTH, 64),
            (llm::FEED_FORWARD_LENGTH, 128),
            (llm::VOCAB_SIZE, 100),
            (attention::HEAD_COUNT, 4),
            (attention::HEAD_COUNT_KV, 2),
        ] {
            m.set(key.of("llama"), V::U32(v));
        }
        m.set(attention::LAYERNORM_RMS_EPS.of("llama"), V::F32(1e-5));
        edit(&mut m);
        LlamaConfig::from_gguf(&m)
    }

    #[test]
    fn reads_gguf_metadata() {
        let c = gguf(|_| {}).unwrap();
        assert_eq!((c.num_layers, c.head_dim, c.num_kv_heads, c.vocab_size), (2, 16, 2, 100));
        assert_eq!((c.rope.theta, &c.rope.scaling), (10000.0, &RopeScaling::None));
        let linear = gguf(|m| {
            m.set("llama.rope.scaling.type", selene_gguf::Value::String("linear".into()));
            m.set("llama.rope.scaling.factor", selene_gguf::Value::F32(4.0));
        })
        .unwrap();
        assert_eq!(linear.rope.scaling, RopeScaling::Linear(4.0));
        let e = gguf(|m| m.set("general.architecture", selene_gguf::Value::String("qwen2".into()))).unwrap_err();
        assert_eq!((e.file.as_str(), e.field.as_str()), ("m.gguf", "general.architecture"));
        let e = gguf(|m| m.set("llama.attention.head_count_kv", selene_gguf::Value::U32(3))).unwrap_err();
        assert_eq!(e.field, "llama.attention.head_count_kv");
    }
}
