//! LoRA on the model crate's Llama with Burn's built-in adapters, and the PEFT adapter format
//! (`adapter_config.json` + `adapter_model.safetensors`) that Hugging Face PEFT, llama.cpp's
//! `convert_lora_to_gguf.py`, Ollama and `selene-quantize --lora` read.
//!
//! Burn adapts a 2-D parameter `W` (here `[out, in]`, the checkpoint orientation) as
//! `W + (alpha / r) · a·b` with `a: [out, r]` and `b: [r, in]`; PEFT writes
//! `W + (alpha / r) · B·A` with `lora_B: [out, r]` and `lora_A: [r, in]`. So `lora_B = a` and
//! `lora_A = b`, with no transposition. (Burn initializes `a` at random and `b` at zero, PEFT
//! the other way round; either way the product starts at zero.)

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Lora, Module, ModuleMapper, Param, ParamGroup};
use burn::tensor::{Tensor, TensorData};
use selene_model::Llama;
use selene_safetensors::{self as safetensors, Dtype, SafetensorsFile, TensorToWrite};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The projections LoRA can adapt, by their Hugging Face (and PEFT) names.
pub const TARGETS: &[&str] = &["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraSettings {
    pub rank: usize,
    pub alpha: f64,
    /// A subset of [`TARGETS`].
    pub targets: Vec<String>,
}

impl LoraSettings {
    /// Checks the settings; `targets` may also be `all-linear`.
    pub fn new(rank: usize, alpha: f64, targets: &[String]) -> Result<LoraSettings> {
        if rank == 0 {
            return Err(Error::setting("lora-rank", "must be at least 1"));
        }
        let targets: Vec<String> = match targets {
            [one] if one == "all-linear" => TARGETS.iter().map(|t| t.to_string()).collect(),
            _ => targets.to_vec(),
        };
        if let Some(bad) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
            return Err(Error::setting("lora-targets", format!("{bad:?} is not one of {TARGETS:?} or all-linear")));
        }
        if targets.is_empty() {
            return Err(Error::setting("lora-targets", "names no projection"));
        }
        Ok(LoraSettings { rank, alpha, targets })
    }

    /// The module path of a target in the model crate's Llama (`self_attn.q_proj`).
    fn module_of(target: &str) -> &'static str {
        if ["gate_proj", "up_proj", "down_proj"].contains(&target) { "mlp" } else { "self_attn" }
    }

    /// The Burn parameter paths adapted: `layers.{i}.self_attn.q_proj.weight`.
    fn group(&self) -> ParamGroup {
        let names: Vec<String> = self.targets.iter().map(|t| format!("{}\\.{t}", LoraSettings::module_of(t))).collect();
        ParamGroup::from_regex(format!(r"^layers\.\d+\.(?:{})\.weight$", names.join("|"))).expect("a valid pattern")
    }

    /// Attaches adapters to the targets and freezes everything else.
    pub fn apply(&self, model: Llama) -> Llama {
        model.apply_lora(Lora::new(self.rank, self.alpha).set_param_group(self.group()))
    }

    /// The `(peft tensor prefix, adapter)` of every adapted projection, layer by layer.
    fn adapters<'m>(&self, model: &'m Llama) -> Vec<(String, &'m burn::module::LoraAdapter)> {
        let mut out = Vec::new();
        for (i, layer) in model.layers.iter().enumerate() {
            for target in &self.targets {
                let linear = match target.as_str() {
                    "q_proj" => &layer.self_attn.q_proj,
                    "k_proj" => &layer.self_attn.k_proj,
                    "v_proj" => &layer.self_attn.v_proj,
                    "o_proj" => &layer.self_attn.o_proj,
                    "gate_proj" => &layer.mlp.gate_proj,
                    "up_proj" => &layer.mlp.up_proj,
                    _ => &layer.mlp.down_proj,
                };
                let adapter = linear.tensor().and_then(|w| w.adapter()).expect("every target has an adapter");
                let module = LoraSettings::module_of(target);
                out.push((format!("base_model.model.model.layers.{i}.{module}.{target}"), adapter));
            }
        }
        out
    }
}

fn host(t: Tensor<2>) -> (Vec<f32>, [usize; 2]) {
    let dims = t.dims();
    (t.into_data().try_into_vec_as::<f32>().expect("float values"), dims)
}

