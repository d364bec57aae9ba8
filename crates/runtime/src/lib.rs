//! Runs Llama-family GGUF models: loading onto a Burn device, chat templates, sampling and
//! streaming generation, written so that the same loop runs natively and in a browser, and the
//! judge built on them.

mod backend;
mod engine;
mod error;
mod judging;
mod sampling;

pub use backend::Backend;
pub use engine::{Engine, Flow, GeneratedToken, Generation, LoadOptions, StopReason};
pub use error::{Result, RuntimeError};
pub use judging::{JudgeOptions, JudgeReport, Judgment, Run, judge, judge_async, judge_once, judge_orders};
pub use sampling::{CANDIDATES, Choice, GenerationConfig, Rng, Sampler};
pub use selene_kernels::{Schedule, tune_briefly};
pub use selene_tokenizer::Message;
