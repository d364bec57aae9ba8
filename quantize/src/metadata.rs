//! The GGUF metadata of a converted Llama model, key for key and in the order that llama.cpp's
//! converter followed by llama-quantize leaves them: the converter's keys in the order it adds
//! them, then `general.quantization_version` and `general.file_type`, which llama-quantize sets
//! last (its `gguf_set_val` removes a key and appends it again).

use std::path::Path;

use selene_gguf::{Metadata, Value};
use serde_json::Value as Json;

use crate::config::{LlamaConfig, RopeScaling};
use crate::error::{Error, Result, read_json};
use crate::ftype::FileType;
use crate::model_name;
use crate::vocab;

/// `GGML_QNT_VERSION`.
const QUANTIZATION_VERSION: u32 = 2;

pub fn build(dir: &Path, config: &LlamaConfig, ftype: FileType, total_params: u64) -> Result<Metadata> {
    let mut m = Metadata::new(dir.display().to_string());
    m.set("general.architecture", Value::String("llama".into()));
    m.set("general.type", Value::String("model".into()));
    for (key, value) in sampling(dir)? {
        m.set(key, value);
    }
    let raw_config = read_json(&dir.join(crate::checkpoint::CONFIG))?;
    let folder = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name_or_path = raw_config.get("_name_or_path").and_then(Json::as_str);
    let names = model_name::guess(name_or_path, folder.as_deref().unwrap_or("model"), total_params);
    m.set("general.name", Value::String(names.name));
    let optional = [
        ("general.version", names.version),
        ("general.organization", names.organization),
        ("general.finetune", names.finetune),
        ("general.basename", names.basename),
        ("general.size_label", names.size_label),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            m.set(key, Value::String(v));
        }
    }

    m.set("llama.block_count", Value::U32(config.n_layer));
    if let Some(n_ctx) = config.n_ctx {
        m.set("llama.context_length", Value::U32(n_ctx));
    }
    m.set("llama.embedding_length", Value::U32(config.n_embd));
    m.set("llama.feed_forward_length", Value::U32(config.n_ff));
    m.set("llama.attention.head_count", Value::U32(config.n_head));
    m.set("llama.attention.head_count_kv", Value::U32(config.n_head_kv));
    if let RopeScaling::Linear(factor) = config.rope_scaling {
        m.set("llama.rope.scaling.type", Value::String("linear".into()));
        m.set("llama.rope.scaling.factor", Value::F32(factor as f32));
    }
    m.set("llama.rope.freq_base", Value::F32(config.rope_theta as f32));
    m.set("llama.attention.layer_norm_rms_epsilon", Value::F32(config.rms_norm_eps as f32));
    m.set("llama.attention.key_length", Value::U32(config.head_dim));
    m.set("llama.attention.value_length", Value::U32(config.head_dim));
    m.set("llama.vocab_size", Value::U32(config.n_vocab));
    m.set("llama.rope.dimension_count", Value::U32(config.head_dim));

    for (key, value) in vocab::metadata(dir, config.n_vocab, &raw_config)? {
        m.set(key, value);
    }
    m.set("general.quantization_version", Value::U32(QUANTIZATION_VERSION));
    m.set("general.file_type", Value::U32(ftype.id()));
    Ok(m)
}

/// `general.sampling.*` from generation_config.json, as gguf-py's `Metadata` reads it (an
/// unreadable file is ignored there too).
fn sampling(dir: &Path) -> Result<Vec<(String, Value)>> {
    let path = dir.join("generation_config.json");
    let Ok(text) = std::fs::read(&path) else { return Ok(Vec::new()) };
    let Ok(generation) = serde_json::from_slice::<Json>(&text) else { return Ok(Vec::new()) };
    enum Kind {
        Str,
        Int,
        Float,
    }
    let fields: [(&[&str], &str, Kind); 12] = [
        (&["sequence"], "sequence", Kind::Str),
        (&["top_k"], "top_k", Kind::Int),
        (&["top_p"], "top_p", Kind::Float),
        (&["min_p"], "min_p", Kind::Float),
        (&["xtc_probability"], "xtc_probability", Kind::Float),
        (&["xtc_threshold"], "xtc_threshold", Kind::Float),
        (&["temperature"], "temp", Kind::Float),
        (&["penalty_last_n"], "penalty_last_n", Kind::Int),
        (&["penalty_repeat", "repetition_penalty"], "penalty_repeat", Kind::Float),
        (&["mirostat"], "mirostat", Kind::Int),
        (&["mirostat_tau"], "mirostat_tau", Kind::Float),
        (&["mirostat_eta"], "mirostat_eta", Kind::Float),
    ];
    let mut out = Vec::new();
    for (sources, key, kind) in fields {
        let Some(v) = sources.iter().find_map(|s| generation.get(*s).filter(|v| !v.is_null())) else { continue };
        let bad = || Error::new(&path, sources[0], format!("{v} is not a valid value"));
        let value = match kind {
            Kind::Str => Value::String(v.as_str().ok_or_else(bad)?.to_owned()),
            Kind::Int => Value::I32(v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(bad)?),
            Kind::Float => Value::F32(v.as_f64().ok_or_else(bad)? as f32),
        };
        out.push((format!("general.sampling.{key}"), value));
    }
    Ok(out)
}
