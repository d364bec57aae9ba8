//! DPO + NLL ("RPO", the paper's eq. 1):
//!
//! ```text
//! Δ_i  = (π_c,i − ref_c,i) − (π_r,i − ref_r,i)        (sums of reply-token log-probabilities)
//! L    = mean_i softplus(−β·Δ_i)  +  α · NLL(chosen replies)
//! ```
//!
//! with rewards `β(π − ref)` as TRL reports them. The NLL is a mean over chosen reply tokens,
//! either over all the tokens of the optimizer batch ([`NllNorm::Tokens`], TRL's token mean,
//! made independent of how the batch is split) or per sequence then over pairs
//! ([`NllNorm::Sequences`], the RPO paper and OpenRLHF).
//!
//! Each micro-batch's loss is its share of the whole batch's loss: the DPO sum is divided by the
//! pairs of the batch and the NLL by its normalizer, both known before the step starts. Gradients
//! summed over micro-batches and devices are therefore exactly the full batch's, whatever the
//! accumulation and data-parallel split.

use burn::tensor::activation::{log_softmax, softplus};
use burn::tensor::{DType, FloatDType, Tensor, TensorData};
use selene_model::Llama;
use serde::{Deserialize, Serialize};

use crate::batch::Batch;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NllNorm {
    /// Mean over all chosen reply tokens of the optimizer batch.
    Tokens,
    /// Mean over each chosen reply's tokens, then over pairs.
    Sequences,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossSettings {
    pub beta: f64,
    /// Weight of the NLL term.
    pub alpha: f64,
    pub nll_norm: NllNorm,
}

/// How one micro-batch's pairs weigh in the optimizer batch's loss.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    /// Pairs in the optimizer batch.
    pub batch_pairs: usize,
    /// Chosen reply tokens in the optimizer batch.
    pub batch_chosen_tokens: usize,
}

impl Weights {
    /// The NLL weight of each pair's summed chosen log-probability.
    fn nll(&self, norm: NllNorm, chosen_tokens: &[usize]) -> Vec<f32> {
        chosen_tokens
            .iter()
            .map(|&c| match norm {
                NllNorm::Tokens => 1.0 / self.batch_chosen_tokens as f32,
                NllNorm::Sequences => 1.0 / (c * self.batch_pairs) as f32,
            })
            .collect()
    }
}

/// The summed log-probability of each sequence's reply tokens, `[2P]` in f32 (logits are cast
/// to f32 before the softmax whatever the model computes in). Logits are computed only for the
/// rows that predict reply tokens.
pub fn sequence_logps(model: &Llama, batch: &Batch) -> Tensor<1> {
    let hidden = model.hidden_batch(batch.tokens.clone());
    let [s, l, h] = hidden.dims();
    let rows = hidden.reshape([s * l, h]).select(0, batch.rows.clone());
    let mut logits = model.head(rows);
    if logits.dtype() != DType::F32 {
        logits = logits.cast(FloatDType::F32);
    }
    let picked = log_softmax(logits, 1).gather(1, batch.targets.clone().unsqueeze_dim(1));
    batch.membership.clone().matmul(picked).reshape([s])
}

/// Per-pair numbers of one micro-batch, on the host (f64).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PairStats {
    pub policy_chosen: f64,
    pub policy_rejected: f64,
    pub reference_chosen: f64,
    pub reference_rejected: f64,
    pub chosen_tokens: usize,
    /// `−log σ(βΔ)`.
    pub dpo_loss: f64,
    pub reward_chosen: f64,
    pub reward_rejected: f64,
}

/// The micro-batch's share of the batch loss (a one-element tensor to call `backward` on) and
/// its per-pair statistics.
pub fn dpo_nll(
    policy: Tensor<1>,
    reference: &[f32],
    chosen_tokens: &[usize],
    weights: &Weights,
    settings: &LossSettings,
) -> (Tensor<1>, Vec<PairStats>) {
    let pairs = chosen_tokens.len();
    let device = policy.device();
    let constant = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [pairs]), (&device, DType::F32));
    let chosen = policy.clone().narrow(0, 0, pairs);
    let rejected = policy.clone().narrow(0, pairs, pairs);
    // Δ = (π_c − π_r) − (ref_c − ref_r); the reference part is a constant.
    let reference_margin: Vec<f32> = (0..pairs).map(|i| reference[i] - reference[pairs + i]).collect();
    let delta = chosen.clone() - rejected - constant(reference_margin);
    let dpo = softplus(delta.mul_scalar(-settings.beta), 1.0).sum().div_scalar(weights.batch_pairs as f64);
    let nll = (chosen * constant(weights.nll(settings.nll_norm, chosen_tokens))).sum().neg();
    let loss = dpo + nll.mul_scalar(settings.alpha);

    let values: Vec<f32> = policy.detach().into_data().try_into_vec_as::<f32>().expect("f32 log-probabilities");
    let stats = (0..pairs)
        .map(|i| {
            pair_stats(
                values[i],
                values[pairs + i],
                reference[i],
                reference[pairs + i],
                chosen_tokens[i],
                settings.beta,
            )
        })
        .collect();
    (loss, stats)
}

/// The per-pair numbers in f64 from the four summed log-probabilities.
pub fn pair_stats(pc: f32, pr: f32, rc: f32, rr: f32, chosen_tokens: usize, beta: f64) -> PairStats {
    let (pc, pr, rc, rr) = (f64::from(pc), f64::from(pr), f64::from(rc), f64::from(rr));
    let (reward_chosen, reward_rejected) = (beta * (pc - rc), beta * (pr - rr));
    let z = reward_chosen - reward_rejected;
    // −log σ(z) = softplus(−z), written to stay finite for large |z|.
    let dpo_loss = (-z).max(0.0) + (-z.abs()).exp().ln_1p();
    PairStats {
        policy_chosen: pc,
        policy_rejected: pr,
        reference_chosen: rc,
        reference_rejected: rr,
        chosen_tokens,
        dpo_loss,
        reward_chosen,
        reward_rejected,
    }
}
