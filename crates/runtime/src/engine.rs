//! A loaded model with its tokenizer: prompts in, streamed tokens out.
//!
//! Generation is an `async fn` that awaits only its device readbacks, so the same loop runs in a
//! browser (where readback must be asynchronous) and natively (where [`Engine::generate`] blocks
//! on it).

use std::sync::{Mutex, PoisonError};

use burn::tensor::{Device, Tensor};
use selene_kernels::{CacheType, Compute};
use selene_model::{KvCache, Llama, Logits};
use selene_tokenizer::{ChatTemplate, Message, Segment, Tokenizer};

use crate::device::{ChosenDevice, DeviceSpec};
use crate::error::{Result, RuntimeError};
use crate::sampling::{Choice, GenerationConfig, Sampler};

/// How to load a model.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub device: DeviceSpec,
    /// Longest prompt plus completion, in tokens (capped by the model's own context length).
    pub context: usize,
    /// A `tokenizer.json` to use instead of the tokenizer in the GGUF metadata, with its
    /// `tokenizer_config.json` when one sits beside it.
    pub tokenizer_json: Option<std::path::PathBuf>,
    /// How the CPU engine stores the KV cache (a GPU keeps it in f32).
    pub cache_type: CacheType,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { device: DeviceSpec::Auto, context: 4096, tokenizer_json: None, cache_type: CacheType::F16 }
    }
}

pub struct Engine {
    llama: Llama,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    device: ChosenDevice,
    /// The model's `general.name`, when it has one.
    name: Option<String>,
    last: Mutex<Option<CachedTokens>>,
}

/// The KV cache of the last call and the tokens it holds, so that [`Engine::next_token_async`]
/// after a generation (structured judging's second step) computes only what is new. Generation
/// itself always starts from position 0: the same prompt gives the same tokens whatever ran
/// before it (a prefix computed in another chunking can round differently).
struct CachedTokens {
    tokens: Vec<u32>,
    cache: KvCache,
}

/// The most tokens of a prompt one forward pass takes (llama.cpp's default micro-batch).
const PART_TOKENS: usize = 512;
/// A pass's activations are held to this fraction of the bytes of the weights and cache: with
/// the allocator's page rounding, SmolLM2 at a 2,128-token context then stays within 10% of its
/// file and cache on the device.
const ACTIVATION_SHARE: usize = 64;
/// The most bytes of attention scores one forward pass may need, where attention stores them.
const SCORE_BYTES: usize = 64 << 20;

/// One step of generation as the caller sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedToken {
    pub choice: Choice,
    /// Text this token completes (empty while a character is split across tokens).
    pub text: String,
}

/// Whether generation should go on after a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-generation token (not included in the output).
    EndOfGeneration,
    MaxTokens,
    StopSequence,
    ContextFull,
    /// The caller's callback asked to stop.
    Cancelled,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub tokens: Vec<GeneratedToken>,
    pub text: String,
    pub stop: StopReason,
    pub prompt_tokens: usize,
}

impl Engine {
    /// An engine over an already loaded model.
    pub fn new(llama: Llama, tokenizer: Tokenizer, device: ChosenDevice) -> Result<Engine> {
        if tokenizer.vocab_size() > llama.config().vocab_size {
            return Err(RuntimeError::Invalid(format!(
                "the tokenizer has {} tokens but the model only {}",
                tokenizer.vocab_size(),
                llama.config().vocab_size
            )));
        }
        let template = tokenizer.chat_template()?;
        Ok(Engine { llama, tokenizer, template, device, name: None, last: Mutex::new(None) })
    }

    /// The model's name (GGUF `general.name`), when it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn named(mut self, name: Option<String>) -> Self {
        self.name = name;
        self
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn model(&self) -> &Llama {
        &self.llama
    }

    pub fn device(&self) -> &Device {
        &self.device.device
    }

    /// The device the model runs on, with its `--device` name and why it was chosen.
    pub fn chosen_device(&self) -> &ChosenDevice {
        &self.device
    }

