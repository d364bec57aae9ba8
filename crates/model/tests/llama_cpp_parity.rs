//! SmolLM2-135M-Instruct Q4_1 on Burn against llama.cpp on the same file: teacher-forced
//! next-token distributions over 800+ positions of varied text (greedy chat continuations are
//! checked by the runtime's tests).
//! The goldens come from llama.cpp itself (tools/reference/runtime_goldens.py).
//!
//! llama.cpp rounds every matmul input to 8 bits per block when the weights are quantized, and on
//! this small model that makes its results depend on batch shape: run one token at a time instead
//! of as a batch, llama.cpp agrees with itself on the top token only ~96% of the time. So the
//! distributions are held to two references: llama.cpp on the same weights dequantized to F32
//! (plain f32 arithmetic, where 99% top-1 agreement is required), and llama.cpp on the Q4_1 file
//! as is (where agreement must be at least llama.cpp's own self-agreement).

use std::sync::Arc;

use burn::tensor::{Device, DeviceKind, Tensor};
use selene_gguf::GgufModel;
use selene_model::{GgufWeights, Llama, Logits};
use serde_json::Value;

fn golden(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// The model as the runtime loads it: block-quantized weights stay quantized on a CubeCL device
/// (wgpu), and are expanded on Flex, which has no quantized matrix product.
fn load(device: &Device, keep_quantized: bool) -> Llama {
    let model = Arc::new(GgufModel::open(selene_fixtures::smollm2()).unwrap());
    Llama::load(&GgufWeights::new(model).unwrap().keep_quantized(keep_quantized), 1024, device).unwrap()
}

fn rows(logits: Tensor<2>) -> Vec<Vec<f32>> {
    let [n, vocab] = logits.dims();
    let flat: Vec<f32> = logits.into_data().try_to_vec().unwrap();
    (0..n).map(|i| flat[i * vocab..(i + 1) * vocab].to_vec()).collect()
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max + row.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
    row.iter().map(|&x| x as f64 - lse).collect()
}

/// KL(llama.cpp || ours) over llama.cpp's top-K tokens plus the remaining mass as one outcome.
fn kl_top_k(ref_ids: &[u32], ref_lp: &[f64], ours: &[f64]) -> f64 {
    let mut kl = 0.0;
    let (mut p_top, mut q_top) = (0.0, 0.0);
    for (&id, &lp) in ref_ids.iter().zip(ref_lp) {
        let p = lp.exp();
        kl += p * (lp - ours[id as usize]);
        p_top += p;
        q_top += ours[id as usize].exp();
    }
    let (p_rest, q_rest) = ((1.0 - p_top).max(1e-12), (1.0 - q_top).max(1e-12));
    kl + p_rest * (p_rest / q_rest).ln()
}

struct Agreement {
    positions: usize,
    top1: f64,
    mean_kl: f64,
    max_kl: f64,
}

/// Our distributions against one of the goldens' references, position by position.
fn agreement(ours: &[Vec<Vec<f64>>], g: &Value, reference: &str) -> Agreement {
    let (mut positions, mut agree, mut kl_sum, mut max_kl) = (0usize, 0usize, 0f64, 0f64);
    for (seq, ours) in g["sequences"].as_array().unwrap().iter().zip(ours) {
        let r = &seq[reference];
        for (i, ours) in ours.iter().enumerate() {
            let ref_ids = ids(&r["top_ids"][i]);
            let ref_lp: Vec<f64> =
                r["top_logprobs"][i].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let argmax = (0..ours.len()).max_by(|&a, &b| ours[a].total_cmp(&ours[b])).unwrap() as u32;
            // A tie at the top in llama.cpp's own numbers is not a disagreement.
            let tied = (ref_lp[0] - ref_lp[1]).abs() < 1e-6 && argmax == ref_ids[1];
            agree += usize::from(argmax == ref_ids[0] || tied);
            let kl = kl_top_k(&ref_ids, &ref_lp, ours);
            kl_sum += kl;
            max_kl = max_kl.max(kl);
            positions += 1;
        }
    }
    Agreement { positions, top1: agree as f64 / positions as f64, mean_kl: kl_sum / positions as f64, max_kl }
}

fn check_logits(device: Device, keep_quantized: bool) {
    let llama = load(&device, keep_quantized);
    let g = golden("smollm2_logits.json");
    let ours: Vec<Vec<Vec<f64>>> = g["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seq| {
            let mut cache = llama.new_cache(&device);
            rows(llama.forward(&ids(&seq["ids"]), &mut cache, Logits::All).unwrap())
                .iter()
                .map(|r| log_softmax(r))
                .collect()
        })
        .collect();
    let exact = agreement(&ours, &g, "f32_reference");
    let as_is = agreement(&ours, &g, "reference");
    let own = &g["self_agreement"];
    let (own_top1, own_kl) = (own["top1"].as_f64().unwrap(), own["mean_kl"].as_f64().unwrap());
    for (name, a) in [("llama.cpp on the F32 weights", &exact), ("llama.cpp on the Q4_1 file", &as_is)] {
        println!(
            "{device:?} vs {name}: {} positions, top-1 agreement {:.2}%, mean KL {:.6}, max KL {:.4}",
            a.positions,
            100.0 * a.top1,
            a.mean_kl,
            a.max_kl
        );
    }
    println!("llama.cpp vs itself (batch vs one token at a time): top-1 {:.2}%, mean KL {own_kl:.6}", 100.0 * own_top1);
    assert!(exact.positions >= 512);
    assert!(exact.top1 >= 0.99, "top-1 agreement with f32 llama.cpp {}", exact.top1);
    assert!(exact.mean_kl <= 0.005, "mean KL to f32 llama.cpp {}", exact.mean_kl);
    assert!(as_is.mean_kl <= 0.005, "mean KL to llama.cpp {}", as_is.mean_kl);
    assert!(as_is.top1 >= own_top1 - 0.01, "top-1 agreement {} below llama.cpp's own {own_top1}", as_is.top1);
}

#[test]
fn logits_match_llama_cpp_on_cpu() {
    check_logits(Device::flex(), false);
}

#[test]
fn logits_match_llama_cpp_on_wgpu() {
    check_logits(Device::wgpu(DeviceKind::Cpu), true);
}
