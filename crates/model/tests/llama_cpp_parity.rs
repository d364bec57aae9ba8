//! SmolLM2-135M-Instruct Q4_1 on Burn against llama.cpp on the same file: teacher-forced
//! next-token distributions over 800+ positions of varied text (greedy chat continuations are
//! checked by the runtime's tests).
//! The goldens come from llama.cpp itself (tools/reference/runtime_goldens.py).
//!
//! llama.cpp rounds every matmul input to 8 bits per block when the weights are quantized (Q8_1
//! blocks for Q4_1), and that makes its own results depend on how it happens to be run: rounding
//! to 8 bits turns a 0.03% difference upstream (one token at a time instead of one batch, which
//! changes its attention kernel) into a 0.5% difference at the first layer and 2.4% at the last,
//! as large as the rounding itself (the golden's `layer_differences`). On a small model whose top
//! two tokens are often within 0.1 nats, llama.cpp then agrees with itself on the top token at
//! only ~96% of positions, so no other implementation can be held to 99% there. The distributions
//! are held to three references, all from llama.cpp: on the same weights dequantized to F32
//! (plain f32 arithmetic: 99% top-1 agreement and KL <= 0.005 required); on the Q4_1 file as is
//! (KL <= 0.005, and top-1 agreement at least llama.cpp's own self-agreement); and on the Q4_1
//! file at the positions where llama.cpp's top token depends neither on how it is run nor on the
//! rounding: the same under all six of its equivalent settings (batching, flash attention, KV
//! cache type, threads) and in its own F32 run, chosen by llama.cpp's numbers alone (99% top-1
//! agreement required). All six settings share the 8-bit rounding, so stability across them alone
//! still leaves positions the rounding decides: at 8 of the 781 positions stable across them,
//! llama.cpp on the F32 weights picks another top token than on the Q4_1 file (98.98%), and so
//! does any implementation that does not round as llama.cpp does. Rounding as it does is not
//! enough either: tools/reference/rounding_sensitivity.py recomputes the first layer with
//! llama.cpp's rounding (Q8_1 inputs, f16 KV cache) and matches its output to 5e-7 at the
//! positions where every input rounds the same way, but a relative 1e-7 of noise on the inputs
//! moves that output by 0.5%, so float summation order alone decides the rest (from position 13
//! of the first text on; recorded in rounding_sensitivity.txt). The reference path (every weight
//! expanded to f32, no rounding) reaches 96.6% top-1 on the Q4_1 file; the CPU engine, which
//! rounds every product's input to 8 bits as llama.cpp does but sums in its own order, 96.3%.
//! On the F32 weights the engine rounds nothing and must agree with llama.cpp's F32 run almost
//! everywhere.

#[path = "support/parity.rs"]
mod parity;

use burn::tensor::Device;
use parity::{Agreement, compare, ids};
use selene_gguf::keys::general;
use selene_gguf::{GgmlType, GgufModel, ModelWriter, Value as Meta, codec, tensor_info};
use selene_kernels::Compute;
use selene_model::Llama;
use serde_json::Value;

