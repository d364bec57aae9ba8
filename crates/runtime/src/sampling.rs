//! Choosing the next token.
//!
//! Greedy decoding reads back one number per token, the argmax. Sampling and log-probabilities
//! need the best candidates and the log-normalizer. On a GPU (wgpu or CUDA with a card behind
//! it) they are chosen there for up to [`MAX_CANDIDATES`] candidates, and `2k + 1` numbers are
//! read back ([`selene_kernels::select`]) instead of the whole row (196 KB for SmolLM2's
//! vocabulary, 513 KB for Llama 3's), from which the host would take over a millisecond to
//! choose. Otherwise they are taken on the host from the read-back row: for more candidates (a judge's
//! score distribution takes every token), and on software adapters, whose "device" memory is the
//! host's and where the kernels are slower than the host (Llama 3's row, 40 candidates: 17 ms
//! on lavapipe against 1.5 ms read back and chosen on the host; `kernel_timing select`).
//! Sampling with temperature draws from the best [`CANDIDATES`] tokens, which hold all but a
//! negligible share of the probability for any sensible temperature.

use burn::tensor::Tensor;
use selene_kernels::Schedule;
use selene_kernels::select::MAX_CANDIDATES;

use crate::error::{Result, RuntimeError};

/// Candidates read back when sampling without a top-k limit.
pub const CANDIDATES: usize = 256;

/// How to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationConfig {
    pub max_tokens: usize,
    /// 0 is greedy decoding.
    pub temperature: f32,
    /// Sample among the `top_k` best tokens (0: no limit beyond [`CANDIDATES`]).
    pub top_k: usize,
    /// Sample among the fewest best tokens whose probability reaches `top_p` (1: no limit).
    pub top_p: f32,
    pub seed: u64,
    /// Report the log-probabilities of this many best alternatives at every step (0: none).
    pub logprobs: usize,
    /// Stop when the text ends with one of these.
    pub stop: Vec<String>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            max_tokens: 512,
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            seed: 0,
            logprobs: 0,
            stop: Vec::new(),
        }
    }
}

impl GenerationConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |why: &str| Err(RuntimeError::Invalid(why.into()));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature must be a finite number of at least 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        Ok(())
    }
}

/// The token chosen at one step, with what the model thought of the alternatives.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub token: u32,
    /// Natural log of the model's probability of `token` (before temperature), when known.
    pub logprob: Option<f32>,
    /// The best tokens with their log-probabilities, best first (`logprobs` of them).
    pub alternatives: Vec<(u32, f32)>,
}

/// A small, seedable generator (SplitMix64): sampling is reproducible across platforms.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub struct Sampler {
    config: GenerationConfig,
    rng: Rng,
}

impl Sampler {
    pub fn new(config: &GenerationConfig) -> Self {
        Sampler { config: config.clone(), rng: Rng::new(config.seed) }
    }

    /// Chooses from `logits` `[1, vocab]`.
    pub async fn choose(&mut self, logits: Tensor<2>) -> Result<Choice> {
        let c = self.config.clone();
        let vocab = logits.dims()[1];
        if c.temperature == 0.0 && c.logprobs == 0 {
            let data = logits.argmax(1).into_data_async().await.map_err(readback)?;
            let token = data.iter::<i64>().next().ok_or_else(|| RuntimeError::Readback("empty argmax".into()))?;
            return Ok(Choice { token: token as u32, logprob: None, alternatives: Vec::new() });
        }
        let wanted = if c.temperature == 0.0 {
            1
        } else if c.top_k > 0 {
            c.top_k
        } else {
            CANDIDATES
        };
        let k = wanted.max(c.logprobs).min(vocab);
        let gpu =
            matches!(selene_kernels::kernel_schedule(&logits.device()), Some(Schedule::Workgroup | Schedule::Subgroup));
        let candidates = if k <= MAX_CANDIDATES && gpu {
            device_candidates(logits, k).await?
        } else {
            let row = logits.into_data_async().await.map_err(readback)?.convert::<f32>();
            best_candidates(row.as_slice::<f32>().map_err(readback)?, k)
        };
        let k = candidates.len();
        if k == 0 {
            return Err(RuntimeError::Readback("the model's logits hold no finite value".into()));
        }
        let pick = if c.temperature == 0.0 { 0 } else { self.sample(&candidates[..wanted.min(k)]) };
        let (token, logprob) = candidates[pick];
        Ok(Choice { token, logprob: Some(logprob), alternatives: candidates[..c.logprobs.min(k)].to_vec() })
    }

    /// Index into `candidates` (best first) drawn with temperature and nucleus (top-p) limits.
    fn sample(&mut self, candidates: &[(u32, f32)]) -> usize {
        let t = f64::from(self.config.temperature);
        let best = f64::from(candidates[0].1);
        let weights: Vec<f64> = candidates.iter().map(|&(_, lp)| ((f64::from(lp) - best) / t).exp()).collect();
        let total: f64 = weights.iter().sum();
        let mut kept = 0;
        let mut mass = 0.0;
        while kept < weights.len() && (kept == 0 || mass / total < f64::from(self.config.top_p)) {
            mass += weights[kept];
            kept += 1;
        }
        let mut target = self.rng.next_f64() * mass;
        for (i, w) in weights[..kept].iter().enumerate() {
            if target < *w {
                return i;
            }
            target -= w;
        }
        kept - 1
    }
}

