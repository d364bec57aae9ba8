//! Our next-token distributions against a reference's top K (llama.cpp, recorded in the goldens by
//! tools/reference/): top-1 agreement and KL(reference || ours), position by position.

use std::fmt;

use burn::tensor::Device;
use selene_model::{Llama, Logits};
use serde_json::Value;

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max + row.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
    row.iter().map(|&x| x as f64 - lse).collect()
}

/// KL(reference || ours) over the reference's top-K tokens plus the remaining mass as one outcome.
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

/// Agreement with one reference, summed over positions.
#[derive(Default)]
pub struct Agreement {
    /// Positions of the current sequence left out of the comparison.
    pub skip: Vec<usize>,
    pub positions: usize,
    agree: usize,
    kl_sum: f64,
    max_kl: f64,
}

impl Agreement {
    pub fn top1(&self) -> f64 {
        self.agree as f64 / self.positions as f64
    }

    pub fn mean_kl(&self) -> f64 {
        self.kl_sum / self.positions as f64
    }

    /// `reference` is the golden's `{"top_ids": [[..]..], "top_logprobs": [[..]..]}` of a sequence.
    fn add_position(&mut self, ours: &[f64], reference: &Value, position: usize) {
        if self.skip.contains(&position) {
            return;
        }
        let ref_ids = ids(&reference["top_ids"][position]);
        let ref_lp: Vec<f64> =
            reference["top_logprobs"][position].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let argmax = (0..ours.len()).max_by(|&a, &b| ours[a].total_cmp(&ours[b])).unwrap() as u32;
        // A tie at the top in the reference's own numbers is not a disagreement.
        let tied = (ref_lp[0] - ref_lp[1]).abs() < 1e-6 && argmax == ref_ids[1];
        self.agree += usize::from(argmax == ref_ids[0] || tied);
        let kl = kl_top_k(&ref_ids, &ref_lp, ours);
        self.kl_sum += kl;
        self.max_kl = self.max_kl.max(kl);
        self.positions += 1;
    }
}

impl fmt::Display for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} positions, top-1 agreement {:.2}%, mean KL {:.6}, max KL {:.4}",
            self.positions,
            100.0 * self.top1(),
            self.mean_kl(),
            self.max_kl
        )
    }
}

/// Runs one sequence through `llama` teacher-forced, `chunk` positions per forward pass through the
/// KV cache (so that a large vocabulary's logits never exist for the whole sequence at once), and
/// adds every position to each agreement with its reference for this sequence.
pub fn compare(llama: &Llama, device: &Device, tokens: &[u32], chunk: usize, against: &mut [(&Value, &mut Agreement)]) {
    let mut cache = llama.new_cache(device);
    let mut position = 0;
    for part in tokens.chunks(chunk) {
        let logits = llama.forward(part, &mut cache, Logits::All).unwrap();
        let vocab = logits.dims()[1];
        let flat: Vec<f32> = logits.into_data().try_to_vec().unwrap();
        for row in flat.chunks_exact(vocab) {
            let ours = log_softmax(row);
            for (reference, agreement) in against.iter_mut() {
                agreement.add_position(&ours, reference, position);
            }
            position += 1;
        }
    }
}
