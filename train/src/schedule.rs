//! The learning rate at each optimizer step: linear warmup from 0, then cosine or linear decay
//! to 0 at the last step, as Hugging Face's `get_{cosine,linear}_schedule_with_warmup` (which TRL
//! uses) compute it. A pure function of the step, so a resumed run needs only the step number.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    Cosine,
    Linear,
    Constant,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub peak: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub decay: Decay,
}

impl Schedule {
    /// The rate of 0-based optimizer step `step` (Hugging Face's multiplier at `step`: the first
    /// step of a warmup runs at 0).
    pub fn lr(&self, step: usize) -> f64 {
        let (step, warmup, total) = (step as f64, self.warmup_steps as f64, self.total_steps as f64);
        if step < warmup {
            return self.peak * step / warmup.max(1.0);
        }
        let progress = (step - warmup) / (total - warmup).max(1.0);
        let factor = match self.decay {
            Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            Decay::Linear => 1.0 - progress,
            Decay::Constant => 1.0,
        };
        self.peak * factor.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_transformers() {
        // transformers 5.23: get_cosine_schedule_with_warmup(opt, 2, 10) and the linear one, lr 1.0.
        let cosine = [
            0.0,
            0.5,
            1.0,
            0.9619397662556434,
            0.8535533905932737,
            0.6913417161825449,
            0.5,
            0.30865828381745514,
            0.14644660940672627,
            0.03806023374435663,
        ];
        let linear = [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125];
        for (decay, expected) in [(Decay::Cosine, cosine), (Decay::Linear, linear)] {
            let s = Schedule { peak: 1.0, warmup_steps: 2, total_steps: 10, decay };
            for (step, want) in expected.iter().enumerate() {
                assert!((s.lr(step) - want).abs() < 1e-12, "{decay:?} step {step}: {} vs {want}", s.lr(step));
            }
        }
        let flat = Schedule { peak: 1e-7, warmup_steps: 0, total_steps: 3, decay: Decay::Constant };
        assert_eq!(flat.lr(0), 1e-7);
    }
}
