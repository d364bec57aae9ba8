//! The trained model as a Hugging Face checkpoint folder that `selene-quantize`, transformers and
//! llama.cpp's converter read: safetensors shards of at most `max_shard_bytes` (one
//! `model.safetensors` when everything fits, else `model-0000i-of-0000n.safetensors` and
//! `model.safetensors.index.json`, as `save_pretrained` names them), the base checkpoint's
//! `config.json` (with the exported dtype), generation config and tokenizer files.
//!
//! LoRA adapters are merged (`W + (alpha / r)·a·b`, computed in f32 on the device) before
//! rounding to the exported dtype. The folder is written under a temporary name and renamed.

use std::path::Path;

use burn::tensor::Tensor;
use selene_arch::{LayerWeight, Weight};
use selene_model::Llama;
use selene_safetensors::{self as safetensors, Dtype, TensorToWrite};

use crate::error::{Error, Result};

/// Files copied from the base checkpoint when present.
const COPIED: &[&str] = &[
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
];

/// The effective value of a weight (adapters merged), as f32 on the host, with its shape.
pub fn host_weight(model: &Llama, weight: Weight) -> (Vec<f32>, Vec<usize>) {
    fn host<const D: usize>(t: Tensor<D>) -> (Vec<f32>, Vec<usize>) {
        let dims = t.dims().to_vec();
        (t.into_data().try_into_vec_as::<f32>().expect("float weights"), dims)
    }
    let matrix = |linear: &selene_model::Linear| host(linear.tensor().expect("a trainable model holds tensors").val());
    match weight {
        Weight::TokenEmbedding => host(model.embed_tokens.as_ref().expect("a trainable model").val()),
        Weight::OutputNorm => host(model.norm.weight.val()),
        Weight::Output => matrix(model.lm_head.as_ref().expect("listed only when present")),
        Weight::Layer(i, w) => {
            let l = &model.layers[i];
            match w {
                LayerWeight::AttnNorm => host(l.input_layernorm.weight.val()),
                LayerWeight::FfnNorm => host(l.post_attention_layernorm.weight.val()),
                LayerWeight::Query => matrix(&l.self_attn.q_proj),
                LayerWeight::Key => matrix(&l.self_attn.k_proj),
                LayerWeight::Value => matrix(&l.self_attn.v_proj),
                LayerWeight::AttnOutput => matrix(&l.self_attn.o_proj),
                LayerWeight::Gate => matrix(&l.mlp.gate_proj),
                LayerWeight::Up => matrix(&l.mlp.up_proj),
                LayerWeight::Down => matrix(&l.mlp.down_proj),
            }
        }
    }
}

fn torch_dtype(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "float32",
        Dtype::F16 => "float16",
        Dtype::BF16 => "bfloat16",
    }
}

/// Writes `model` as a checkpoint folder `out`, taking config and tokenizer from `base`.
pub fn export_hf(model: &Llama, base: &Path, out: &Path, dtype: Dtype, max_shard_bytes: u64) -> Result<()> {
    if !base.join("tokenizer.json").is_file() && !base.join("tokenizer.model").is_file() {
        return Err(Error::file(base, "tokenizer.json", "the base checkpoint has no tokenizer files to export"));
    }
    let staged = selene_atomic::AtomicDir::create(out).map_err(|e| Error::file(out, "create", e))?;
    let tmp = staged.path();

    // Group tensors into shards without holding more than one shard's bytes.
    let mut shards: Vec<Vec<Weight>> = vec![Vec::new()];
    let mut size = 0u64;
    for w in Weight::all(model.layers.len(), model.lm_head.is_none()) {
        let bytes = w.shape(model.config()).iter().product::<usize>() as u64 * dtype.size() as u64;
        if size > 0 && size + bytes > max_shard_bytes {
            shards.push(Vec::new());
            size = 0;
        }
        size += bytes;
        shards.last_mut().expect("one shard at least").push(w);
    }
    let n = shards.len();
    let mut weight_map = serde_json::Map::new();
    let mut total = 0u64;
    for (i, shard) in shards.iter().enumerate() {
        let file = safetensors::shard_name(i + 1, n);
        let tensors: Vec<(String, Vec<u64>, Vec<u8>)> = shard
            .iter()
            .map(|&w| {
                let (values, shape) = host_weight(model, w);
                (w.hf_name(), shape.iter().map(|&d| d as u64).collect(), dtype.encode(&values))
            })
            .collect();
        let data: Vec<TensorToWrite> =
            tensors.iter().map(|(name, shape, bytes)| TensorToWrite { name, dtype, shape, bytes }).collect();
        safetensors::write(&tmp.join(&file), &data).map_err(|e| Error::new(e.file, e.field, e.why))?;
        for (name, _, bytes) in &tensors {
            weight_map.insert(name.clone(), serde_json::json!(file));
            total += bytes.len() as u64;
        }
    }
    if n > 1 {
        let index = serde_json::json!({"metadata": {"total_size": total}, "weight_map": weight_map});
        write_json(&tmp.join(safetensors::INDEX), &index)?;
    }
    let mut config = crate::error::read_json(&base.join("config.json"))?;
    let object =
        config.as_object_mut().ok_or_else(|| Error::file(&base.join("config.json"), "config", "not an object"))?;
    let key = if object.contains_key("dtype") { "dtype" } else { "torch_dtype" };
    object.insert(key.to_owned(), serde_json::json!(torch_dtype(dtype)));
    write_json(&tmp.join("config.json"), &config)?;
    for name in COPIED {
        let from = base.join(name);
        if from.is_file() {
            std::fs::copy(&from, tmp.join(name)).map_err(|e| Error::file(&from, "copy", e))?;
        }
    }
    staged.publish().map_err(|e| Error::file(out, "write", e))
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON") + "\n";
    std::fs::write(path, text).map_err(|e| Error::file(path, "write", e))
}
