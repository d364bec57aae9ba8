//! Training metrics under the names TRL's DPO trainer logs (`rewards/chosen`, `logps/chosen`…),
//! plus the two parts of the loss, which TRL does not log separately, one JSON object per line.
//!
//! Every value is a mean over the optimizer batch, as TRL reports them: `logps/*` are means of
//! each reply's summed log-probability; `rewards/accuracies` is the share of pairs whose chosen
//! reward is strictly above the rejected one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::loss::{LossSettings, NllNorm, PairStats};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepMetrics {
    pub step: usize,
    pub epoch: f64,
    pub learning_rate: f64,
    pub loss: f64,
    pub dpo_loss: f64,
    pub nll_loss: f64,
    #[serde(rename = "rewards/chosen")]
    pub rewards_chosen: f64,
    #[serde(rename = "rewards/rejected")]
    pub rewards_rejected: f64,
    #[serde(rename = "rewards/margins")]
    pub rewards_margins: f64,
    #[serde(rename = "rewards/accuracies")]
    pub rewards_accuracies: f64,
    #[serde(rename = "logps/chosen")]
    pub logps_chosen: f64,
    #[serde(rename = "logps/rejected")]
    pub logps_rejected: f64,
    /// Gradient norm over all trainable parameters, before clipping.
    pub grad_norm: f64,
    /// Tokens the policy ran this step (both replies of every pair, prompts included).
    pub num_tokens: usize,
    #[serde(rename = "tokens/s")]
    pub tokens_per_second: f64,
}

/// Batch means of per-pair statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BatchMeans {
    pub loss: f64,
    pub dpo_loss: f64,
    pub nll_loss: f64,
    pub rewards_chosen: f64,
    pub rewards_rejected: f64,
    pub rewards_margins: f64,
    pub rewards_accuracies: f64,
    pub logps_chosen: f64,
    pub logps_rejected: f64,
}

impl BatchMeans {
    /// The means of `stats` (one optimizer batch), with the NLL normalized as the loss is.
    pub fn of(stats: &[PairStats], settings: &LossSettings) -> BatchMeans {
        let n = stats.len().max(1) as f64;
        let mean = |f: &dyn Fn(&PairStats) -> f64| stats.iter().map(f).sum::<f64>() / n;
        let nll_loss = match settings.nll_norm {
            NllNorm::Tokens => {
                -stats.iter().map(|s| s.policy_chosen).sum::<f64>()
                    / stats.iter().map(|s| s.chosen_tokens).sum::<usize>().max(1) as f64
            }
            NllNorm::Sequences => mean(&|s| -s.policy_chosen / s.chosen_tokens as f64),
        };
        let dpo_loss = mean(&|s| s.dpo_loss);
        BatchMeans {
            loss: dpo_loss + settings.alpha * nll_loss,
            dpo_loss,
            nll_loss,
            rewards_chosen: mean(&|s| s.reward_chosen),
            rewards_rejected: mean(&|s| s.reward_rejected),
            rewards_margins: mean(&|s| s.reward_chosen - s.reward_rejected),
            rewards_accuracies: mean(&|s| f64::from(u8::from(s.reward_chosen > s.reward_rejected))),
            logps_chosen: mean(&|s| s.policy_chosen),
            logps_rejected: mean(&|s| s.policy_rejected),
        }
    }
}

/// Appends records to `metrics.jsonl`, one line each, flushed as written.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
}

impl MetricsLog {
    /// Opens the log, keeping only the records of steps up to `keep_through` (a resumed run
    /// drops what the interrupted one logged after its last checkpoint); `None` starts afresh.
    pub fn open(path: &Path, keep_through: Option<usize>) -> Result<MetricsLog> {
        let kept = match (keep_through, path.exists()) {
            (Some(step), true) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, "read", e))?;
                text.lines()
                    .filter(|l| {
                        serde_json::from_str::<serde_json::Value>(l)
                            .ok()
                            .and_then(|v| v.get("step")?.as_u64())
                            .is_some_and(|s| s as usize <= step)
                    })
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
            }
            _ => String::new(),
        };
        crate::error::write(path, kept.as_bytes())?;
        let file = OpenOptions::new().append(true).open(path).map_err(|e| Error::file(path, "open", e))?;
        Ok(MetricsLog { path: path.to_owned(), file })
    }

    pub fn write(&mut self, record: &impl Serialize) -> Result<()> {
        let mut line = serde_json::to_vec(record).map_err(|e| Error::file(&self.path, "write", e))?;
        line.push(b'\n');
        self.file.write_all(&line).and_then(|_| self.file.flush()).map_err(|e| Error::file(&self.path, "write", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::pair_stats;

    #[test]
    fn means_and_normalizations() {
        let stats = [pair_stats(-10.0, -14.0, -12.0, -12.0, 4, 0.5), pair_stats(-6.0, -2.0, -5.0, -4.0, 1, 0.5)];
        let settings = LossSettings { beta: 0.5, alpha: 1.0, nll_norm: NllNorm::Tokens };
        let m = BatchMeans::of(&stats, &settings);
        assert!((m.nll_loss - 16.0 / 5.0).abs() < 1e-12);
        assert!((m.rewards_chosen - (1.0 - 0.5) / 2.0).abs() < 1e-12);
        assert!((m.rewards_rejected - (-1.0 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.rewards_accuracies, 0.5);
        assert!((m.loss - m.dpo_loss - m.nll_loss).abs() < 1e-12);
        let per_seq = BatchMeans::of(&stats, &LossSettings { nll_norm: NllNorm::Sequences, ..settings });
        assert!((per_seq.nll_loss - (10.0 / 4.0 + 6.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn resuming_drops_later_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(&path, None).unwrap();
        for step in 1..=4 {
            log.write(&serde_json::json!({"step": step})).unwrap();
        }
        drop(log);
        let mut log = MetricsLog::open(&path, Some(2)).unwrap();
        log.write(&serde_json::json!({"step": 3, "again": true})).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\"step\":1}\n{\"step\":2}\n{\"again\":true,\"step\":3}\n");
    }
}
