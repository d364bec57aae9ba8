//! Selene Mini as a judge: what it is asked, and what its answers mean.
//!
//! This crate knows nothing about models or tensors. It turns a [`JudgeItem`] into a prompt
//! ([`render`] with a [`Template`], by default [`BuiltinTemplate::for_item`]), a model's text
//! back into a [`Verdict`] ([`parse_verdict`]), next-token log-probabilities into a
//! [`LabelDistribution`], the two runs of a swapped pair into an [`OrderReport`], and many
//! verdicts into [`metrics`]. It has no I/O and no threads, so the CLI and the browser (wasm32)
//! share it unchanged.
//!
//! # Contract with the runtime
//!
//! - **The prompt is one user message.** [`Prompt::text`] is its content; apply the model's own
//!   chat template around it, with no system prompt, and add no second BOS.
//! - **Special tokens come only from the chat template.** Tokenize the content with special-token
//!   recognition off (with `tokenizers`: `set_encode_special_tokens(true)`), so that a
//!   `<|eot_id|>` inside a judged response is plain text. Tokenize the content as one string,
//!   not segment by segment: the model was trained on whole-string tokenization, and BPE merges
//!   cross segment boundaries (`[` + a rubric's first word). [`Prompt::segments`] and
//!   [`Prompt::data_ranges`] mark which bytes are user data, for display and for checks such as
//!   "no special token id was produced inside a data range".
//! - **Parsing** takes the generated text without the stop token and the item's
//!   [`JudgeItem::labels`].
//! - **Score distributions.** While generating, keep each sampled token's bytes and the top
//!   candidates (text, log-probability) the model offered at that step. [`find_result_token`]
//!   returns the index of the token holding the result; pass the candidates recorded for that
//!   index to [`label_distribution`].
//! - **Position bias.** For pairwise items judge [`JudgeItem::swapped`] too and combine the two
//!   verdicts with [`combine_orders`].
//! - **Benchmarks.** [`evaluation`] turns verdicts on gold-labelled items into the figures of the
//!   paper's Table 1; [`paper`] holds the published table to compare with.

mod benchmark;
mod builtin;
mod distribution;
pub mod evaluation;
mod item;
mod items_file;
mod label;
pub mod metrics;
pub mod paper;
mod position;
mod prompt;
mod template;
mod verdict;
mod yaml;

pub use benchmark::{BenchmarkError, BenchmarkFormat};
pub use builtin::BuiltinTemplate;
pub use distribution::{
    DistributionError, LabelDistribution, ResultToken, ResultTokenError, find_result_token, label_distribution,
};
pub use item::{BinaryRubric, Gold, ItemError, JudgeItem, ScoreRubric, TaskInput, TaskKind};
pub use items_file::{KeyedItem, read_items};
pub use label::{Label, LabelSet, Side};
pub use position::{OrderReport, combine_orders};
pub use prompt::{Prompt, PromptPart, RenderError, render};
pub use template::{Template, TemplateError, Variable};
pub use verdict::{ParseFailure, Verdict, parse_verdict};
