//! A [`CritiqueWriter`] over any GGUF chat model, run by the model crate on the trainer's device.
//!
//! The reply is written in two steps. First the critique, continuing Selene's `**Reasoning:**`
//! marker until the model writes `**Result:**` (or runs out of tokens); then, after
//! `**Result:**`, the few tokens of the result, which the model chooses having read its own
//! critique. The consistency filter then compares that result with the judgment the critique was
//! asked to argue for, so a critique that argues for something else is caught by what it leads
//! the model to conclude.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::Device;
use selene_gguf::GgufModel;
use selene_model::{GgufWeights, Llama};
use selene_tokenizer::{Message, Segment, Tokenizer};

use super::critique::{CritiqueRequest, CritiqueWriter, REPLY_START, instruction};
use crate::chat::chat_ids;
use crate::error::{Error, Result};
use crate::generate::{Generator, Sampling};

const RESULT: &str = "**Result:**";
/// Enough for any label (`Yes`, `A`, `10`, `Tie`) and the space before it.
const RESULT_TOKENS: usize = 6;

pub struct GgufWriter {
    path: PathBuf,
    model: Llama,
    tokenizer: Tokenizer,
    generator: Generator,
    max_new_tokens: usize,
    temperature: f32,
}

impl GgufWriter {
    /// Loads `path` with room for `context` tokens. `keep_quantized` as in
    /// [`GgufWeights::keep_quantized`] (false on the Flex CPU backend).
    pub fn open(
        path: &Path,
        device: &Device,
        keep_quantized: bool,
        context: usize,
        max_new_tokens: usize,
        temperature: f32,
    ) -> Result<GgufWriter> {
        let gguf = Arc::new(GgufModel::open(path).map_err(|e| Error::file(path, "GGUF", e))?);
        let tokenizer = Tokenizer::from_gguf(gguf.metadata()).map_err(|e| Error::file(path, "tokenizer", e))?;
        let weights =
            GgufWeights::new(gguf).map_err(|e| Error::file(path, "weights", e))?.keep_quantized(keep_quantized);
        let model = Llama::load(&weights, context, device).map_err(|e| Error::file(path, "weights", e))?;
        let generator = Generator::new(&model, device);
        Ok(GgufWriter { path: path.to_owned(), model, tokenizer, generator, max_new_tokens, temperature })
    }

    fn run(
        &mut self,
        prompt: &[u32],
        max_new: usize,
        seed: u64,
        stop: impl Fn(&str) -> bool,
    ) -> Result<Option<String>> {
        let sampling = Sampling { temperature: self.temperature, seed };
        self.generator.generate(&self.model, &self.tokenizer, prompt, max_new, sampling, stop)
    }

    fn with_reply(&self, chat: &[u32], reply: &str) -> Result<Vec<u32>> {
        let reply = self
            .tokenizer
            .encode_segments(&[Segment::Data(reply.to_owned())])
            .map_err(|e| Error::new("tokenizer", "encode", e))?;
        Ok([chat, &reply].concat())
    }
}

impl CritiqueWriter for GgufWriter {
    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
        })
    }

    fn write(&mut self, request: &CritiqueRequest) -> Result<Option<String>> {
        let chat = chat_ids(&self.tokenizer, &[Message::new("user", instruction(request))], true)?;
        let prompt = self.with_reply(&chat, REPLY_START)?;
        let Some(critique) = self.run(&prompt, self.max_new_tokens, request.seed, |t| t.contains(RESULT))? else {
            return Ok(None);
        };
        let body = critique.split(RESULT).next().unwrap_or_default().trim();
        let reply = format!("{REPLY_START} {body}\n\n{RESULT}");
        let prompt = self.with_reply(&chat, &reply)?;
        let seed = request.seed ^ 0x5EED;
        let Some(result) = self.run(&prompt, RESULT_TOKENS, seed, |t| t.trim_start().contains('\n'))? else {
            return Ok(None);
        };
        let result = result.trim_start().lines().next().unwrap_or_default().trim_end();
        Ok(Some(format!("{reply} {result}")))
    }
}
