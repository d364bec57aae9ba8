//! Choosing the next token.
//!
//! Greedy decoding reads back one number per token, the argmax. Sampling and log-probabilities
//! need the best candidates and their log-probabilities, which the model chooses where its
//! logits are ([`Llama::best_tokens`]). Sampling with temperature draws from the best
//! [`CANDIDATES`] tokens, which hold all but a negligible share of the probability for any
//! sensible temperature.

use burn::tensor::Tensor;
use selene_model::Llama;

use crate::rng::Rng;

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

pub struct Sampler {
    config: GenerationConfig,
    rng: Rng,
}

impl Sampler {
    pub fn new(config: &GenerationConfig) -> Self {
        Sampler { config: config.clone(), rng: Rng::new(config.seed) }
    }

    /// Chooses from `logits` `[1, vocab]` of `model`.
    pub async fn choose(&mut self, model: &Llama, logits: Tensor<2>) -> Result<Choice> {
        let c = self.config.clone();
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
        let candidates = model.best_tokens(logits, wanted.max(c.logprobs)).await?;
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
        let mut target = self.rng.unit() * mass;
        for (i, w) in weights[..kept].iter().enumerate() {
            if target < *w {
                return i;
            }
            target -= w;
        }
        kept - 1
    }
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
