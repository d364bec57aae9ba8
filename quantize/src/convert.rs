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
use selene_gguf::{GgmlType, ModelWriter, SplitLimit, TensorInfo, codec, tensor_info};

use crate::checkpoint::{Checkpoint, Located};
use crate::config::{LlamaConfig, RopeScaling};
use crate::error::{Error, Result};
use crate::ftype::{FileType, ModelShape, TensorShape, tensor_types};
use crate::lora::Adapter;
use crate::names::{self, Mapped, Role};
use crate::progress::Progress;
use crate::{metadata, rope};

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
    Checkpoint { hf: String, role: Role },
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
            adapter.check(dir, |name| ckpt.get(name).map(|t| t.entry.shape.clone()))?;
            Some(adapter)
        }
        None => None,
    };
    let mut plan = plan(&ckpt)?;
    plan.sort_by(|a, b| names::gguf_order(&a.gguf, &b.gguf));
    let c = &ckpt.config;
    let shapes: Vec<TensorShape> =
        plan.iter().map(|p| TensorShape { name: &p.gguf, row: p.row(), n_dims: p.shape.len() }).collect();
    let types =
        tensor_types(opts.ftype, &shapes, &ModelShape { n_layer: c.n_layer, n_head: c.n_head, n_head_kv: c.n_head_kv });
    let total_params: u64 = plan.iter().map(Planned::n_elements).sum();
    let meta = metadata::build(input, c, opts.ftype, total_params)?;
    let infos: Vec<TensorInfo> = plan.iter().zip(&types).map(|(p, &ty)| tensor_info(&p.gguf, &p.shape, ty)).collect();
    let source_bytes: u64 = plan
        .iter()
        .map(|p| match &p.source {
            Source::Checkpoint { hf, .. } => ckpt.get(hf).map_or(0, |t| t.entry.n_bytes() as u64),
            Source::Values(v) => 4 * v.len() as u64,
        })
        .sum();
    let mut out = ModelWriter::create(output, meta, infos, opts.split_max_size.map(SplitLimit::MaxBytes))?;
    let mut progress = Progress::new(opts.progress, plan.len(), source_bytes);
    for (p, &ty) in plan.iter().zip(&types) {
        let data = match &p.source {
            Source::Values(v) => codec::quantize_to_vec(ty, v).map_err(|e| Error::new(output, &p.gguf, e))?,
            Source::Checkpoint { hf, role } => {
                let t = ckpt.get(hf).expect("planned from the checkpoint");
                let delta = adapter.as_ref().and_then(|a| a.get(hf));
                let data = convert_tensor(&ckpt, t, *role, delta, ty, &mut |n| progress.advance_bytes(n))?;
                ckpt.release(t, 0..t.entry.n_bytes());
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
    if let RopeScaling::Llama3(r) = &c.rope_scaling {
        let factors = rope::llama3_factors(r, c.rope_theta, c.head_dim);
        plan.push(Planned {
            gguf: "rope_freqs.weight".into(),
            shape: vec![factors.len() as u64],
            source: Source::Values(factors),
        });
    }
    for (hf, t) in ckpt.tensors() {
        let file = ckpt.file(t).path();
        match names::map(hf, c.n_layer) {
            Some(Mapped::Dropped) => {}
            None => {
                return Err(Error::new(file, hf, "not a tensor of a Llama model (LlamaForCausalLM) with this config"));
            }
            Some(Mapped::Tensor { gguf, role, .. }) => {
                let expected = expected_shape(c, &gguf);
                if t.entry.shape != expected {
                    return Err(Error::new(
                        file,
                        hf,
                        format!("shape {:?}, but config.json implies {expected:?}", t.entry.shape),
                    ));
                }
                plan.push(Planned { gguf, shape: expected, source: Source::Checkpoint { hf: hf.clone(), role } });
            }
        }
    }
    let tied = c.tie_word_embeddings && ckpt.get("lm_head.weight").is_none();
    for name in names::required(c.n_layer, tied) {
        if ckpt.get(&name).is_none() {
            return Err(Error::new(&ckpt.dir, &name, "missing from the checkpoint's safetensors files"));
        }
    }
    Ok(plan)
}

fn expected_shape(c: &LlamaConfig, gguf: &str) -> Vec<u64> {
    let (embd, ff, vocab) = (u64::from(c.n_embd), u64::from(c.n_ff), u64::from(c.n_vocab));
    let q = u64::from(c.n_head * c.head_dim);
    let kv = u64::from(c.n_head_kv * c.head_dim);
    let what = gguf.rsplit_once('.').map_or(gguf, |(rest, _)| rest.rsplit('.').next().unwrap_or(rest));
    match what {
        "token_embd" | "output" => vec![vocab, embd],
        "output_norm" | "attn_norm" | "ffn_norm" => vec![embd],
        "attn_q" => vec![q, embd],
        "attn_k" | "attn_v" => vec![kv, embd],
        "attn_output" => vec![embd, q],
        "ffn_gate" | "ffn_up" => vec![ff, embd],
        "ffn_down" => vec![embd, ff],
        other => unreachable!("names::map yields no {other}"),
    }
}

/// The HF row that becomes GGUF row `row` of a Q or K projection with `n_head` heads: llama.cpp
/// interleaves the two rotary halves of each head (`new[h*hd + 2i + j] = old[h*hd + j*hd/2 + i]`).
fn source_row(row: usize, role: Role, rows: usize, c: &LlamaConfig) -> usize {
    let n_head = match role {
        Role::Query => c.n_head,
        Role::Key => c.n_head_kv,
        Role::Other => return row,
    } as usize;
    let hd = rows / n_head;
    let (h, rem) = (row / hd, row % hd);
    h * hd + (rem % 2) * (hd / 2) + rem / 2
}

/// Converts one checkpoint tensor to `ty`, slab by slab.
fn convert_tensor(
    ckpt: &Checkpoint,
    t: &Located,
    role: Role,
    delta: Option<&crate::lora::Delta>,
    ty: GgmlType,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<u8>> {
    let e = &t.entry;
    let (rows, cols) = match e.shape.as_slice() {
        [n] => (1, *n as usize),
        [r, c] => (*r as usize, *c as usize),
        _ => unreachable!("shapes were checked"),
    };
    let src = ckpt.bytes(t);
    let src_row_bytes = cols * e.dtype.size();
    let out_row_bytes = cols / ty.block_size() * ty.block_bytes();
    let mut out = vec![0u8; rows * out_row_bytes];
    let slab_rows = (SLAB_VALUES / cols).clamp(1, rows);
    let mut values = vec![0f32; slab_rows * cols];
    for first in (0..rows).step_by(slab_rows) {
        let n = slab_rows.min(rows - first);
        let slab = &mut values[..n * cols];
        slab.par_chunks_mut(cols).enumerate().for_each(|(i, row)| {
            let r = source_row(first + i, role, rows, &ckpt.config);
            e.dtype.decode(&src[r * src_row_bytes..(r + 1) * src_row_bytes], row);
            if let Some(d) = delta {
                d.add_to_row(r, row);
                row.iter_mut().for_each(|x| *x = e.dtype.round(*x));
            }
        });
        if let Some(i) = slab.iter().position(|x| !x.is_finite()) {
            let (r, col) = (source_row(first + i / cols, role, rows, &ckpt.config), i % cols);
            let what = if delta.is_some() { "after merging the LoRA adapter, " } else { "" };
            return Err(Error::new(
                ckpt.file(t).path(),
                &e.name,
                format!("{what}the value at row {r}, column {col} is {} (weights must be finite)", slab[i]),
            ));
        }
        codec::quantize(ty, slab, &mut out[first * out_row_bytes..(first + n) * out_row_bytes])
            .map_err(|err| Error::new(ckpt.file(t).path(), &e.name, err))?;
        if role == Role::Other {
            ckpt.release(t, first * src_row_bytes..(first + n) * src_row_bytes);
        }
        progress((n * src_row_bytes) as u64);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_rows_interleave_rotary_halves() {
        let c = crate::config::LlamaConfig::from_json(
            Path::new("config.json"),
            &serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "intermediate_size": 8,
                "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": 4}),
        )
        .unwrap();
        // 2 heads of 4 rows: HF rows [0 1 | 2 3] per head (halves) become [0 2 1 3].
        let q: Vec<usize> = (0..8).map(|r| source_row(r, Role::Query, 8, &c)).collect();
        assert_eq!(q, [0, 2, 1, 3, 4, 6, 5, 7]);
        // K with 1 head of 4 rows.
        let k: Vec<usize> = (0..4).map(|r| source_row(r, Role::Key, 4, &c)).collect();
        assert_eq!(k, [0, 2, 1, 3]);
    }
}
