//! Broken checkpoints give an error naming the file and the field at fault, and leave no output
//! file (not even a temporary one) behind.

#[path = "support/tiny.rs"]
mod tiny;

use std::path::{Path, PathBuf};

use selene_quantize::convert::{Options, convert};
use selene_quantize::ftype::FileType;

/// Converts `ckpt` into an empty folder; returns the error and what the folder holds afterwards.
fn fails(ckpt: &Path) -> (selene_quantize::Error, Vec<PathBuf>) {
    let out = tempfile::tempdir().unwrap();
    let opts =
        Options { ftype: FileType::Q8_0, split_max_size: None, lora: None, extra_files: vec![], progress: false };
    let err = convert(ckpt, &out.path().join("model.gguf"), &opts).expect_err("conversion must fail");
    let left: Vec<PathBuf> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().path()).collect();
    (err, left)
}

fn checkpoint(edit: impl Fn(&str, Vec<f32>) -> Vec<f32>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    tiny::write(dir.path(), edit);
    dir
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(path, config.to_string()).unwrap();
}

#[test]
fn the_tiny_checkpoint_converts() {
    let ckpt = checkpoint(|_, v| v);
    let out = tempfile::tempdir().unwrap();
    let opts =
        Options { ftype: FileType::Q8_0, split_max_size: None, lora: None, extra_files: vec![], progress: false };
    let paths = convert(ckpt.path(), &out.path().join("model.gguf"), &opts).unwrap();
    assert_eq!(paths, [out.path().join("model.gguf")]);
}

#[test]
fn missing_config_key() {
    let ckpt = checkpoint(|_, v| v);
    edit_config(ckpt.path(), |c| {
        c.as_object_mut().unwrap().remove("num_attention_heads");
    });
    let (err, left) = fails(ckpt.path());
    assert!(err.file.ends_with("config.json"), "{err}");
    assert_eq!((err.field.as_str(), err.why.as_str()), ("num_attention_heads", "missing"));
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn shape_mismatch() {
    let ckpt = checkpoint(|_, v| v);
    edit_config(ckpt.path(), |c| c["intermediate_size"] = 256.into());
    let (err, left) = fails(ckpt.path());
    assert!(err.file.ends_with("model.safetensors"), "{err}");
    assert_eq!(err.field, "model.layers.0.mlp.down_proj.weight");
    assert!(err.why.contains("shape [64, 128], but config.json implies [64, 256]"), "{err}");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn unsupported_architecture() {
    let ckpt = checkpoint(|_, v| v);
    edit_config(ckpt.path(), |c| c["architectures"] = serde_json::json!(["Qwen2ForCausalLM"]));
    let (err, left) = fails(ckpt.path());
    assert_eq!(err.field, "architectures");
    assert!(err.why.contains("Qwen2ForCausalLM is not supported"), "{err}");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn nan_and_inf_weights() {
    for (bad, shown) in [(f32::NAN, "NaN"), (f32::NEG_INFINITY, "-inf")] {
        // In up_proj, the last tensor written, so that the output file exists when it fails.
        let ckpt = checkpoint(|name, mut v| {
            if name.ends_with("up_proj.weight") {
                v[3 * 64 + 5] = bad;
            }
            v
        });
        let (err, left) = fails(ckpt.path());
        assert_eq!(err.field, "model.layers.0.mlp.up_proj.weight");
        assert!(err.why.contains(&format!("row 3, column 5 is {shown}")), "{err}");
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn truncated_safetensors() {
    let ckpt = checkpoint(|_, v| v);
    let file = ckpt.path().join("model.safetensors");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(len - 1000).unwrap();
    let (err, left) = fails(ckpt.path());
    assert!(err.file.ends_with("model.safetensors"), "{err}");
    assert!(err.why.contains("truncated"), "{err}");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn missing_tensor_and_missing_shard() {
    let ckpt = checkpoint(|_, v| v);
    // An index naming a shard that is not there.
    std::fs::write(
        ckpt.path().join("model.safetensors.index.json"),
        r#"{"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let (err, left) = fails(ckpt.path());
    assert!(err.file.ends_with("model-00002-of-00002.safetensors"), "{err}");
    assert!(err.why.contains("missing shard"), "{err}");
    assert!(left.is_empty());
    // No lm_head in an untied model.
    std::fs::remove_file(ckpt.path().join("model.safetensors.index.json")).unwrap();
    let shapes = tiny::shapes();
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .enumerate()
        .map(|(i, (_, s))| tiny::bf16(&tiny::values(i, s.iter().product::<u64>() as usize)))
        .collect();
    let tensors: Vec<_> = shapes
        .iter()
        .zip(&data)
        .filter(|((n, _), _)| n != "lm_head.weight")
        .map(|((name, shape), bytes)| selene_safetensors::TensorToWrite {
            name,
            dtype: selene_safetensors::Dtype::BF16,
            shape,
            bytes,
        })
        .collect();
    selene_safetensors::write(&ckpt.path().join("model.safetensors"), &tensors).unwrap();
    let (err, left) = fails(ckpt.path());
    assert_eq!(err.field, "lm_head.weight");
    assert!(left.is_empty());
}
