//! Held-out judge accuracy: the policy judges items it was not trained on (selene-judge's item
//! JSON with a `gold` judgment) through the runtime's judge, greedily, with the trained prompt
//! template and its own chat template, exactly as `selene judge` would. A parse failure counts
//! as wrong and is reported on its own, as the benchmarks score it.

use std::path::Path;

use burn::tensor::Device;
use selene_judge::{Gold, JudgeItem};
use selene_model::Llama;
use selene_runtime::{ChosenDevice, Engine, Flow, JudgeOptions, RuntimeError, judge};
use selene_tokenizer::Tokenizer;
use serde::Serialize;

use crate::error::{Error, Result, jsonl_lines};

/// Items to judge.
pub struct EvalSet {
    items: Vec<JudgeItem>,
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
    pub fn load(path: &Path) -> Result<EvalSet> {
        let mut items = Vec::new();
        for (line, text) in jsonl_lines(path)? {
            let item: JudgeItem = serde_json::from_str(&text).map_err(|e| Error::at_line(path, line, "item", e))?;
            if item.gold.is_none() {
                return Err(Error::at_line(path, line, "gold", "required for evaluation"));
            }
            items.push(item);
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
        model: Llama,
        tokenizer: &Tokenizer,
        device: &Device,
        max_new_tokens: usize,
    ) -> Result<EvalResult> {
        let device = ChosenDevice { device: device.clone(), name: "training".into(), reason: None };
        let engine = Engine::new(model, tokenizer.clone(), device).map_err(|e| Error::new("eval", "model", e))?;
        let options = JudgeOptions { max_tokens: max_new_tokens, alternatives: 0, ..Default::default() };
        let (mut correct, mut failures, mut judged) = (0usize, 0usize, 0usize);
        for item in &self.items {
            let report = match judge(&engine, item, &options, |_, _| Flow::Continue) {
                Ok(report) => report,
                // Longer than the model's context: not judged.
                Err(RuntimeError::PromptTooLong { .. }) => continue,
                Err(e) => return Err(Error::new("eval", "judge", e)),
            };
            judged += 1;
            match report.judgment.verdict {
                None => failures += 1,
                Some(verdict) => correct += usize::from(agrees(verdict.result, item.gold.expect("checked at load"))),
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
