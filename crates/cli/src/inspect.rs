//! `selene inspect`: what is in a GGUF file, for people (a table) and for programs (`--json`).

use std::path::PathBuf;

use anyhow::Result;
use selene_gguf::{Array, GgufModel, Value};
use serde_json::{Map, Value as Json, json};

#[derive(clap::Args)]
pub struct Args {
    /// A GGUF file, the first shard of a split set, or hf:owner/repo[:file.gguf].
    file: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Print arrays in full (tokenizer vocabularies hold over 100,000 entries).
    #[arg(long)]
    full_arrays: bool,
}

const ARRAY_HEAD: usize = 8;

pub fn run(args: &Args) -> Result<()> {
    let model = GgufModel::open(crate::hub::resolve(&args.file)?)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&model, args.full_arrays))?);
    } else {
        print_tables(&model);
    }
    Ok(())
}

fn print_tables(model: &GgufModel) {
    let layout = model.layout();
    for (i, shard) in layout.shards().iter().enumerate() {
        let h = &shard.header;
        println!(
            "file {}: {} (GGUF v{}, {} tensors, data at byte {}, alignment {})",
            i + 1,
            shard.label,
            h.version,
            h.tensors.len(),
            h.data_offset,
            h.alignment
        );
    }
    let metadata = model.metadata();
    println!("\nmetadata: {} keys", metadata.len());
    let width = metadata.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (i, (key, value)) in metadata.iter().enumerate() {
        println!("{:4}  {key:width$}  {:>8}  {value}", i + 1, type_name(value));
    }
    let tensors = layout.tensors();
    let total: u64 = tensors.iter().map(|t| t.info.n_bytes()).sum();
    println!("\ntensors: {} ({} bytes)", tensors.len(), total);
    let width = tensors.iter().map(|t| t.info.name.len()).max().unwrap_or(4);
    let shards = layout.shards().len() > 1;
    println!(
        "{:>4}  {:width$}  {:>7}  {:>20}  {:>12}  {:>12}{}",
        "#",
        "name",
        "type",
        "shape",
        "bytes",
        "offset",
        if shards { "  file" } else { "" }
    );
    for (i, t) in tensors.iter().enumerate() {
        let shape = t.info.shape().iter().map(u64::to_string).collect::<Vec<_>>().join("x");
        let file = if shards { format!("  {}", t.shard + 1) } else { String::new() };
        println!(
            "{:4}  {:width$}  {:>7}  {shape:>20}  {:>12}  {:>12}{file}",
            i + 1,
            t.info.name,
            t.info.ggml_type.name(),
            t.info.n_bytes(),
            t.file_offset
        );
    }
}

fn type_name(value: &Value) -> String {
    match value {
        Value::Array(a) => format!("{}[{}]", a.element_type().name(), a.len()),
        v => v.value_type().name().to_owned(),
    }
}

fn to_json(model: &GgufModel, full_arrays: bool) -> Json {
    let layout = model.layout();
    let files: Vec<Json> = layout
        .shards()
        .iter()
        .map(|s| {
            json!({
                "path": s.label,
                "version": s.header.version,
                "tensor_count": s.header.tensors.len(),
                "alignment": s.header.alignment,
                "data_offset": s.header.data_offset,
            })
        })
        .collect();
    let metadata: Vec<Json> = model
        .metadata()
        .iter()
        .map(|(key, value)| {
            let mut entry = Map::new();
            entry.insert("key".into(), key.into());
            entry.insert("type".into(), value.value_type().name().into());
            match value {
                Value::Array(a) => {
                    entry.insert("element_type".into(), a.element_type().name().into());
                    entry.insert("len".into(), a.len().into());
                    let shown = if full_arrays { a.len() } else { a.len().min(ARRAY_HEAD) };
                    entry.insert("value".into(), array_json(a, shown));
                }
                v => {
                    entry.insert("value".into(), scalar_json(v));
                }
            }
            Json::Object(entry)
        })
        .collect();
    let tensors: Vec<Json> = layout
        .tensors()
        .iter()
        .map(|t| {
            json!({
                "name": t.info.name,
                "type": t.info.ggml_type.name(),
                "shape": t.info.shape(),
                "ne": t.info.dims,
                "elements": t.info.n_elements(),
                "bytes": t.info.n_bytes(),
                "file": t.shard,
                "offset": t.file_offset,
            })
        })
        .collect();
    json!({ "files": files, "metadata": metadata, "tensors": tensors })
}

fn scalar_json(v: &Value) -> Json {
    match v {
        // Through the shortest decimal form, so 1e-5f32 prints as 1e-5 rather than 9.99999974e-6.
        Value::F32(x) => float_json(x.to_string().parse().unwrap_or(f64::NAN)),
        Value::F64(x) => float_json(*x),
        Value::Bool(b) => (*b).into(),
        Value::String(s) => s.as_str().into(),
        Value::I8(_) | Value::I16(_) | Value::I32(_) | Value::I64(_) => {
            v.as_f64().map_or(Json::Null, |x| (x as i64).into())
        }
        Value::Array(a) => array_json(a, a.len()),
        _ => v.as_u64().map_or(Json::Null, Json::from),
    }
}

fn float_json(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or_else(|| x.to_string().into(), Json::Number)
}

fn array_json(a: &Array, shown: usize) -> Json {
    match a {
        Array::Array(inner) => Json::Array(inner[..shown].iter().map(|x| array_json(x, x.len())).collect()),
        _ => Json::Array((0..shown).filter_map(|i| a.get(i)).map(|v| scalar_json(&v)).collect()),
    }
}
