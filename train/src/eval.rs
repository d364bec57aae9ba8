//! Held-out judge accuracy: the policy judges items it was not trained on (selene-judge's item
//! JSON with a `gold` judgment), greedily, with the trained prompt template and its own chat
//! template, and its verdicts are parsed exactly as at inference. A parse failure counts as wrong
//! and is reported on its own, as the benchmarks score it.

use std::path::Path;

use burn::tensor::Device;
use selene_judge::{BuiltinTemplate, Gold, JudgeItem, parse_verdict, render};
use selene_model::Llama;
use selene_tokenizer::{Message, Tokenizer};
use serde::Serialize;

use crate::chat::chat_ids;
use crate::error::{Error, Result, jsonl_lines};
use crate::generate::{Generator, Sampling};

/// Items to judge, with their prompts as token ids.
pub struct EvalSet {
    items: Vec<(JudgeItem, Vec<u32>)>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalResult {
    pub step: usize,
    #[serde(rename = "eval/judge_accuracy")]
    pub accuracy: f64,
    #[serde(rename = "eval/parse_failure_rate")]
    pub parse_failure_rate: f64,
    #[serde(rename = "eval/items")]
    pub items: usize,
}

impl EvalSet {
    pub fn load(path: &Path, tokenizer: &Tokenizer) -> Result<EvalSet> {
        let mut items = Vec::new();
        for (line, text) in jsonl_lines(path)? {
            let item: JudgeItem = serde_json::from_str(&text).map_err(|e| Error::at_line(path, line, "item", e))?;
            if item.gold.is_none() {
                return Err(Error::at_line(path, line, "gold", "required for evaluation"));
            }
            let template = BuiltinTemplate::for_item(&item).template();
            let prompt = render(&template, &item).map_err(|e| Error::at_line(path, line, "item", e))?.text();
            let ids = chat_ids(tokenizer, &[Message::new("user", prompt)], true)?;
            items.push((item, ids));
        }
        Ok(EvalSet { items })
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Judges every item with `model` (a non-autodiff copy of the policy on `device`).
    pub fn run(
        &self,
        step: usize,
        model: &Llama,
        tokenizer: &Tokenizer,
        device: &Device,
        max_new_tokens: usize,
    ) -> Result<EvalResult> {
        let mut generator = Generator::new(model, device);
        let (mut correct, mut failures, mut judged) = (0usize, 0usize, 0usize);
        for (item, prompt) in &self.items {
            let sampling = Sampling { temperature: 0.0, seed: 0 };
            let Some(text) = generator.generate(model, tokenizer, prompt, max_new_tokens, sampling, |_| false)? else {
                continue; // longer than the model's context: not judged
            };
            judged += 1;
            match parse_verdict(&text, item.labels()) {
                Err(_) => failures += 1,
                Ok(verdict) => correct += usize::from(agrees(verdict.result, item.gold.expect("checked at load"))),
            }
        }
        let n = judged.max(1) as f64;
        Ok(EvalResult { step, accuracy: correct as f64 / n, parse_failure_rate: failures as f64 / n, items: judged })
    }
}

/// Whether a verdict matches the gold judgment; a fractional gold score (a mean of ratings)
/// accepts the scores within half a point.
fn agrees(result: selene_judge::Label, gold: Gold) -> bool {
    match (result, gold) {
        (selene_judge::Label::Score(s), Gold::Score(g)) => (f64::from(s) - g).abs() <= 0.5,
        (label, Gold::Label(g)) => label == g,
        _ => false,
    }
}
