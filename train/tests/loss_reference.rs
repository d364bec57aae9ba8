//! The DPO + NLL loss against an independent computation: transformers' LlamaForCausalLM in
//! float64 with PyTorch autograd (tests/reference/dpo_reference.py), on the same tiny checkpoint,
//! adapter and batch. Per pair: summed reply log-probabilities under policy and reference, DPO
//! loss, rewards, per-sequence NLL; for the batch: both NLL normalizations, the loss, and the
//! gradient of the loss with respect to every adapter factor. All within 1e-4 relative.
//!
//! The third pair's chosen reply ends with token id 0, which TRL's `ignore_index=0` would have
//! dropped from the NLL; a boolean mask keeps it.

mod support;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use selene_model::{Llama, SafetensorsWeights};
use selene_train::batch::Layout;
use selene_train::data::TokenizedPair;
use selene_train::lora::{LoraSettings, load_peft};
use selene_train::loss::{LossSettings, NllNorm, Weights, dpo_nll, sequence_logps};
use selene_train::metrics::BatchMeans;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::checkpoints;

fn golden() -> Value {
    let path = format!("{}/tests/golden/dpo_loss.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Checks `got` against the reference and returns the relative error.
fn close(what: &str, got: f64, want: f64) -> f64 {
    let rel = (got - want).abs() / want.abs().max(1e-12);
    assert!(rel < 1e-4, "{what}: {got} vs reference {want} (relative error {rel:.2e})");
    rel
}

#[test]
fn loss_matches_pytorch_reference() {
    let g = golden();
    let dir = tempfile::tempdir().unwrap();
    checkpoints::make("loss", dir.path());
    let sha = format!("{:x}", Sha256::digest(std::fs::read(dir.path().join("model.safetensors")).unwrap()));
    assert_eq!(sha, g["weights_sha256"].as_str().unwrap(), "the checkpoint generator changed: regenerate the goldens");

    let device = Device::flex().autodiff();
    let weights = SafetensorsWeights::open(dir.path()).unwrap();
    let base = Llama::load_trainable(&weights, 64, &device).unwrap();
    let reference = base.valid();
    let (rank, alpha, targets) = checkpoints::LOSS_LORA;
    let lora = LoraSettings::new(rank, alpha, &targets.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap();
    let policy = load_peft(lora.apply(base), &lora, &dir.path().join("adapter")).unwrap();

    let pairs: Vec<TokenizedPair> = g["batch"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| TokenizedPair {
            line: i + 1,
            prompt: ids(&p["prompt"]),
            chosen: ids(&p["chosen"]),
            rejected: ids(&p["rejected"]),
        })
        .collect();
    assert_eq!(
        pairs,
        checkpoints::loss_batch()
            .into_iter()
            .enumerate()
            .map(|(i, (p, c, r))| TokenizedPair { line: i + 1, prompt: p, chosen: c, rejected: r })
            .collect::<Vec<_>>()
    );
    let layout = Layout::new(&pairs.iter().collect::<Vec<_>>(), 0);
    let reference_logps: Vec<f32> = sequence_logps(&reference, &layout.on(&device.clone().without_autodiff()))
        .into_data()
        .try_into_vec_as()
        .unwrap();
    let batch = layout.on(&device);
    let settings = LossSettings {
        beta: g["beta"].as_f64().unwrap(),
        alpha: g["alpha"].as_f64().unwrap(),
        nll_norm: NllNorm::Tokens,
    };
    let weights = Weights { batch_pairs: 3, batch_chosen_tokens: pairs.iter().map(|p| p.chosen.len()).sum() };
    let (loss, stats) =
        dpo_nll(sequence_logps(&policy, &batch), &reference_logps, &batch.chosen_tokens, &weights, &settings);

    let mut worst = 0f64;
    let mut close = |what: &str, got: f64, want: f64| worst = worst.max(close(what, got, want));
    for (i, (s, want)) in stats.iter().zip(g["pairs"].as_array().unwrap()).enumerate() {
        let w = |k: &str| want[k].as_f64().unwrap();
        close(&format!("pair {i} logps/chosen"), s.policy_chosen, w("policy_chosen"));
        close(&format!("pair {i} logps/rejected"), s.policy_rejected, w("policy_rejected"));
        close(&format!("pair {i} reference chosen"), s.reference_chosen, w("reference_chosen"));
        close(&format!("pair {i} reference rejected"), s.reference_rejected, w("reference_rejected"));
        close(&format!("pair {i} dpo loss"), s.dpo_loss, w("dpo_loss"));
        close(&format!("pair {i} reward chosen"), s.reward_chosen, w("reward_chosen"));
        close(&format!("pair {i} reward rejected"), s.reward_rejected, w("reward_rejected"));
        close(&format!("pair {i} nll"), -s.policy_chosen / s.chosen_tokens as f64, w("nll"));
    }
    let means = BatchMeans::of(&stats, &settings);
    close("dpo_loss", means.dpo_loss, g["dpo_loss"].as_f64().unwrap());
    close("nll_loss (token mean)", means.nll_loss, g["nll_tokens"].as_f64().unwrap());
    close("loss", means.loss, g["loss"].as_f64().unwrap());
    let per_sequence = BatchMeans::of(&stats, &LossSettings { nll_norm: NllNorm::Sequences, ..settings });
    close("nll_loss (sequence mean)", per_sequence.nll_loss, g["nll_sequences"].as_f64().unwrap());
    let loss_value: f32 = loss.clone().into_scalar();
    close("loss tensor", f64::from(loss_value), g["loss"].as_f64().unwrap());

    eprintln!("largest relative error of the loss, rewards and log-probabilities: {worst:.2e}");

    // Gradients of the loss tensor, which is what training steps on.
    let grads = GradientsParams::from_grads(loss.backward(), &policy);
    let (mut checked, mut worst_grad) = (0, 0f64);
    for (i, layer) in policy.layers.iter().enumerate() {
        for (name, linear, module) in [
            ("q_proj", &layer.self_attn.q_proj, "self_attn"),
            ("v_proj", &layer.self_attn.v_proj, "self_attn"),
            ("down_proj", &layer.mlp.down_proj, "mlp"),
        ] {
            let adapter = linear.tensor().and_then(|w| w.adapter()).unwrap();
            let prefix = format!("base_model.model.model.layers.{i}.{module}.{name}");
            for (factor, param) in [("lora_A", &adapter.b), ("lora_B", &adapter.a)] {
                let got: Vec<f32> = grads.get::<2>(param.id).unwrap().into_data().try_into_vec_as().unwrap();
                let want: Vec<f64> = g["grads"][format!("{prefix}.{factor}.weight")]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                let diff: f64 = got.iter().zip(&want).map(|(&a, b)| (f64::from(a) - b).powi(2)).sum::<f64>().sqrt();
                let norm: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
                assert!(diff / norm < 1e-4, "{prefix}.{factor}: gradient relative error {:.2e}", diff / norm);
                worst_grad = worst_grad.max(diff / norm);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 12);
    eprintln!("largest relative error of an adapter gradient (L2): {worst_grad:.2e}");
}
