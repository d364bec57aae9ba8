//! Training Selene-style judges: the paper's data curation (§2.1-2.3) and its DPO + NLL
//! fine-tuning (§2.4) of the model crate's Llama, on Burn.
//!
//! Modules, in the order data flows:
//! - [`curate`]: judge datasets ([`curate::DatasetSpec`] field mappings) → filters → chosen and
//!   rejected judgments → critiques from a [`curate::CritiqueWriter`] (a GGUF model run by the
//!   runtime's engine) → consistency filter → a pairs file ([`pairs`]).
//! - [`data`]: pairs → token ids through the policy's chat template;
//!   [`batch`] lays micro-batches out as tensors.
//! - [`loss`]: sequence log-probabilities and DPO + NLL; [`metrics`] under TRL's names.
//! - [`trainer`]: the loop, with [`lora`] adapters or full weights, [`optim`] (AdamW, global
//!   clipping), [`schedule`], a [`parallel`] strategy over the devices (at a [`device`]
//!   precision), [`checkpoint`]s and held-out judge accuracy through the runtime's judge
//!   ([`eval`]); at the end [`export`] (Hugging Face folder), PEFT
//!   adapters ([`lora`]) and a [`report`].

pub mod batch;
pub mod checkpoint;
pub mod curate;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod export;
pub mod lora;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod pairs;
pub mod parallel;
pub mod report;
pub mod schedule;
pub mod trainer;