/// The `k` largest logits of `row` as (token, log-probability), best first (ties: lower id first).
fn best_candidates(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_norm = (row.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln() + f64::from(max)) as f32;
    let order = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    let mut ids: Vec<u32> = (0..row.len() as u32).collect();
    if k < ids.len() {
        ids.select_nth_unstable_by(k, order);
        ids.truncate(k);
    }
    ids.sort_unstable_by(order);
    ids.into_iter().map(|id| (id, row[id as usize] - log_norm)).collect()
}

/// [`best_candidates`] chosen on the device: at most `k`, since places whose logit is not
/// finite stay empty there.
async fn device_candidates(logits: Tensor<2>, k: usize) -> Result<Vec<(u32, f32)>> {
    let data = selene_kernels::top_candidates(logits, k).into_data_async().await.map_err(readback)?;
    let found = data.as_slice::<f32>().map_err(readback)?;
    let log_norm = found[2 * k];
    Ok(found[..2 * k].chunks_exact(2).take_while(|c| c[0] >= 0.0).map(|c| (c[0] as u32, c[1] - log_norm)).collect())
}

fn readback(e: impl std::fmt::Debug) -> RuntimeError {
    RuntimeError::Readback(format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(temperature: f32, top_p: f32, seed: u64) -> Sampler {
        Sampler::new(&GenerationConfig { temperature, top_p, seed, ..Default::default() })
    }

    #[test]
    fn nucleus_keeps_only_the_head() {
        // Probabilities 0.5, 0.3, 0.2: top_p 0.6 keeps the first two.
        let candidates: Vec<(u32, f32)> =
            [0.5f32, 0.3, 0.2].iter().enumerate().map(|(i, p)| (i as u32, p.ln())).collect();
        let mut s = sampler(1.0, 0.6, 7);
        let mut counts = [0; 3];
        for _ in 0..10_000 {
            counts[s.sample(&candidates)] += 1;
        }
        assert_eq!(counts[2], 0);
        let share = counts[0] as f64 / 10_000.0;
        assert!((share - 0.625).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn low_temperature_is_nearly_greedy_and_seeds_repeat() {
        let candidates = vec![(5, -0.1), (9, -2.5), (3, -3.0)];
        let mut s = sampler(0.05, 1.0, 1);
        assert!((0..100).all(|_| s.sample(&candidates) == 0));
        let draw = |seed| {
            let mut s = sampler(1.5, 1.0, seed);
            (0..32).map(|_| s.sample(&candidates)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    #[test]
    fn candidates_are_the_best_logits_normalized() {
        let row = [0.5f32, 3.0, -1.0, 3.0, 2.0, f32::NEG_INFINITY];
        let best = best_candidates(&row, 3);
        assert_eq!(best.iter().map(|c| c.0).collect::<Vec<_>>(), [1, 3, 4]);
        let norm: f64 = row.iter().map(|&v| f64::from(v).exp()).sum::<f64>().ln();
        for &(id, lp) in &best {
            assert!((f64::from(lp) - (f64::from(row[id as usize]) - norm)).abs() < 1e-6);
        }
        assert_eq!(best_candidates(&row, 10).len(), row.len());
    }

    /// The device's choice ([`device_candidates`], forced on lavapipe, where the sampler would
    /// choose on the host) is the host's, from the same logits.
    #[test]
    fn the_device_chooses_as_the_host_does() {
        use burn::tensor::TensorData;
        // Many ties: 49,152 logits on 4,000 levels.
        let row: Vec<f32> =
            (0..49_152u32).map(|i| ((i.wrapping_mul(2_654_435_761) >> 8) % 4_000) as f32 / 150.0).collect();
        let device = selene_kernels::software_device();
        for k in [1, 5, 40, MAX_CANDIDATES] {
            let logits = Tensor::<2>::from_data(TensorData::new(row.clone(), [1, row.len()]), &device);
            let on_device = pollster::block_on(device_candidates(logits, k)).unwrap();
            let on_host = best_candidates(&row, k);
            let ids = |c: &[(u32, f32)]| c.iter().map(|a| a.0).collect::<Vec<_>>();
            assert_eq!(ids(&on_device), ids(&on_host), "best {k}");
            for (a, b) in on_device.iter().zip(&on_host) {
                assert!((a.1 - b.1).abs() < 1e-5, "best {k}: {a:?} against {b:?}");
            }
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        for config in [
            GenerationConfig { temperature: -1.0, ..Default::default() },
            GenerationConfig { top_p: 0.0, ..Default::default() },
            GenerationConfig { temperature: f32::NAN, ..Default::default() },
        ] {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
