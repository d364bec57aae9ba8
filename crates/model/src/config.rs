//! The shape of a Llama-family model, read from GGUF metadata (inference) or from a Hugging Face
//! `config.json` (training), so that both paths build the same definition.

use selene_gguf::Metadata;
use serde::Deserialize;

use crate::error::{ModelError, Result};

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
    /// Longest context the model was trained for.
    pub context_length: usize,
    /// Whether the output head reuses the token embedding matrix.
    pub tied_embeddings: bool,
}

/// Rotary position embedding parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeConfig {
    pub theta: f64,
    /// Positions are divided by this ("linear" scaling); 1 for none.
    pub position_scale: f64,
    /// Per-frequency divisors (Llama 3 scaling, GGUF's `rope_freqs.weight`), `head_dim / 2` long.
    pub freq_factors: Option<Vec<f32>>,
}

impl RopeConfig {
    /// The rotation frequency of each of the `head_dim / 2` pairs, in radians per position.
    pub fn inverse_frequencies(&self, head_dim: usize) -> Vec<f64> {
        (0..head_dim / 2)
            .map(|i| {
                let base = self.theta.powf(-2.0 * i as f64 / head_dim as f64);
                let factor = self.freq_factors.as_ref().map_or(1.0, |f| f64::from(f[i]));
                base / factor / self.position_scale
            })
            .collect()
    }
}

impl LlamaConfig {
    /// Reads `<arch>.*` keys the way llama.cpp does for the `llama` architecture. `rope_freqs`
    /// is a tensor, not metadata: the loader adds it.
    pub fn from_gguf(metadata: &Metadata) -> Result<Self> {
        let arch = metadata.require_str("general.architecture")?;
        if !SUPPORTED_ARCHITECTURES.contains(&arch) {
            return Err(ModelError::Unsupported(format!(
                "{}: general.architecture is {arch:?}; selene runs {SUPPORTED_ARCHITECTURES:?}",
                metadata.origin()
            )));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let usize_of = |k: &str| metadata.require_u64(&key(k)).map(|v| v as usize);
        let hidden_size = usize_of("embedding_length")?;
        let num_heads = usize_of("attention.head_count")?;
        let num_kv_heads = metadata.optional_u64(&key("attention.head_count_kv"))?.map_or(num_heads, |v| v as usize);
        if num_heads == 0 || num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            return Err(ModelError::Config(format!(
                "{}: {num_heads} attention heads cannot be shared by {num_kv_heads} key/value heads",
                metadata.origin()
            )));
        }
        let head_dim = match metadata.optional_u64(&key("attention.key_length"))? {
            Some(d) => d as usize,
            None => hidden_size / num_heads,
        };
        if let Some(rot) = metadata.optional_u64(&key("rope.dimension_count"))? {
            if rot as usize != head_dim {
                return Err(ModelError::Unsupported(format!(
                    "{}: partial rotary embeddings ({rot} of {head_dim} dimensions)",
                    metadata.origin()
                )));
            }
        }
        let vocab_size = match metadata.optional_u64(&key("vocab_size"))? {
            Some(v) => v as usize,
            None => metadata.require_array("tokenizer.ggml.tokens")?.len(),
        };
        let position_scale = match metadata.optional_str(&key("rope.scaling.type"))? {
            None | Some("none") => 1.0,
            Some("linear") => metadata.optional_f64(&key("rope.scaling.factor"))?.unwrap_or(1.0),
            Some(other) => {
                return Err(ModelError::Unsupported(format!("{}: rope scaling {other:?}", metadata.origin())));
            }
        };
        Ok(LlamaConfig {
            vocab_size,
            hidden_size,
            intermediate_size: usize_of("feed_forward_length")?,
            num_layers: usize_of("block_count")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: metadata.require_f64(&key("attention.layer_norm_rms_epsilon"))?,
            rope: RopeConfig {
                theta: metadata.optional_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0),
                position_scale,
                freq_factors: None,
            },
            context_length: usize_of("context_length")?,
            tied_embeddings: false,
        })
    }

    /// Reads a Hugging Face `LlamaForCausalLM` `config.json`.
    pub fn from_hf_json(text: &str, origin: &str) -> Result<Self> {
        let hf: HfConfig = serde_json::from_str(text).map_err(|e| ModelError::Config(format!("{origin}: {e}")))?;
        if let Some(archs) = &hf.architectures {
            if !archs.iter().any(|a| a == "LlamaForCausalLM") {
                return Err(ModelError::Unsupported(format!(
                    "{origin}: architectures {archs:?}, not LlamaForCausalLM"
                )));
            }
        }
        let num_kv_heads = hf.num_key_value_heads.unwrap_or(hf.num_attention_heads);
        if hf.num_attention_heads == 0 || num_kv_heads == 0 || hf.num_attention_heads % num_kv_heads != 0 {
            return Err(ModelError::Config(format!(
                "{origin}: num_attention_heads {} is not a multiple of num_key_value_heads {num_kv_heads}",
                hf.num_attention_heads
            )));
        }
        let head_dim = hf.head_dim.unwrap_or(hf.hidden_size / hf.num_attention_heads);
        // transformers 5 writes `rope_parameters` (theta included) where 4.x wrote `rope_theta`
        // and `rope_scaling`; either may come with a checkpoint.
        let (rope_theta, scaling) = match &hf.rope_parameters {
            Some(p) => (p.rope_theta.unwrap_or(hf.rope_theta), Some(p)),
            None => (hf.rope_theta, hf.rope_scaling.as_ref()),
        };
        let (position_scale, freq_factors) = match scaling {
            None => (1.0, None),
            Some(s) => match s.kind() {
                "none" | "default" => (1.0, None),
                "linear" => (s.factor, None),
                "llama3" => (1.0, Some(llama3_freq_factors(s, rope_theta, head_dim))),
                other => return Err(ModelError::Unsupported(format!("{origin}: rope_scaling type {other:?}"))),
            },
        };
        Ok(LlamaConfig {
            vocab_size: hf.vocab_size,
            hidden_size: hf.hidden_size,
            intermediate_size: hf.intermediate_size,
            num_layers: hf.num_hidden_layers,
            num_heads: hf.num_attention_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: hf.rms_norm_eps,
            rope: RopeConfig { theta: rope_theta, position_scale, freq_factors },
            context_length: hf.max_position_embeddings,
            tied_embeddings: hf.tie_word_embeddings,
        })
    }

    /// Number of query heads that share one key/value head.
    pub fn group_size(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }
}

