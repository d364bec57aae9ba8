//! The best tokens of a row of logits, with their log-probabilities.
//!
//! Sampling and log-probabilities need only the best few tokens and the log-normalizer. On a GPU
//! they are chosen there for up to [`MAX_CANDIDATES`] tokens ([`selene_kernels::top_candidates`])
//! and `2k + 1` numbers come back instead of the whole row (513 KB for Llama 3's vocabulary),
//! which the host would read slowly and take over a millisecond to rank. Elsewhere (more
//! candidates, host memory, software adapters) the row is read back and ranked here.

use burn::tensor::Tensor;
use selene_kernels::{Compute, MAX_CANDIDATES};

use crate::error::{ModelError, Result};

/// The `k` largest of `logits` `[1, vocab]` as (token, log-probability), best first (ties: lower
/// id first); fewer where fewer logits are finite.
pub(crate) async fn best_tokens(logits: Tensor<2>, k: usize, compute: Compute) -> Result<Vec<(u32, f32)>> {
    let k = k.min(logits.dims()[1]);
    if compute.selects_on_device() && k <= MAX_CANDIDATES {
        return chosen_on_device(logits, k).await;
    }
    let row = logits.into_data_async().await.map_err(readback)?.convert::<f32>();
    Ok(best_of_row(row.as_slice::<f32>().map_err(readback)?, k))
}

/// [`best_tokens`] of a row on the host.
fn best_of_row(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_norm = (row.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln() + f64::from(max)) as f32;
    let order = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    let mut ids: Vec<u32> = (0..row.len() as u32).filter(|&i| row[i as usize].is_finite()).collect();
    if k < ids.len() {
        ids.select_nth_unstable_by(k, order);
        ids.truncate(k);
    }
    ids.sort_unstable_by(order);
    ids.into_iter().map(|id| (id, row[id as usize] - log_norm)).collect()
}

/// [`best_tokens`] chosen on the device: places whose logit is not finite stay empty there.
async fn chosen_on_device(logits: Tensor<2>, k: usize) -> Result<Vec<(u32, f32)>> {
    let data = selene_kernels::top_candidates(logits, k).into_data_async().await.map_err(readback)?;
    let found = data.as_slice::<f32>().map_err(readback)?;
    let log_norm = found[2 * k];
    Ok(found[..2 * k].chunks_exact(2).take_while(|c| c[0] >= 0.0).map(|c| (c[0] as u32, c[1] - log_norm)).collect())
}

fn readback(e: impl std::fmt::Debug) -> ModelError {
    ModelError::Readback(format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use burn::tensor::TensorData;

    use super::*;

    #[test]
    fn the_best_logits_normalized() {
        let row = [0.5f32, 3.0, -1.0, 3.0, 2.0, f32::NEG_INFINITY];
        let best = best_of_row(&row, 3);
        assert_eq!(best.iter().map(|c| c.0).collect::<Vec<_>>(), [1, 3, 4]);
        let norm: f64 = row.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
        for &(id, lp) in &best {
            assert!((f64::from(lp) - (f64::from(row[id as usize]) - norm)).abs() < 1e-6);
        }
        assert_eq!(best_of_row(&row, 10).len(), row.len() - 1, "the masked logit is no candidate");
    }

    /// The device's choice (forced on lavapipe, where a model would choose on the host) is the
    /// host's, from the same logits.
    #[test]
    fn the_device_chooses_as_the_host_does() {
        // Many ties: 49,152 logits on 4,000 levels.
        let row: Vec<f32> =
            (0..49_152u32).map(|i| ((i.wrapping_mul(2_654_435_761) >> 8) % 4_000) as f32 / 150.0).collect();
        let device = selene_kernels::software_device();
        for k in [1, 5, 40, MAX_CANDIDATES] {
            let logits = Tensor::<2>::from_data(TensorData::new(row.clone(), [1, row.len()]), &device);
            let on_device = pollster::block_on(chosen_on_device(logits, k)).unwrap();
            let on_host = best_of_row(&row, k);
            let ids = |c: &[(u32, f32)]| c.iter().map(|a| a.0).collect::<Vec<_>>();
            assert_eq!(ids(&on_device), ids(&on_host), "best {k}");
            for (a, b) in on_device.iter().zip(&on_host) {
                assert!((a.1 - b.1).abs() < 1e-5, "best {k}: {a:?} against {b:?}");
            }
        }
    }
}
