//! Merging a PEFT LoRA adapter into its base while converting: `W' = W + scale · B·A`, with
//! `scale = lora_alpha / r` (or `/ sqrt(r)` with rsLoRA), computed in f32 and rounded to the
//! base checkpoint's dtype, as if the merged model had been saved in that dtype and converted.
//!
//! The adapter's matrices are small (rank × width) and are kept in memory as f32; each merged
//! row is computed when the converter reaches it, so merging costs no extra copy of the model.

use std::collections::BTreeMap;
use std::path::Path;

use selene_safetensors::{SafetensorsFile, TensorEntry};

use crate::error::{Error, Result, read_json};

const PREFIX: &str = "base_model.model.";

/// One adapted weight: `B` (out × r) and `A` (r × in), both row-major f32.
pub struct Delta {
    rank: usize,
    scale: f32,
    a: Vec<f32>,
    b: Vec<f32>,
}

/// The adapter's deltas, by the base checkpoint's tensor name.
pub struct Adapter {
    deltas: BTreeMap<String, Delta>,
}

impl Adapter {
    pub fn load(dir: &Path) -> Result<Adapter> {
        let config_path = dir.join("adapter_config.json");
        let config = read_json(&config_path)?;
        let field = |k: &str| {
            config.get(k).and_then(|v| v.as_f64()).ok_or_else(|| Error::new(&config_path, k, "missing or not a number"))
        };
        let r = field("r")?;
        let alpha = field("lora_alpha")?;
        if r < 1.0 {
            return Err(Error::new(&config_path, "r", format!("{r} is not a positive rank")));
        }
        let scale =
            if config.get("use_rslora").and_then(|v| v.as_bool()) == Some(true) { alpha / r.sqrt() } else { alpha / r };
        if config.get("fan_in_fan_out").and_then(|v| v.as_bool()) == Some(true) {
            return Err(Error::new(
                &config_path,
                "fan_in_fan_out",
                "transposed adapters (GPT-2 Conv1D) are not supported",
            ));
        }
        let file = SafetensorsFile::open(&dir.join("adapter_model.safetensors"))?;
        let mut pairs: BTreeMap<String, (Option<&TensorEntry>, Option<&TensorEntry>)> = BTreeMap::new();
        for t in file.tensors() {
            let unknown = || Error::new(file.path(), &t.name, "not a LoRA A/B matrix of the base model");
            let rest = t.name.strip_prefix(PREFIX).ok_or_else(unknown)?;
            let (module, which) = if let Some(m) = rest.strip_suffix(".lora_A.weight") {
                (m, 0)
            } else if let Some(m) = rest.strip_suffix(".lora_B.weight") {
                (m, 1)
            } else {
                return Err(unknown());
            };
            let slot = pairs.entry(format!("{module}.weight")).or_default();
            if which == 0 { slot.0 = Some(t) } else { slot.1 = Some(t) }
        }
        let mut deltas = BTreeMap::new();
        for (base, pair) in pairs {
            let (Some(a), Some(b)) = pair else {
                return Err(Error::new(file.path(), &base, "has only one of lora_A and lora_B"));
            };
            if a.shape.len() != 2 || b.shape.len() != 2 || a.shape[0] != b.shape[1] {
                return Err(Error::new(
                    file.path(),
                    &base,
                    format!("lora_A {:?} and lora_B {:?} do not multiply", a.shape, b.shape),
                ));
            }
            let rank = a.shape[0] as usize;
            deltas.insert(base, Delta { rank, scale: scale as f32, a: to_f32(&file, a), b: to_f32(&file, b) });
        }
        Ok(Adapter { deltas })
    }

    pub fn get(&self, base: &str) -> Option<&Delta> {
        self.deltas.get(base)
    }

    /// Checks every delta against its base tensor's shape (`[out, in]`).
    pub fn check(&self, adapter_dir: &Path, shape_of: impl Fn(&str) -> Option<Vec<u64>>) -> Result<()> {
        for (name, d) in &self.deltas {
            let shape = shape_of(name).ok_or_else(|| {
                Error::new(adapter_dir, name, "the adapter changes a tensor the base checkpoint does not have")
            })?;
            let (out, inp) = (d.b.len() / d.rank, d.a.len() / d.rank);
            if shape != [out as u64, inp as u64] {
                return Err(Error::new(adapter_dir, name, format!("adapter is {out}x{inp}, base tensor is {shape:?}")));
            }
        }
        Ok(())
    }
}

impl Delta {
    /// Adds `scale · B[row, :] · A` to one row of the base weight.
    pub fn add_to_row(&self, row: usize, values: &mut [f32]) {
        let b = &self.b[row * self.rank..(row + 1) * self.rank];
        let cols = values.len();
        for (c, v) in values.iter_mut().enumerate() {
            let mut sum = 0f32;
            for (k, bk) in b.iter().enumerate() {
                sum += bk * self.a[k * cols + c];
            }
            *v += self.scale * sum;
        }
    }
}

fn to_f32(file: &SafetensorsFile, t: &TensorEntry) -> Vec<f32> {
    let mut out = vec![0f32; t.n_elements() as usize];
    t.dtype.decode(file.bytes(t), &mut out);
    out
}