/// GGUF architectures whose tensors and hyper-parameters are Llama's.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

#[derive(Deserialize)]
struct HfConfig {
    architectures: Option<Vec<String>>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    rope_theta: f64,
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
    rope_scaling: Option<HfRopeScaling>,
    rope_parameters: Option<HfRopeScaling>,
}

fn default_rope_theta() -> f64 {
    10_000.0
}

#[derive(Deserialize)]
struct HfRopeScaling {
    /// Only in `rope_parameters`.
    rope_theta: Option<f64>,
    rope_type: Option<String>,
    #[serde(rename = "type")]
    legacy_type: Option<String>,
    #[serde(default = "one")]
    factor: f64,
    #[serde(default = "one")]
    low_freq_factor: f64,
    #[serde(default = "four")]
    high_freq_factor: f64,
    #[serde(default = "eight_k")]
    original_max_position_embeddings: f64,
}

fn one() -> f64 {
    1.0
}
fn four() -> f64 {
    4.0
}
fn eight_k() -> f64 {
    8192.0
}

impl HfRopeScaling {
    fn kind(&self) -> &str {
        self.rope_type.as_deref().or(self.legacy_type.as_deref()).unwrap_or("none")
    }
}

/// Llama 3's frequency-dependent scaling as per-pair divisors, computed in f32 as llama.cpp's
/// converter does when it writes `rope_freqs.weight`.
fn llama3_freq_factors(s: &HfRopeScaling, theta: f64, head_dim: usize) -> Vec<f32> {
    let (factor, low, high, old_ctx) = (
        s.factor as f32,
        s.low_freq_factor as f32,
        s.high_freq_factor as f32,
        s.original_max_position_embeddings as f32,
    );
    let (low_wavelen, high_wavelen) = (old_ctx / low, old_ctx / high);
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32);
            let wavelen = 2.0 * std::f32::consts::PI / freq;
            if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (old_ctx / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA31_8B: &str = r#"{"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":14336,
        "max_position_embeddings":131072,"num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,
        "rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
        "original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,
        "tie_word_embeddings":false,"vocab_size":128256}"#;

    #[test]
    fn llama31_rope_factors_match_llama_cpp_converter() {
        let c = LlamaConfig::from_hf_json(LLAMA31_8B, "config.json").unwrap();
        assert_eq!((c.head_dim, c.group_size()), (128, 4));
        let f = c.rope.freq_factors.unwrap();
        // Values llama.cpp's converter writes for Llama 3.1 8B (gguf_quant.md §2.6).
        assert!(f[..29].iter().all(|&x| x == 1.0) && f[35..].iter().all(|&x| x == 8.0));
        for (got, want) in f[29..35].iter().zip([1.2074839, 1.5534146, 2.0263131, 2.69453, 3.6842532, 5.257327]) {
            assert!((got - want).abs() < 2e-6, "{got} vs {want}");
        }
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
        let default = r#"{"hidden_size":64,"intermediate_size":128,"max_position_embeddings":256,"num_attention_heads":4,
            "num_hidden_layers":2,"rms_norm_eps":1e-05,"vocab_size":256,
            "rope_parameters":{"rope_theta":20000.0,"rope_type":"default"}}"#;
        let c = LlamaConfig::from_hf_json(default, "config.json").unwrap();
        assert_eq!((c.rope.theta, c.rope.freq_factors), (20000.0, None));
    }

    #[test]
    fn bad_head_counts_are_errors() {
        let bad = LLAMA31_8B.replace("\"num_key_value_heads\":8", "\"num_key_value_heads\":5");
        assert!(
            LlamaConfig::from_hf_json(&bad, "config.json").unwrap_err().to_string().contains("num_key_value_heads")
        );
        assert!(LlamaConfig::from_hf_json("{", "config.json").unwrap_err().to_string().starts_with("config.json"));
    }
}
