//! The conversion: checks the checkpoint against its config, plans every GGUF tensor (name,
//! shape, type, order), then streams them one by one: rows of the source are widened to f32 in
//! slabs, permuted (Q/K) and merged (LoRA) on the way, checked for NaN/Inf, and coded straight
//! into the tensor's output buffer.
//!
//! Memory stays bounded by the largest tensor: one output buffer (at most twice a bf16 source
//! tensor, for F32 output), one slab of f32 rows, and the source pages of the current slab, which
//! are handed back to the kernel as soon as they are converted. Coding is parallel (rayon).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use selene_arch::{LlamaConfig, ROPE_FREQS, Weight, rope_row_to_hf};
use selene_gguf::{GgmlType, ModelWriter, SplitLimit, TensorInfo, codec, tensor_info};
use selene_safetensors::TensorEntry;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::ftype::{FileType, ModelShape, TensorShape, tensor_types};
use crate::lora::Adapter;
use crate::metadata;
use crate::progress::Progress;

/// Values converted per slab: enough to keep both cores busy, small beside any real tensor.
const SLAB_VALUES: usize = 1 << 22;

pub struct Options {
    pub ftype: FileType,
    /// Largest tensor data per file, in bytes (`--split-max-size`).
    pub split_max_size: Option<u64>,
    pub lora: Option<PathBuf>,
    /// Files written beside the model and renamed with it (the Modelfile).
    pub extra_files: Vec<(PathBuf, Vec<u8>)>,
    pub progress: bool,
}

enum Source {
    Checkpoint { hf: String, weight: Weight },
    Values(Vec<f32>),
}

struct Planned {
    gguf: String,
    /// Row-major shape.
    shape: Vec<u64>,
    source: Source,
}

