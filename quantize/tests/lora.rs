//! Converting a base checkpoint with `--lora` gives the same file as converting a checkpoint
//! merged beforehand (`W + alpha/r · B·A` in f32, saved as bf16).

#[path = "support/tiny.rs"]
mod tiny;

use selene_quantize::convert::{Options, convert};
use selene_quantize::ftype::FileType;
use selene_safetensors::{self as safetensors, Dtype, TensorToWrite};

const RANK: usize = 4;
const ALPHA: f32 = 8.0;
const TARGETS: [&str; 2] = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"];

fn lora_matrix(seed: usize, n: usize) -> Vec<f32> {
    (0..n).map(|j| ((j * 7919 + seed * 104729) % 1001) as f32 / 1000.0 - 0.5).collect()
}

/// (A, B) for a target of shape [out, in].
fn ab(target: usize, out: usize, inp: usize) -> (Vec<f32>, Vec<f32>) {
    (lora_matrix(2 * target, RANK * inp), lora_matrix(2 * target + 1, out * RANK))
}

fn convert_to_bytes(ckpt: &std::path::Path, lora: Option<std::path::PathBuf>) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("m.gguf");
    let opts = Options { ftype: FileType::Q8_0, split_max_size: None, lora, extra_files: vec![], progress: false };
    convert(ckpt, &path, &opts).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn merged_while_converting_equals_merged_beforehand() {
    let shape_of = |name: &str| tiny::shapes().into_iter().find(|(n, _)| n == name).unwrap().1;
    let root = tempfile::tempdir().unwrap();
    // The adapter, in f32 (PEFT saves adapters in the training dtype).
    let adapter = root.path().join("adapter");
    std::fs::create_dir_all(&adapter).unwrap();
    std::fs::write(
        adapter.join("adapter_config.json"),
        format!(
            r#"{{"r": {RANK}, "lora_alpha": {ALPHA}, "target_modules": ["q_proj", "down_proj"], "peft_type": "LORA"}}"#
        ),
    )
    .unwrap();
    let mut names = Vec::new();
    let mut data = Vec::new();
    for (t, target) in TARGETS.iter().enumerate() {
        let shape = shape_of(target);
        let (a, b) = ab(t, shape[0] as usize, shape[1] as usize);
        let module = target.strip_suffix(".weight").unwrap();
        names.push((format!("base_model.model.{module}.lora_A.weight"), vec![RANK as u64, shape[1]]));
        names.push((format!("base_model.model.{module}.lora_B.weight"), vec![shape[0], RANK as u64]));
        data.push(a.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        data.push(b.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
    }
    let tensors: Vec<TensorToWrite> = names
        .iter()
        .zip(&data)
        .map(|((name, shape), bytes)| TensorToWrite { name, dtype: Dtype::F32, shape, bytes })
        .collect();
    safetensors::write(&adapter.join("adapter_model.safetensors"), &tensors).unwrap();

    // Same folder name for both: it becomes general.name.
    let base = root.path().join("base/model");
    tiny::write(&base, |_, v| v);
    let merged = root.path().join("merged/model");
    tiny::write(&merged, |name, mut w| {
        if let Some(t) = TARGETS.iter().position(|n| *n == name) {
            let shape = shape_of(name);
            let (out, inp) = (shape[0] as usize, shape[1] as usize);
            let (a, b) = ab(t, out, inp);
            for i in 0..out {
                for c in 0..inp {
                    let mut sum = 0f32;
                    for k in 0..RANK {
                        sum += b[i * RANK + k] * a[k * inp + c];
                    }
                    w[i * inp + c] += ALPHA / RANK as f32 * sum;
                }
            }
        }
        w // tiny::write rounds to bf16
    });
    let with_lora = convert_to_bytes(&base, Some(adapter));
    assert_eq!(with_lora, convert_to_bytes(&merged, None));
    assert_ne!(with_lora, convert_to_bytes(&base, None), "the adapter changes the model");
}