/// Writes the adapters of `model` as a PEFT adapter folder (f32), through a temporary folder.
pub fn save_peft(model: &Llama, settings: &LoraSettings, base: &Path, out: &Path) -> Result<()> {
    let staged = selene_atomic::AtomicDir::create(out).map_err(|e| Error::file(out, "create", e))?;
    let tmp = staged.path();
    let mut tensors: Vec<(String, Vec<u64>, Vec<u8>)> = Vec::new();
    for (prefix, adapter) in settings.adapters(model) {
        for (name, param) in [("lora_A", &adapter.b), ("lora_B", &adapter.a)] {
            let (values, dims) = host(param.val());
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push((format!("{prefix}.{name}.weight"), vec![dims[0] as u64, dims[1] as u64], bytes));
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let data: Vec<TensorToWrite> =
        tensors.iter().map(|(name, shape, bytes)| TensorToWrite { name, dtype: Dtype::F32, shape, bytes }).collect();
    safetensors::write(&tmp.join("adapter_model.safetensors"), &data)
        .map_err(|e| Error::new(e.file, e.field, e.why))?;
    let base_name = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_owned());
    let config = serde_json::json!({
        "peft_type": "LORA", "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_name.display().to_string(),
        "r": settings.rank, "lora_alpha": settings.alpha, "lora_dropout": 0.0,
        "target_modules": settings.targets, "bias": "none", "fan_in_fan_out": false,
        "use_rslora": false, "use_dora": false, "inference_mode": true, "modules_to_save": null,
        "layers_to_transform": null, "rank_pattern": {}, "alpha_pattern": {}, "revision": null,
    });
    let text = serde_json::to_string_pretty(&config).expect("JSON") + "\n";
    std::fs::write(tmp.join("adapter_config.json"), text).map_err(|e| Error::file(&tmp, "write", e))?;
    staged.publish().map_err(|e| Error::file(out, "write", e))
}

/// Sets the adapters of `model` (made with `settings`) to the values of a PEFT adapter folder,
/// keeping their parameter ids (so optimizer state still finds them).
pub fn load_peft(model: Llama, settings: &LoraSettings, dir: &Path) -> Result<Llama> {
    let config_path = dir.join("adapter_config.json");
    let config = crate::error::read_json(&config_path)?;
    let number = |k: &str| config.get(k).and_then(serde_json::Value::as_f64);
    if number("r") != Some(settings.rank as f64) || number("lora_alpha") != Some(settings.alpha) {
        return Err(Error::file(
            &config_path,
            "r",
            format!(
                "the adapter has r {:?} and lora_alpha {:?}; this run uses {} and {}",
                number("r"),
                number("lora_alpha"),
                settings.rank,
                settings.alpha
            ),
        ));
    }
    let path = dir.join("adapter_model.safetensors");
    let file = SafetensorsFile::open(&path).map_err(|e| Error::new(e.file, e.field, e.why))?;
    let mut values: BTreeMap<String, (Vec<f32>, Vec<usize>)> = BTreeMap::new();
    for t in file.tensors() {
        let mut v = vec![0f32; t.n_elements() as usize];
        t.dtype.decode(file.bytes(t), &mut v);
        values.insert(t.name.clone(), (v, t.shape.iter().map(|&d| d as usize).collect()));
    }
    // Burn path of each adapter factor → (PEFT tensor name).
    let mut wanted = BTreeMap::new();
    for (prefix, _) in settings.adapters(&model) {
        let burn = prefix.strip_prefix("base_model.model.model.").expect("built above").to_owned();
        wanted.insert(format!("{burn}.weight.lora.a"), format!("{prefix}.lora_B.weight"));
        wanted.insert(format!("{burn}.weight.lora.b"), format!("{prefix}.lora_A.weight"));
    }
    if let Some(missing) = wanted.values().find(|n| !values.contains_key(*n)) {
        return Err(Error::file(&path, missing, "missing (the adapter does not cover this run's targets)"));
    }
    if let Some(extra) = values.keys().find(|n| !wanted.values().any(|w| w == *n)) {
        return Err(Error::file(&path, extra, "is not an adapter of this run's targets"));
    }
    let mut mapper = SetFactors { path: Vec::new(), wanted, values, file: path.clone(), error: None };
    let model = model.map(&mut mapper);
    match mapper.error {
        Some(e) => Err(e),
        None => Ok(model),
    }
}

struct SetFactors {
    path: Vec<String>,
    wanted: BTreeMap<String, String>,
    values: BTreeMap<String, (Vec<f32>, Vec<usize>)>,
    file: std::path::PathBuf,
    error: Option<Error>,
}

impl ModuleMapper for SetFactors {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_owned());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(name) = self.wanted.get(&self.path.join(".")) else { return param };
        let (values, shape) = &self.values[name];
        let current = param.val();
        if current.dims().as_slice() != shape.as_slice() {
            self.error = Some(Error::file(
                &self.file,
                name,
                format!("has shape {shape:?}, the model's factor is {:?}", current.dims()),
            ));
            return param;
        }
        let (device, dtype) = (current.device(), current.dtype());
        let tensor = Tensor::<D>::from_data(TensorData::new(values.clone(), shape.clone()), (&device, dtype));
        param.map(|old| tensor.set_require_grad(old.is_require_grad()))
    }
}
