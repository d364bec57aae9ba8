//! Selene Mini's architecture without its weights: a Llama-3.1-shaped model (Llama 3.1's
//! 128256-token vocabulary, grouped-query attention 4:1 over two key/value heads, llama3 RoPE
//! scaling through `rope_freqs`, 4 layers) with designed random weights, quantized to Q8_0 and
//! Q4_K_M. Teacher-forced next-token distributions over 702 positions of varied text (the first
//! 512 on lavapipe) must agree with llama.cpp's on the same files.
//!
//! The goldens come from llama.cpp itself (tools/reference/llama31_goldens.py: its converter and
//! quantizer made the files, libllama computed the distributions). CI rebuilds the checkpoint
//! (quantize/tests/support/parity_checkpoint.rs) and converts it with selene-quantize, which must
//! give exactly llama.cpp's bytes (sha256 in the golden), so llama.cpp's numbers are for this very
//! file. How the weights make the comparison meaningful (peaked distributions decided by
//! attention, so that agreement is not a coin toss between near-tied tokens) is in that file's
//! module comment; the last test shows the comparison fails without llama3 scaling.

#[path = "support/parity.rs"]
mod parity;
#[path = "../../../quantize/tests/support/parity_checkpoint.rs"]
mod parity_checkpoint;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use burn::tensor::Device;
use parity::{Agreement, compare, ids};
use selene_gguf::{GgufModel, ModelWriter};
use selene_kernels::Compute;
use selene_model::Llama;
use selene_quantize::convert::{Options, convert};
use selene_quantize::ftype::FileType;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Positions per forward pass: the logits of a 128256-token vocabulary are 0.5 MB a position.
const CHUNK: usize = 256;

/// Positions compared on lavapipe, which runs the GGUF-block kernels ~100 times slower than Flex
/// runs f32 matrix products (~9 CPU-minutes for all 702 positions): the first 512, two chunks of
/// one shape (one set of shaders to compile).
const LAVAPIPE_POSITIONS: usize = 2 * CHUNK;

fn golden() -> &'static Value {
    static GOLDEN: OnceLock<Value> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/llama31_logits.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    })
}

fn sha256(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

/// The checkpoint, made once per test process and checked against the one llama.cpp converted.
fn checkpoint() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(parity_checkpoint::NAME);
        parity_checkpoint::make(&dir);
        for (file, hash) in golden()["checkpoint"]["files"].as_object().unwrap() {
            assert_eq!(&sha256(&dir.join(file)), hash, "{file} differs from the checkpoint llama.cpp converted");
        }
        (root, dir)
    })
    .1
}