impl Planned {
    fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Row length (ggml's ne[0]).
    fn row(&self) -> u64 {
        *self.shape.last().expect("tensors have a dimension")
    }
}

/// Converts the checkpoint in `input` to `output` and returns the paths written.
pub fn convert(input: &Path, output: &Path, opts: &Options) -> Result<Vec<PathBuf>> {
    let ckpt = Checkpoint::open(input)?;
    let adapter = match &opts.lora {
        Some(dir) => {
            let adapter = Adapter::load(dir)?;
            adapter.check(dir, |name| ckpt.tensors.get(name).map(|t| t.shape.clone()))?;
            Some(adapter)
        }
        None => None,
    };
    let mut plan = plan(&ckpt)?;
    plan.sort_by(|a, b| gguf_order(&a.gguf, &b.gguf));
    let c = &ckpt.config;
    let shapes: Vec<TensorShape> =
        plan.iter().map(|p| TensorShape { name: &p.gguf, row: p.row(), n_dims: p.shape.len() }).collect();
    let model =
        ModelShape { n_layer: c.num_layers as u32, n_head: c.num_heads as u32, n_head_kv: c.num_kv_heads as u32 };
    let types = tensor_types(opts.ftype, &shapes, &model);
    let total_params: u64 = plan.iter().map(Planned::n_elements).sum();
    let meta = metadata::build(&ckpt.dir, c, &ckpt.raw_config, opts.ftype, total_params)?;
    let infos: Vec<TensorInfo> = plan.iter().zip(&types).map(|(p, &ty)| tensor_info(&p.gguf, &p.shape, ty)).collect();
    let source_bytes: u64 = plan
        .iter()
        .map(|p| match &p.source {
            Source::Checkpoint { hf, .. } => ckpt.tensors.get(hf).map_or(0, |t| t.n_bytes() as u64),
            Source::Values(v) => 4 * v.len() as u64,
        })
        .sum();
    let mut out = ModelWriter::create(output, meta, infos, opts.split_max_size.map(SplitLimit::MaxBytes))?;
    let mut progress = Progress::new(opts.progress, plan.len(), source_bytes);
    for (p, &ty) in plan.iter().zip(&types) {
        let data = match &p.source {
            Source::Values(v) => codec::quantize_to_vec(ty, v).map_err(|e| Error::new(output, &p.gguf, e))?,
            Source::Checkpoint { hf, weight } => {
                let t = ckpt.tensors.get(hf).expect("planned from the checkpoint");
                let delta = adapter.as_ref().and_then(|a| a.get(hf));
                let data = convert_tensor(&ckpt, t, *weight, delta, ty, &mut |n| progress.advance_bytes(n))?;
                ckpt.tensors.release(t, 0..t.n_bytes());
                data
            }
        };
        out.write_tensor(&data)?;
        progress.tensor_done(&p.gguf);
    }
    let paths = out.finish_with(&opts.extra_files)?;
    progress.finish();
    Ok(paths)
}

/// Every GGUF tensor of the model, after checking names and shapes against the config.
fn plan(ckpt: &Checkpoint) -> Result<Vec<Planned>> {
    let c = &ckpt.config;
    let mut plan = Vec::new();
    if let Some(factors) = &c.rope.freq_factors {
        plan.push(Planned {
            gguf: ROPE_FREQS.into(),
            shape: vec![factors.len() as u64],
            source: Source::Values(factors.clone()),
        });
    }
    for t in ckpt.tensors.tensors() {
        let (file, hf) = (ckpt.tensors.path(t), &t.name);
        let Some(weight) = Weight::from_hf_name(hf, c.num_layers) else {
            if is_rotary_inv_freq(hf, c.num_layers) {
                continue;
            }
            return Err(Error::new(file, hf, "not a tensor of a Llama model (LlamaForCausalLM) with this config"));
        };
        let expected: Vec<u64> = weight.shape(c).iter().map(|&d| d as u64).collect();
        if t.shape != expected {
            return Err(Error::new(file, hf, format!("shape {:?}, but config.json implies {expected:?}", t.shape)));
        }
        plan.push(Planned {
            gguf: weight.gguf_name(),
            shape: expected,
            source: Source::Checkpoint { hf: hf.clone(), weight },
        });
    }
    let tied = c.tied_embeddings && ckpt.tensors.get(&Weight::Output.hf_name()).is_none();
    for weight in Weight::all(c.num_layers, tied) {
        let name = weight.hf_name();
        if ckpt.tensors.get(&name).is_none() {
            return Err(Error::new(&ckpt.dir, &name, "missing from the checkpoint's safetensors files"));
        }
    }
    Ok(plan)
}

/// Whether `hf` is a layer's rotary inverse frequencies, which older checkpoints store and
/// llama.cpp's converter drops (the frequencies follow from the config).
fn is_rotary_inv_freq(hf: &str, num_layers: usize) -> bool {
    let layer = hf.strip_prefix("model.layers.").and_then(|rest| rest.strip_suffix(".self_attn.rotary_emb.inv_freq"));
    layer.and_then(|l| l.parse::<usize>().ok()).is_some_and(|l| l < num_layers)
}

/// llama-quantize's order: tensors outside blocks first, then by block number, by name inside
/// (its `weight_name_comparer`).
pub(crate) fn gguf_order(a: &str, b: &str) -> std::cmp::Ordering {
    let layer = |n: &str| -> i64 {
        n.strip_prefix("blk.").and_then(|r| r.split('.').next()).and_then(|l| l.parse().ok()).unwrap_or(-1)
    };
    layer(a).cmp(&layer(b)).then_with(|| a.cmp(b))
}

/// The checkpoint row that becomes row `row` of `weight`'s GGUF tensor of `rows` rows.
fn source_row(row: usize, weight: Weight, rows: usize, c: &LlamaConfig) -> usize {
    match weight.rope_heads(c) {
        Some(heads) => rope_row_to_hf(row, rows, heads),
        None => row,
    }
}

/// Converts one checkpoint tensor to `ty`, slab by slab.
fn convert_tensor(
    ckpt: &Checkpoint,
    e: &TensorEntry,
    weight: Weight,
    delta: Option<&crate::lora::Delta>,
    ty: GgmlType,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<u8>> {
    let (rows, cols) = match e.shape.as_slice() {
        [n] => (1, *n as usize),
        [r, c] => (*r as usize, *c as usize),
        _ => unreachable!("shapes were checked"),
    };
    let src = ckpt.tensors.bytes(e);
    let src_row_bytes = cols * e.dtype.size();
    let out_row_bytes = cols / ty.block_size() * ty.block_bytes();
    let mut out = vec![0u8; rows * out_row_bytes];
    let slab_rows = (SLAB_VALUES / cols).clamp(1, rows);
    let mut values = vec![0f32; slab_rows * cols];
    for first in (0..rows).step_by(slab_rows) {
        let n = slab_rows.min(rows - first);
        let slab = &mut values[..n * cols];
        slab.par_chunks_mut(cols).enumerate().for_each(|(i, row)| {
            let r = source_row(first + i, weight, rows, &ckpt.config);
            e.dtype.decode(&src[r * src_row_bytes..(r + 1) * src_row_bytes], row);
            if let Some(d) = delta {
                d.add_to_row(r, row);
                row.iter_mut().for_each(|x| *x = e.dtype.round(*x));
            }
        });
        if let Some(i) = slab.iter().position(|x| !x.is_finite()) {
            let (r, col) = (source_row(first + i / cols, weight, rows, &ckpt.config), i % cols);
            let what = if delta.is_some() { "after merging the LoRA adapter, " } else { "" };
            return Err(Error::new(
                ckpt.tensors.path(e),
                &e.name,
                format!("{what}the value at row {r}, column {col} is {} (weights must be finite)", slab[i]),
            ));
        }
        codec::quantize(ty, slab, &mut out[first * out_row_bytes..(first + n) * out_row_bytes])
            .map_err(|err| Error::new(ckpt.tensors.path(e), &e.name, err))?;
        // Rope-permuted rows are read out of order: their pages are released with the tensor.
        if weight.rope_heads(&ckpt.config).is_none() {
            ckpt.tensors.release(e, first * src_row_bytes..(first + n) * src_row_bytes);
        }
        progress((n * src_row_bytes) as u64);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_llama_quantize() {
        let mut names = vec![
            "blk.10.attn_q.weight",
            "token_embd.weight",
            "blk.2.ffn_up.weight",
            "blk.2.attn_k.weight",
            "output.weight",
            "output_norm.weight",
            "rope_freqs.weight",
        ];
        names.sort_by(|a, b| gguf_order(a, b));
        assert_eq!(
            names,
            [
                "output.weight",
                "output_norm.weight",
                "rope_freqs.weight",
                "token_embd.weight",
                "blk.2.attn_k.weight",
                "blk.2.ffn_up.weight",
                "blk.10.attn_q.weight"
            ]
        );
    }

    #[test]
    fn only_layer_inverse_frequencies_are_dropped() {
        assert!(is_rotary_inv_freq("model.layers.3.self_attn.rotary_emb.inv_freq", 4));
        assert!(!is_rotary_inv_freq("model.layers.4.self_attn.rotary_emb.inv_freq", 4));
        assert!(!is_rotary_inv_freq("model.layers.3.self_attn.q_proj.bias", 4));
    }
}
