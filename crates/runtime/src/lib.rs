//! Runs Llama-family GGUF models: loading onto a Burn device, chat templates, sampling and
//! streaming generation, written so that the same loop runs natively and in a browser, and the
//! judge built on them.

mod device;
mod engine;
mod error;
mod judging;
mod load;
mod rng;
mod sampling;
mod threads;

pub use device::{ChosenDevice, DeviceSpec};
pub use engine::{Engine, Flow, GeneratedToken, Generation, LoadOptions, StopReason};
pub use error::{Result, RuntimeError};
pub use judging::{JudgeOptions, JudgeReport, Judgment, Run, judge, judge_async, judge_once, judge_orders};
pub use load::{LoadProgress, ShardOptions, ShardReader, read_layout};
pub use rng::Rng;
pub use sampling::{Choice, GenerationConfig};
pub use selene_kernels::{CacheType, Compute, tune_briefly};
pub use selene_tokenizer::Message;
pub use threads::{physical_cores, threads, use_threads};