/// The checkpoint converted to `ty` by selene-quantize, once per test process: byte for byte the
/// file llama.cpp made and computed the goldens on.
fn gguf(ty: &'static str) -> Arc<GgufModel> {
    static FILES: OnceLock<tempfile::TempDir> = OnceLock::new();
    static MODELS: [OnceLock<Arc<GgufModel>>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = ["Q8_0", "Q4_K_M"].iter().position(|&t| t == ty).unwrap();
    MODELS[slot]
        .get_or_init(|| {
            let dir = FILES.get_or_init(|| tempfile::tempdir().unwrap());
            let path = dir.path().join(format!("{ty}.gguf"));
            let options = Options {
                ftype: FileType::from_name(ty).unwrap(),
                split_max_size: None,
                lora: None,
                extra_files: vec![],
                progress: false,
            };
            convert(checkpoint(), &path, &options).unwrap();
            assert_eq!(sha256(&path), golden()["types"][ty]["sha256"], "{ty}: not the file llama.cpp made");
            Arc::new(GgufModel::open(&path).unwrap())
        })
        .clone()
}

/// Agreement over the first `positions` positions of the golden's text (all when it is longer).
fn agreement(model: &GgufModel, ty: &str, device: &Device, compute: Compute, positions: usize) -> (Llama, Agreement) {
    let mut tokens = ids(&golden()["ids"]);
    tokens.truncate(positions);
    let llama = Llama::from_gguf(model, tokens.len(), device, compute).unwrap();
    let mut a = Agreement::default();
    compare(&llama, device, &tokens, CHUNK, &mut [(&golden()["types"][ty]["reference"], &mut a)]);
    (llama, a)
}

fn check(ty: &'static str, device: Device, compute: Compute, positions: usize) {
    let (llama, a) = agreement(&gguf(ty), ty, &device, compute, positions);
    let config = llama.config();
    assert_eq!((config.vocab_size, config.num_heads, config.num_kv_heads), (128256, 8, 2));
    assert!(config.rope.freq_factors.is_some(), "no rope_freqs in the file");
    let expected = &golden()["types"][ty];
    println!("{ty} on {device:?} ({compute:?}) vs llama.cpp: {a}");
    println!(
        "llama.cpp on {ty}: {} ; vs itself one token at a time: {}",
        expected["summary"], expected["self_agreement"]
    );
    assert!(a.positions >= 512);
    assert!(a.top1() >= 0.99, "{ty}: top-1 agreement with llama.cpp {}", a.top1());
    assert!(a.mean_kl() <= 0.005, "{ty}: mean KL to llama.cpp {}", a.mean_kl());
}

#[test]
fn q8_0_matches_llama_cpp_on_cpu() {
    check("Q8_0", Device::flex(), Compute::Tensors, usize::MAX);
}

#[test]
fn q8_0_matches_llama_cpp_on_the_cpu_engine() {
    let flex = Device::flex();
    check("Q8_0", flex.clone(), Compute::of(&flex), usize::MAX);
}

#[test]
fn q4_k_m_matches_llama_cpp_on_the_cpu_engine() {
    let flex = Device::flex();
    check("Q4_K_M", flex.clone(), Compute::of(&flex), usize::MAX);
}

#[test]
fn q8_0_matches_llama_cpp_on_wgpu() {
    let lavapipe = selene_kernels::software_device();
    check("Q8_0", lavapipe.clone(), Compute::of(&lavapipe), LAVAPIPE_POSITIONS);
}

#[test]
fn q4_k_m_matches_llama_cpp_on_cpu() {
    check("Q4_K_M", Device::flex(), Compute::Tensors, usize::MAX);
}

#[test]
fn q4_k_m_matches_llama_cpp_on_wgpu() {
    let lavapipe = selene_kernels::software_device();
    check("Q4_K_M", lavapipe.clone(), Compute::of(&lavapipe), LAVAPIPE_POSITIONS);
}

/// The Q8_0 file with its `rope_freqs` tensor left out, as a converter that ignored llama3 RoPE
/// scaling would have written it.
fn without_rope_freqs(dir: &Path) -> GgufModel {
    let model = gguf("Q8_0");
    let layout = model.layout();
    let tensors = layout.tensors().iter().map(|t| t.info.clone()).filter(|t| t.name != "rope_freqs.weight").collect();
    let path = dir.join("without-rope-freqs.gguf");
    let mut writer = ModelWriter::create(&path, layout.metadata().clone(), tensors, None).unwrap();
    while let Some(name) = writer.next_tensor().map(|t| t.name.clone()) {
        writer.write_tensor(&model.tensor_bytes(model.tensor(&name).unwrap()).unwrap()).unwrap();
    }
    writer.finish().unwrap();
    GgufModel::open(path).unwrap()
}

#[test]
fn the_comparison_fails_without_rope_freqs() {
    // The same weights and comparison, minus the one part of the architecture that only acts
    // on slow rotary pairs: the bar must catch it.
    let dir = tempfile::tempdir().unwrap();
    let (llama, a) = agreement(&without_rope_freqs(dir.path()), "Q8_0", &Device::flex(), Compute::Tensors, usize::MAX);
    assert!(llama.config().rope.freq_factors.is_none());
    println!("Q8_0 on the CPU without rope_freqs vs llama.cpp: {a}");
    assert!(a.top1() < 0.99 || a.mean_kl() > 0.005, "without rope_freqs: {a}");
}