fn golden(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The model as the runtime loads it on `device` ([`Compute::of`]), or as the f32 reference
/// ([`Compute::Tensors`]: every weight expanded, Burn's own operations).
fn load(device: &Device, compute: Compute) -> Llama {
    Llama::from_gguf(&GgufModel::open(selene_fixtures::smollm2()).unwrap(), 1024, device, compute).unwrap()
}

/// Positions of `seq` where llama.cpp's top token on the Q4_1 file changes with its settings
/// (the golden's `unstable_positions`) or differs from its top token on the F32 weights.
fn unstable_positions(seq: &Value) -> Vec<usize> {
    let top = |reference: &str, i: usize| seq[reference]["top_ids"][i][0].as_u64();
    let by_settings = ids(&seq["unstable_positions"]).into_iter().map(|p| p as usize);
    let by_rounding =
        (0..seq["ids"].as_array().unwrap().len()).filter(|&i| top("reference", i) != top("f32_reference", i));
    let mut positions: Vec<usize> = by_settings.chain(by_rounding).collect();
    positions.sort_unstable();
    positions.dedup();
    positions
}

fn check_logits(device: Device, compute: Compute) {
    let llama = load(&device, compute);
    let g = golden("smollm2_logits.json");
    let (mut exact, mut as_is, mut stable) = (Agreement::default(), Agreement::default(), Agreement::default());
    for seq in g["sequences"].as_array().unwrap() {
        let tokens = ids(&seq["ids"]);
        stable.skip = unstable_positions(seq);
        let against = &mut [
            (&seq["f32_reference"], &mut exact),
            (&seq["reference"], &mut as_is),
            (&seq["reference"], &mut stable),
        ];
        compare(&llama, &device, &tokens, tokens.len(), against);
    }
    let own = &g["self_agreement"];
    let (own_top1, own_kl) = (own["top1"].as_f64().unwrap(), own["mean_kl"].as_f64().unwrap());
    for (name, a) in [
        ("llama.cpp on the F32 weights", &exact),
        ("llama.cpp on the Q4_1 file", &as_is),
        ("llama.cpp on the Q4_1 file where its top token is stable and not decided by rounding", &stable),
    ] {
        println!("{device:?} vs {name}: {a}");
    }
    println!("llama.cpp vs itself (batch vs one token at a time): top-1 {:.2}%, mean KL {own_kl:.6}", 100.0 * own_top1);
    println!("llama.cpp vs itself, each layer's output: {}", g["layer_differences"]);
    assert!(exact.positions >= 512);
    assert!(exact.top1() >= 0.99, "top-1 agreement with f32 llama.cpp {}", exact.top1());
    assert!(exact.mean_kl() <= 0.005, "mean KL to f32 llama.cpp {}", exact.mean_kl());
    assert!(as_is.mean_kl() <= 0.005, "mean KL to llama.cpp {}", as_is.mean_kl());
    assert!(as_is.top1() >= own_top1 - 0.01, "top-1 agreement {} below llama.cpp's own {own_top1}", as_is.top1());
    assert!(stable.positions >= 512, "only {} positions where llama.cpp's top token is stable", stable.positions);
    assert!(stable.top1() >= 0.99, "top-1 agreement where llama.cpp's top token is stable {}", stable.top1());
}

#[test]
fn logits_match_llama_cpp_on_cpu() {
    check_logits(Device::flex(), Compute::Tensors);
}

#[test]
fn logits_match_llama_cpp_on_wgpu() {
    let lavapipe = selene_kernels::software_device();
    check_logits(lavapipe.clone(), Compute::of(&lavapipe));
}

/// The demo model with every tensor dequantized to F32, as tools/reference/runtime_goldens.py
/// made the file of the golden's `f32_reference` with PyPI gguf.
fn f32_copy(dir: &std::path::Path) -> GgufModel {
    let model = GgufModel::open(selene_fixtures::smollm2()).unwrap();
    let mut metadata = model.metadata().clone();
    metadata.set(general::FILE_TYPE, Meta::U32(0));
    let tensors = model.layout().tensors();
    let infos = tensors.iter().map(|t| tensor_info(&t.info.name, &t.info.shape(), GgmlType::F32)).collect();
    let path = dir.join("smollm2-f32.gguf");
    let mut writer = ModelWriter::create(&path, metadata, infos, None).unwrap();
    for t in tensors {
        let values =
            codec::dequantize_to_vec(t.info.ggml_type, &model.tensor_bytes(t).unwrap(), t.info.n_elements() as usize)
                .unwrap();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        writer.write_tensor(&bytes).unwrap();
    }
    writer.finish().unwrap();
    GgufModel::open(path).unwrap()
}

/// The CPU engine: on the Q4_1 file at least as close to llama.cpp as llama.cpp is to itself;
/// on the F32 weights, where neither rounds a product's input, nearly the same distributions.
#[test]
fn the_cpu_engine_agrees_with_llama_cpp() {
    let flex = Device::flex();
    let engine = Compute::of(&flex);
    assert!(matches!(engine, Compute::Host { .. }));
    let g = golden("smollm2_logits.json");
    let dir = tempfile::tempdir().unwrap();
    let on_f32 = Llama::from_gguf(&f32_copy(dir.path()), 1024, &flex, engine).unwrap();
    let on_q4_1 = load(&flex, engine);
    let (mut exact, mut as_is) = (Agreement::default(), Agreement::default());
    for seq in g["sequences"].as_array().unwrap() {
        let tokens = ids(&seq["ids"]);
        compare(&on_f32, &flex, &tokens, tokens.len(), &mut [(&seq["f32_reference"], &mut exact)]);
        compare(&on_q4_1, &flex, &tokens, tokens.len(), &mut [(&seq["reference"], &mut as_is)]);
    }
    let own_top1 = g["self_agreement"]["top1"].as_f64().unwrap();
    println!("CPU engine on the F32 weights vs llama.cpp on them: {exact}");
    println!("CPU engine on the Q4_1 file vs llama.cpp on it: {as_is} (llama.cpp vs itself: {:.2}%)", 100.0 * own_top1);
    assert!(exact.positions >= 512 && as_is.positions >= 512);
    assert!(exact.top1() >= 0.995, "top-1 agreement on the F32 weights {}", exact.top1());
    assert!(exact.mean_kl() <= 1e-4, "mean KL on the F32 weights {}", exact.mean_kl());
    assert!(as_is.top1() >= own_top1, "top-1 agreement {} below llama.cpp's own {own_top1}", as_is.top1());
    assert!(as_is.mean_kl() <= 0.005, "mean KL to llama.cpp {}", as_is.mean_kl());
}
