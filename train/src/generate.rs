//! A small generation loop over the model crate: greedy or temperature sampling with a key/value
//! cache that is kept between calls, so that requests sharing a prefix (the chosen and the
//! rejected critique of one judge prompt) run that prefix once.
//!
//! Curation and held-out evaluation need nothing more; the runtime crate's generator can replace
//! this once it exists (the [`CritiqueWriter`](crate::curate::CritiqueWriter) seam is where).

use burn::tensor::Device;
use selene_model::{KvCache, Llama, Logits};
use selene_tokenizer::Tokenizer;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// How the next token is picked.
#[derive(Clone, Copy, Debug)]
pub struct Sampling {
    /// 0 for greedy decoding.
    pub temperature: f32,
    pub seed: u64,
}

/// A key/value cache and the tokens it holds, for one model.
pub struct Generator {
    cache: KvCache,
    /// The tokens whose keys and values are in `cache`.
    cached: Vec<u32>,
}

impl Generator {
    pub fn new(model: &Llama, device: &Device) -> Self {
        Generator { cache: model.new_cache(device), cached: Vec::new() }
    }

    /// Continues `prompt` with up to `max_new` tokens, stopping at an end-of-generation token or
    /// once `stop` holds for the text so far. `None` when prompt and answer do not fit the context.
    pub fn generate(
        &mut self,
        model: &Llama,
        tokenizer: &Tokenizer,
        prompt: &[u32],
        max_new: usize,
        sampling: Sampling,
        stop: impl Fn(&str) -> bool,
    ) -> Result<Option<String>> {
        if prompt.is_empty() || prompt.len() + max_new > self.cache.capacity() {
            return Ok(None);
        }
        // Reuse the cached prefix, but run at least the last prompt token for its logits.
        let shared = self.cached.iter().zip(prompt).take_while(|(a, b)| a == b).count().min(prompt.len() - 1);
        self.cache.truncate(shared);
        self.cached.truncate(shared);
        let mut rng = Rng::new(sampling.seed);
        let mut next = self.step(model, &prompt[shared..])?;
        self.cached.extend_from_slice(&prompt[shared..]);
        let mut out = Vec::new();
        let mut text = String::new();
        for _ in 0..max_new {
            let token = pick(&next, sampling.temperature, &mut rng);
            if tokenizer.is_end_of_generation(token) {
                break;
            }
            out.push(token);
            text = tokenizer.decode(&out, true).map_err(|e| Error::new("tokenizer", "decode", e))?;
            if stop(&text) || out.len() == max_new {
                break;
            }
            next = self.step(model, &[token])?;
            self.cached.push(token);
        }
        Ok(Some(text))
    }

    /// Runs `tokens` after the cache and returns the last position's logits.
    fn step(&mut self, model: &Llama, tokens: &[u32]) -> Result<Vec<f32>> {
        let logits = model.forward(tokens, &mut self.cache, Logits::Last)?;
        logits.into_data().try_into_vec_as::<f32>().map_err(|e| Error::new("model", "logits", format!("{e:?}")))
    }
}

/// Argmax at temperature 0, else a draw from `softmax(logits / temperature)`.
fn pick(logits: &[f32], temperature: f32, rng: &mut Rng) -> u32 {
    let argmax = || (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap_or(0);
    if temperature <= 0.0 {
        return argmax() as u32;
    }
    let max = logits[argmax()];
    let weights: Vec<f64> = logits.iter().map(|&l| f64::from((l - max) / temperature).exp()).collect();
    let mut target = rng.unit() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        target -= w;
        if target < 0.0 {
            return i as u32;
        }
    }
    argmax() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picking() {
        let logits = [0.0, 3.0, 3.0, -1.0];
        let mut rng = Rng::new(1);
        assert_eq!(pick(&logits, 0.0, &mut rng), 1, "ties go to the lower id");
        let draws: Vec<u32> = (0..400).map(|_| pick(&logits, 1.0, &mut rng)).collect();
        let share = |id| draws.iter().filter(|&&d| d == id).count() as f64 / 400.0;
        assert!((share(1) - 0.47).abs() < 0.08 && (share(2) - 0.47).abs() < 0.08 && share(3) < 0.03);
    }
}
