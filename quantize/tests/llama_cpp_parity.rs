//! Byte-for-byte parity with llama.cpp (`convert_hf_to_gguf.py --outtype bf16`, then
//! `llama-quantize`, then `llama-gguf-split`) on the two test checkpoints, against the hashes
//! tools/reference/quantize_goldens.py recorded from llama.cpp itself. A mismatch names the
//! tensor that differs before comparing whole files.

#[path = "support/checkpoints.rs"]
mod checkpoints;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use selene_gguf::GgufModel;
use selene_quantize::convert::{Options, convert};
use selene_quantize::ftype::FileType;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn golden() -> &'static Value {
    static GOLDEN: OnceLock<Value> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let text = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/quantize.json")).unwrap();
        serde_json::from_slice(&text).unwrap()
    })
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The checkpoint of `kind`, made once per test process, checked against the hashes of the
/// checkpoint llama.cpp converted.
fn checkpoint(kind: &'static str) -> &'static Path {
    static DIRS: OnceLock<BTreeMap<&'static str, (tempfile::TempDir, PathBuf)>> = OnceLock::new();
    let dirs = DIRS.get_or_init(|| {
        checkpoints::KINDS
            .iter()
            .map(|&k| {
                let root = tempfile::tempdir().unwrap();
                let dir = root.path().join(checkpoints::dir_name(k));
                checkpoints::make(k, &dir);
                for (file, hash) in golden()["checkpoints"][k]["files"].as_object().unwrap() {
                    let bytes = std::fs::read(dir.join(file)).unwrap();
                    assert_eq!(&sha256(&bytes), hash, "{k}/{file} differs from the checkpoint llama.cpp converted");
                }
                (k, (root, dir))
            })
            .collect()
    });
    &dirs[kind].1
}

fn options(ftype: FileType, split: Option<u64>) -> Options {
    Options { ftype, split_max_size: split, lora: None, extra_files: vec![], progress: false }
}

/// Converts and compares each tensor, then the whole file, with llama.cpp's.
fn check(kind: &'static str, ty: &str) {
    let expected = &golden()["checkpoints"][kind]["types"][ty];
    assert!(expected.is_object(), "no golden for {kind} {ty}");
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("model.gguf");
    convert(checkpoint(kind), &path, &options(FileType::from_name(ty).unwrap(), None)).unwrap();
    let model = GgufModel::open(&path).unwrap();
    let tensors = model.layout().tensors();
    let want = expected["tensors"].as_object().unwrap();
    assert_eq!(tensors.len(), want.len(), "{kind} {ty}: tensor count");
    for t in tensors {
        let name = &t.info.name;
        let w = want.get(name).unwrap_or_else(|| panic!("{kind} {ty}: llama.cpp writes no tensor {name}"));
        assert_eq!(t.info.ggml_type.name(), w[0], "{kind} {ty}: type of {name}");
        assert_eq!(sha256(&model.tensor_bytes(t).unwrap()), w[1], "{kind} {ty}: data of {name}");
    }
    assert_eq!(sha256(&std::fs::read(&path).unwrap()), expected["sha256"], "{kind} {ty}: file (metadata?)");
}

fn check_split(kind: &'static str) {
    let expected = &golden()["checkpoints"][kind]["split"];
    let ty = FileType::from_name(expected["type"].as_str().unwrap()).unwrap();
    let size = selene_gguf::parse_size(expected["max_size"].as_str().unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let paths = convert(checkpoint(kind), &out.path().join("model.gguf"), &options(ty, Some(size))).unwrap();
    let hashes: Vec<String> = paths.iter().map(|p| sha256(&std::fs::read(p).unwrap())).collect();
    let want: Vec<&str> = expected["shards"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(hashes, want, "{kind}: split shards");
    let n = paths.len();
    assert_eq!(paths[0], out.path().join(format!("model-00001-of-{n:05}.gguf")));
    GgufModel::open(&paths[0]).expect("the split set opens from its first shard");
}

macro_rules! parity {
    ($($test:ident: $kind:literal $ty:literal;)*) => {
        $(#[test] fn $test() { check($kind, $ty) })*
    };
}

// The five types of the brief on both checkpoints; every other type on the small SmolLM2 one.
parity! {
    llama31_q8_0: "llama31" "Q8_0";
    llama31_q4_0: "llama31" "Q4_0";
    llama31_q4_k_m: "llama31" "Q4_K_M";
    llama31_q5_k_m: "llama31" "Q5_K_M";
    llama31_q6_k: "llama31" "Q6_K";
    smollm2_q8_0: "smollm2" "Q8_0";
    smollm2_q4_0: "smollm2" "Q4_0";
    smollm2_q4_k_m: "smollm2" "Q4_K_M";
    smollm2_q5_k_m: "smollm2" "Q5_K_M";
    smollm2_q6_k: "smollm2" "Q6_K";
    smollm2_q4_1: "smollm2" "Q4_1";
    smollm2_q5_0: "smollm2" "Q5_0";
    smollm2_q5_1: "smollm2" "Q5_1";
    smollm2_q4_k_s: "smollm2" "Q4_K_S";
    smollm2_q5_k_s: "smollm2" "Q5_K_S";
    smollm2_f16: "smollm2" "F16";
    smollm2_bf16: "smollm2" "BF16";
    smollm2_f32: "smollm2" "F32";
}

#[test]
fn llama31_split_set() {
    check_split("llama31");
}

#[test]
fn smollm2_split_set() {
    check_split("smollm2");
}

#[test]
fn golden_records_llama_cpp_agreement() {
    // What the reference script saw: our files byte-identical and llama.cpp's logits equal.
    for kind in checkpoints::KINDS {
        let entry = &golden()["checkpoints"][kind];
        for (ty, t) in entry["types"].as_object().unwrap() {
            assert_eq!(t["ours_identical"], true, "{kind} {ty}");
        }
        for logits in [&entry["logits_single"], &entry["split"]["logits"]] {
            assert_eq!(logits["same_top_ids"], true, "{kind}");
            assert_eq!(logits["max_abs_logprob_diff"], 0.0, "{kind}");
        }
    }
}