    /// One line on where the model runs and why: the device, and for the CPU engine its
    /// instruction set, threads and cache.
    pub fn device_summary(&self) -> String {
        let mut line = self.device.name.clone();
        if let Compute::Host { cache } = self.llama.compute() {
            let simd = selene_kernels::host::simd_level();
            line += &format!(
                ", the CPU engine ({simd}, {} threads, {} KV cache)",
                crate::threads::threads(),
                format!("{cache:?}").to_lowercase()
            );
        }
        if let Some(why) = self.device.reason {
            line += &format!("; {why}");
        }
        line
    }

    /// Prompt plus completion can be at most this many tokens.
    pub fn context(&self) -> usize {
        self.llama.max_positions()
    }

    /// Token ids for a conversation rendered with the model's chat template, ending where the
    /// assistant's reply begins. Messages are data: only the template makes special tokens.
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        let template = self
            .template
            .as_ref()
            .ok_or_else(|| RuntimeError::Invalid("the model has no chat template; use a plain prompt".into()))?;
        Ok(self.tokenizer.encode_chat(template, messages, true)?)
    }

    /// Token ids for plain text (no template); special-token text stays plain unless `special`.
    pub fn text_prompt(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let segment = if special { Segment::Template(text.into()) } else { Segment::Data(text.into()) };
        Ok(self.tokenizer.with_bos(self.tokenizer.encode_segments(&[segment])?))
    }

    /// [`generate_async`](Self::generate_async), blocking until it is done (native only).
    pub fn generate(
        &self,
        prompt: &[u32],
        config: &GenerationConfig,
        on_token: impl FnMut(&GeneratedToken) -> Flow,
    ) -> Result<Generation> {
        pollster::block_on(self.generate_async(prompt, config, on_token))
    }

    /// Generates a completion of `prompt`, calling `on_token` with every token as it comes.
    pub async fn generate_async(
        &self,
        prompt: &[u32],
        config: &GenerationConfig,
        mut on_token: impl FnMut(&GeneratedToken) -> Flow,
    ) -> Result<Generation> {
        config.validate()?;
        self.check_prompt(prompt)?;
        let mut cache = self.cache_for(&[]);
        let mut in_cache = Vec::new();
        let mut sampler = Sampler::new(config);
        let mut decoder = self.tokenizer.stream_decoder(true);
        let mut generation = Generation {
            tokens: Vec::new(),
            text: String::new(),
            stop: StopReason::MaxTokens,
            prompt_tokens: prompt.len(),
        };
        let mut next = prompt.to_vec();
        while generation.tokens.len() < config.max_tokens {
            if cache.len() + next.len() > cache.capacity() {
                generation.stop = StopReason::ContextFull;
                break;
            }
            let logits = self.forward_in_parts(&next, &mut cache)?;
            in_cache.extend_from_slice(&next);
            let choice = sampler.choose(&self.llama, logits).await?;
            if self.tokenizer.is_end_of_generation(choice.token) {
                generation.stop = StopReason::EndOfGeneration;
                break;
            }
            let text = decoder.push(choice.token)?.unwrap_or_default();
            generation.text.push_str(&text);
            next = vec![choice.token];
            let token = GeneratedToken { choice, text };
            let flow = on_token(&token);
            generation.tokens.push(token);
            if let Some(stop) = config.stop.iter().find(|s| !s.is_empty() && generation.text.ends_with(s.as_str())) {
                generation.text.truncate(generation.text.len() - stop.len());
                generation.stop = StopReason::StopSequence;
                break;
            }
            if flow == Flow::Stop {
                generation.stop = StopReason::Cancelled;
                break;
            }
        }
        self.keep_cache(in_cache, cache);
        if generation.stop != StopReason::StopSequence {
            generation.text.push_str(&decoder.finish().unwrap_or_default());
        }
        Ok(generation)
    }

    /// The `n` most likely tokens to follow `prompt`, with their log-probabilities, best first:
    /// one forward pass, nothing generated. Positions that the last call left in the cache and
    /// that `prompt` starts with are not computed again.
    pub async fn next_token_async(&self, prompt: &[u32], n: usize) -> Result<Choice> {
        self.check_prompt(prompt)?;
        let mut cache = self.cache_for(prompt);
        let logits = self.forward_in_parts(&prompt[cache.len()..], &mut cache)?;
        self.keep_cache(prompt.to_vec(), cache);
        Sampler::new(&GenerationConfig { logprobs: n, ..Default::default() }).choose(&self.llama, logits).await
    }

    /// The logits after `tokens`, computed through `cache` a part of the prompt at a time, so that
    /// what one pass holds besides the weights and the cache stays small: the activations, which
    /// grow with the tokens of a pass, and, where attention stores its scores (not through the
    /// fused kernel), `heads x tokens x keys` floats, which for a long prompt exceed what one
    /// device buffer may hold (lavapipe refused 144 MiB for SmolLM2 at 2,048 tokens).
    fn forward_in_parts(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor<2>> {
        let part = self.part_tokens(cache);
        let (earlier, last) = tokens.split_at(tokens.len() - tokens.len().min(part));
        let mut run = move || -> Result<Tensor<2>> {
            for piece in earlier.chunks(part) {
                self.llama.forward(piece, cache, Logits::Last)?;
            }
            Ok(self.llama.forward(last, cache, Logits::Last)?)
        };
        match self.llama.compute() {
            Compute::Host { .. } => crate::threads::in_pool(run),
            Compute::Tensors | Compute::Kernels { .. } => run(),
        }
    }

    /// Tokens per pass of [`forward_in_parts`](Self::forward_in_parts): at most [`PART_TOKENS`],
    /// with activations (the feed-forward's gate, up and their product and the hidden states
    /// around them, in f32) of at most 1/[`ACTIVATION_SHARE`] of what the weights and cache take,
    /// and attention scores, where they are stored, of at most [`SCORE_BYTES`].
    fn part_tokens(&self, cache: &KvCache) -> usize {
        let config = self.llama.config();
        let f32_bytes = std::mem::size_of::<f32>();
        let activations = (3 * config.intermediate_size + 4 * config.hidden_size) * f32_bytes;
        let held = self.llama.device_bytes() + self.llama.cache_bytes();
        let mut part = PART_TOKENS.min(held / ACTIVATION_SHARE / activations.max(1));
        if !cache.attends_in_place() {
            part = part.min(SCORE_BYTES / (config.num_heads * cache.capacity() * f32_bytes).max(1));
        }
        part.max(1)
    }

    /// The last call's cache cut back to the longest start it shares with `prompt` (an empty
    /// prompt: to nothing); at least the prompt's last token is left to compute, for its logits.
    fn cache_for(&self, prompt: &[u32]) -> KvCache {
        match self.last.lock().unwrap_or_else(PoisonError::into_inner).take() {
            Some(CachedTokens { tokens, mut cache }) => {
                let shared = tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
                cache.truncate(shared.min(prompt.len().saturating_sub(1)));
                cache
            }
            None => self.llama.new_cache(&self.device.device),
        }
    }

    /// Keeps `cache`, which holds `tokens`, for the next call. (After an error nothing is kept,
    /// so a cache is never reused in a state its tokens do not describe.)
    fn keep_cache(&self, tokens: Vec<u32>, cache: KvCache) {
        debug_assert_eq!(tokens.len(), cache.len());
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(CachedTokens { tokens, cache });
    }

    fn check_prompt(&self, prompt: &[u32]) -> Result<()> {
        if prompt.is_empty() {
            return Err(RuntimeError::Invalid("the prompt is empty".into()));
        }
        if prompt.len() >= self.context() {
            return Err(RuntimeError::PromptTooLong { prompt: prompt.len(), limit: self.context() });
        }
        Ok(())
    }
}
