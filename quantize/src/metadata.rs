//! The GGUF metadata of a converted Llama model, key for key and in the order that llama.cpp's
//! converter followed by llama-quantize leaves them: the converter's keys in the order it adds
//! them, then `general.quantization_version` and `general.file_type`, which llama-quantize sets
//! last (its `gguf_set_val` removes a key and appends it again).

use std::path::Path;

use selene_arch::{ARCHITECTURE, LlamaConfig, RopeScaling};
use selene_gguf::keys::{ArchKey, attention, general, llm, rope};
use selene_gguf::{Metadata, Value};
use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::ftype::FileType;
use crate::model_name;
use crate::vocab;

/// `GGML_QNT_VERSION`.
const QUANTIZATION_VERSION: u32 = 2;

/// The metadata of a model of architecture `config` (`config.json` as written: `raw_config`)
/// whose tokenizer and generation config lie in `dir`.
pub fn build(
    dir: &Path,
    config: &LlamaConfig,
    raw_config: &Json,
    ftype: FileType,
    total_params: u64,
) -> Result<Metadata> {
    let mut m = Metadata::new(dir.display().to_string());
    m.set(general::ARCHITECTURE, Value::String(ARCHITECTURE.into()));
    m.set(general::TYPE, Value::String("model".into()));
    for (key, value) in sampling(dir)? {
        m.set(key, value);
    }
    let folder = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name_or_path = raw_config.get("_name_or_path").and_then(Json::as_str);
    let names = model_name::guess(name_or_path, folder.as_deref().unwrap_or("model"), total_params);
    m.set(general::NAME, Value::String(names.name));
    let optional = [
        (general::VERSION, names.version),
        (general::ORGANIZATION, names.organization),
        (general::FINETUNE, names.finetune),
        (general::BASENAME, names.basename),
        (general::SIZE_LABEL, names.size_label),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            m.set(key, Value::String(v));
        }
    }

    // GGUF stores sizes as u32; config.json's were checked to fit.
    let u32_of = |n: usize| Value::U32(n as u32);
    let key = |k: ArchKey| k.of(ARCHITECTURE);
    m.set(key(llm::BLOCK_COUNT), u32_of(config.num_layers));
    if config.context_length_stated {
        m.set(key(llm::CONTEXT_LENGTH), u32_of(config.context_length));
    }
    m.set(key(llm::EMBEDDING_LENGTH), u32_of(config.hidden_size));
    m.set(key(llm::FEED_FORWARD_LENGTH), u32_of(config.intermediate_size));
    m.set(key(attention::HEAD_COUNT), u32_of(config.num_heads));
    m.set(key(attention::HEAD_COUNT_KV), u32_of(config.num_kv_heads));
    if let RopeScaling::Linear(factor) = config.rope.scaling {
        m.set(key(rope::SCALING_TYPE), Value::String("linear".into()));
        m.set(key(rope::SCALING_FACTOR), Value::F32(factor as f32));
    }
    m.set(key(rope::FREQ_BASE), Value::F32(config.rope.theta as f32));
    m.set(key(attention::LAYERNORM_RMS_EPS), Value::F32(config.rms_norm_eps as f32));
    m.set(key(attention::KEY_LENGTH), u32_of(config.head_dim));
    m.set(key(attention::VALUE_LENGTH), u32_of(config.head_dim));
    m.set(key(llm::VOCAB_SIZE), u32_of(config.vocab_size));
    m.set(key(rope::DIMENSION_COUNT), u32_of(config.head_dim));

    for (key, value) in vocab::metadata(dir, config.vocab_size, raw_config)? {
        m.set(key, value);
    }
    m.set(general::QUANTIZATION_VERSION, Value::U32(QUANTIZATION_VERSION));
    m.set(general::FILE_TYPE, Value::U32(ftype.id()));
    Ok(m)
}

/// `general.sampling.*` from generation_config.json, as gguf-py's `Metadata` reads it (an
/// unreadable file is ignored there too).
fn sampling(dir: &Path) -> Result<Vec<(&'static str, Value)>> {
    let path = dir.join("generation_config.json");
    let Ok(text) = std::fs::read(&path) else { return Ok(Vec::new()) };
    let Ok(generation) = serde_json::from_slice::<Json>(&text) else { return Ok(Vec::new()) };
    enum Kind {
        Str,
        Int,
        Float,
    }
    let fields: [(&[&str], &str, Kind); 12] = [
        (&["sequence"], general::SAMPLING_SEQUENCE, Kind::Str),
        (&["top_k"], general::SAMPLING_TOP_K, Kind::Int),
        (&["top_p"], general::SAMPLING_TOP_P, Kind::Float),
        (&["min_p"], general::SAMPLING_MIN_P, Kind::Float),
        (&["xtc_probability"], general::SAMPLING_XTC_PROBABILITY, Kind::Float),
        (&["xtc_threshold"], general::SAMPLING_XTC_THRESHOLD, Kind::Float),
        (&["temperature"], general::SAMPLING_TEMP, Kind::Float),
        (&["penalty_last_n"], general::SAMPLING_PENALTY_LAST_N, Kind::Int),
        (&["penalty_repeat", "repetition_penalty"], general::SAMPLING_PENALTY_REPEAT, Kind::Float),
        (&["mirostat"], general::SAMPLING_MIROSTAT, Kind::Int),
        (&["mirostat_tau"], general::SAMPLING_MIROSTAT_TAU, Kind::Float),
        (&["mirostat_eta"], general::SAMPLING_MIROSTAT_ETA, Kind::Float),
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
        out.push((key, value));
    }
    Ok(out)
}
