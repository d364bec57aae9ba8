//! A [`CritiqueWriter`] over any GGUF chat model, run by the runtime's engine.
//!
//! The reply is written in two steps. First the critique, continuing Selene's `**Reasoning:**`
//! marker until the model writes `**Result:**` (or runs out of tokens); then, after
//! `**Result:**`, the few tokens of the result, which the model chooses having read its own
//! critique. The consistency filter then compares that result with the judgment the critique was
//! asked to argue for, so a critique that argues for something else is caught by what it leads
//! the model to conclude.

use std::path::{Path, PathBuf};

use selene_runtime::{Engine, Flow, GenerationConfig, LoadOptions, Message, RuntimeError};
use selene_tokenizer::Segment;

use super::critique::{CritiqueRequest, CritiqueWriter, REPLY_START, instruction};
use crate::error::{Error, Result};

const RESULT: &str = "**Result:**";
/// Enough for any label (`Yes`, `A`, `10`, `Tie`) and the space before it.
const RESULT_TOKENS: usize = 6;

pub struct CritiqueModel {
    path: PathBuf,
    engine: Engine,
    max_new_tokens: usize,
    temperature: f32,
}

impl CritiqueModel {
    /// Loads `path` as `options` say (device and context).
    pub fn open(path: &Path, options: &LoadOptions, max_new_tokens: usize, temperature: f32) -> Result<CritiqueModel> {
        let engine = Engine::load(path, options).map_err(|e| Error::file(path, "model", e))?;
        Ok(CritiqueModel { path: path.to_owned(), engine, max_new_tokens, temperature })
    }

    /// Continues `prompt` with up to `max_new` tokens until `stop` holds for the text so far;
    /// `None` when prompt and answer do not fit the context.
    fn run(&self, prompt: &[u32], max_new: usize, seed: u64, stop: impl Fn(&str) -> bool) -> Result<Option<String>> {
        if prompt.len() + max_new > self.engine.context() {
            return Ok(None);
        }
        // Sampling draws from the whole distribution, as the paper's writer does.
        let config = GenerationConfig {
            max_tokens: max_new,
            temperature: self.temperature,
            top_k: 0,
            top_p: 1.0,
            seed,
            ..Default::default()
        };
        let mut text = String::new();
        let generation = self.engine.generate(prompt, &config, |token| {
            text.push_str(&token.text);
            if stop(&text) { Flow::Stop } else { Flow::Continue }
        });
        match generation {
            Ok(generation) => Ok(Some(generation.text)),
            Err(RuntimeError::PromptTooLong { .. }) => Ok(None),
            Err(e) => Err(Error::file(&self.path, "generation", e)),
        }
    }

    fn with_reply(&self, chat: &[u32], reply: &str) -> Result<Vec<u32>> {
        let reply = self
            .engine
            .tokenizer()
            .encode_segments(&[Segment::Data(reply.to_owned())])
            .map_err(|e| Error::new("tokenizer", "encode", e))?;
        Ok([chat, &reply].concat())
    }
}

impl CritiqueWriter for CritiqueModel {
    fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
        })
    }

    fn write(&mut self, request: &CritiqueRequest) -> Result<Option<String>> {
        let chat = self
            .engine
            .chat_prompt(&[Message::new("user", instruction(request))])
            .map_err(|e| Error::file(&self.path, "chat_template", e))?;
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
