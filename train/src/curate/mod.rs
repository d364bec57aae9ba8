//! Data curation (paper §2, Figure 2): judge datasets → filtered items → preference pairs with
//! chain-of-thought critiques → a pairs file for the trainer.
//!
//! Steps, each reporting how many records came in and went out (and why the others left):
//! read → null filter → whole-number gold → Latin/Greek filter → dedupe → reward threshold →
//! held-out split → chosen/rejected judgments (positions randomized) → 70/30 critique vs
//! judgment-only → critiques → consistency filter → pairs. Everything random is drawn from
//! streams derived from the config's seed and the item's place, so a run can be repeated exactly.

mod critique;
mod critique_model;
mod filters;
mod judgment;
mod reward;
mod source;

use std::collections::BTreeMap;
use std::path::Path;

use selene_judge::{BuiltinTemplate, JudgeItem, TaskInput, render};
use serde::{Deserialize, Serialize};

pub use critique::{CritiqueRequest, CritiqueWriter};
pub use critique_model::CritiqueModel;
pub use judgment::{Consistency, Judgment};
pub use source::DatasetSpec;

use crate::error::{Error, Result};
use crate::pairs::{PairFormat, PairRecord};
use reward::{RewardScorer, ScoreFile};
use selene_runtime::Rng;
use source::SourceItem;

/// A curation run, read from a JSON file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurationConfig {
    #[serde(default)]
    pub seed: u64,
    /// Share of pairs with a critique before the judgment; the rest are judgment-only.
    #[serde(default = "default_cot_fraction")]
    pub cot_fraction: f64,
    /// Items held out of training (with their gold judgments) for evaluation.
    #[serde(default)]
    pub eval_items: usize,
    pub datasets: Vec<DatasetSpec>,
}

fn default_cot_fraction() -> f64 {
    0.7
}

impl CurationConfig {
    pub fn load(path: &Path) -> Result<CurationConfig> {
        let config: CurationConfig =
            serde_json::from_slice(&crate::error::read(path)?).map_err(|e| Error::file(path, "config", e))?;
        if !(0.0..=1.0).contains(&config.cot_fraction) {
            return Err(Error::file(path, "cot_fraction", "must be between 0 and 1"));
        }
        if config.datasets.is_empty() {
            return Err(Error::file(path, "datasets", "lists no dataset"));
        }
        Ok(config)
    }
}

/// One step's counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Step {
    pub step: String,
    #[serde(rename = "in")]
    pub input: usize,
    #[serde(rename = "out")]
    pub output: usize,
    /// Why records left, with how many left for each reason.
    pub dropped: BTreeMap<String, usize>,
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub steps: Vec<Step>,
    /// Pairs written, by format.
    pub pairs: BTreeMap<String, usize>,
    pub eval_items: usize,
}

impl Report {
    fn step(&mut self, name: &str, input: usize, dropped: BTreeMap<String, usize>) -> usize {
        let output = input - dropped.values().sum::<usize>();
        self.steps.push(Step { step: name.to_owned(), input, output, dropped });
        output
    }

    /// The counts as a table for people.
    pub fn table(&self) -> String {
        let mut s = format!("{:<26}{:>8}{:>8}  dropped\n", "step", "in", "out");
        for step in &self.steps {
            let why: Vec<String> = step.dropped.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            s.push_str(&format!("{:<26}{:>8}{:>8}  {}\n", step.step, step.input, step.output, why.join(", ")));
        }
        let formats: Vec<String> = self.pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        s.push_str(&format!(
            "pairs written: {} ({}); held-out items: {}\n",
            self.pairs.values().sum::<usize>(),
            formats.join(", "),
            self.eval_items
        ));
        s
    }
}

/// Streams of randomness, one per purpose.
#[derive(Clone, Copy)]
enum Stream {
    Split = 1,
    Position = 2,
    Format = 3,
    Rejected = 4,
    Critique = 5,
}

/// A curated item on its way to becoming a pair.
struct Candidate {
    source: SourceItem,
    /// The rendered judge prompt.
    prompt: String,
    template: BuiltinTemplate,
}

/// Runs the pipeline: writes `pairs_out` (and `eval_out`, the held-out items) and returns the
/// counts. Dataset paths are relative to `base`.
pub fn curate(
    config: &CurationConfig,
    base: &Path,
    writer: &mut dyn CritiqueWriter,
    pairs_out: &Path,
    eval_out: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<Report> {
    let mut report = Report::default();
    let (mut items, mut rows, mut nulls, mut fractional) = (Vec::new(), 0, BTreeMap::new(), 0);
    for spec in &config.datasets {
        let read = spec.read(base)?;
        let scorer = match &spec.reward {
            Some(r) => Some((ScoreFile::open(&base.join(&r.scores))?, r.threshold)),
            None => None,
        };
        rows += read.items.len() + read.null.values().sum::<usize>() + read.fractional_gold;
        for (field, n) in read.null {
            *nulls.entry(format!("null {field}")).or_default() += n;
        }
        fractional += read.fractional_gold;
        for item in read.items {
            let score = match &scorer {
                Some((scorer, threshold)) => Some((scorer.score(item_id(&item))?, *threshold)),
                None => None,
            };
            items.push((item, score));
        }
    }
    let after_null = report.step("null filter", rows, nulls);
    report.step("whole-number gold", after_null, BTreeMap::from([("fractional score".to_owned(), fractional)]));

    let before = items.len();
    items.retain(|(s, _)| texts(&s.item).iter().all(|t| filters::foreign_letter(t).is_none()));
    report.step("Latin/Greek filter", before, dropped("non-Latin/Greek letters", before - items.len()));

    let mut dedupe = filters::Dedupe::default();
    let mut candidates = Vec::new();
    let mut duplicates = 0;
    let mut below_threshold = 0;
    let before = items.len();
    for (source, score) in items {
        let template = BuiltinTemplate::for_item(&source.item);
        let prompt = render(&template.template(), &source.item)
            .map_err(|e| Error::new(&source.dataset, format!("line {}", source.line), e))?
            .text();
        if dedupe.is_duplicate(&prompt) {
            duplicates += 1;
            continue;
        }
        if score.is_some_and(|(score, threshold)| score < threshold) {
            below_threshold += 1;
            continue;
        }
        candidates.push(Candidate { source, prompt, template });
    }
    let deduped = report.step("dedupe", before, dropped("duplicate", duplicates));
    report.step("reward threshold", deduped, dropped("below threshold", below_threshold));

    // Held-out items: a seeded sample, kept out of the pairs.
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    Rng::derive(config.seed, &[Stream::Split as u64]).shuffle(&mut order);
    let held: std::collections::HashSet<usize> = order.iter().take(config.eval_items).copied().collect();
    if let Some(path) = eval_out {
        let eval: Vec<&JudgeItem> = order.iter().take(config.eval_items).map(|&i| &candidates[i].source.item).collect();
        write_jsonl(path, &eval)?;
        report.eval_items = eval.len();
    }
    let before = candidates.len();
    let candidates: Vec<(usize, Candidate)> =
        candidates.into_iter().enumerate().filter(|(i, _)| !held.contains(i)).collect();
    report.step("held-out split", before, dropped("held out", before - candidates.len()));

    let mut pairs = Vec::new();
    let mut drops: BTreeMap<String, usize> = BTreeMap::new();
    let total = candidates.len();
    for (n, (index, candidate)) in candidates.into_iter().enumerate() {
        let key = index as u64;
        let Candidate { mut source, mut prompt, template } = candidate;
        let mut swapped = false;
        if Rng::derive(config.seed, &[Stream::Position as u64, key]).below(2) == 1 {
            if let Some(item) = source.item.swapped() {
                source.gold = match source.gold {
                    Judgment::Label(l) => Judgment::Label(l.side().map_or(l, |s| s.other().into())),
                    Judgment::Tie => Judgment::Tie,
                };
                source.item = item;
                prompt = render(&template.template(), &source.item).expect("rendered before the swap").text();
                swapped = true;
            }
        }
        let labels = source.item.labels();
        let Some(rejected) =
            judgment::rejected_for(source.gold, labels, &mut Rng::derive(config.seed, &[Stream::Rejected as u64, key]))
        else {
            *drops.entry("no rejected score on the scale".into()).or_default() += 1;
            continue;
        };
        let cot = Rng::derive(config.seed, &[Stream::Format as u64, key]).unit() < config.cot_fraction;
        let mut provenance = serde_json::json!({
            "dataset": source.dataset, "line": source.line, "item_id": item_id(&source),
            "template": template.name(), "swapped": swapped, "seed": config.seed,
        });
        let (chosen, rejected_text, format) = if cot {
            progress(&format!("critiques {}/{total}: {}", n + 1, item_id(&source)));
            let mut write = |target: Judgment, side: u64| -> Result<Option<String>> {
                let argue_for = target.to_string();
                let seed = Rng::derive(config.seed, &[Stream::Critique as u64, key, side]).next_u64();
                writer.write(&CritiqueRequest { judge_prompt: &prompt, argue_for: &argue_for, seed })
            };
            let (Some(chosen), Some(rejected_text)) = (write(source.gold, 0)?, write(rejected, 1)?) else {
                *drops.entry("prompt too long for the writer".into()).or_default() += 1;
                continue;
            };
            if let Some(reason) = inconsistency("chosen", &chosen, source.gold, labels)
                .or_else(|| inconsistency("rejected", &rejected_text, rejected, labels))
            {
                *drops.entry(reason).or_default() += 1;
                continue;
            }
            provenance["writer"] = writer.describe();
            (chosen, rejected_text, PairFormat::Cot)
        } else {
            (format!("**Result:** {}", source.gold), format!("**Result:** {rejected}"), PairFormat::Judgment)
        };
        pairs.push(PairRecord {
            id: item_id(&source).to_owned(),
            task: Some(task_name(&source.item).to_owned()),
            format: Some(format),
            prompt,
            chosen,
            rejected: rejected_text,
            chosen_judgment: Some(source.gold.to_string()),
            rejected_judgment: Some(rejected.to_string()),
            provenance,
        });
    }
    report.step("pairs and critiques", total, drops);
    for pair in &pairs {
        let format = match pair.format {
            Some(PairFormat::Cot) => "cot",
            _ => "judgment",
        };
        *report.pairs.entry(format.to_owned()).or_default() += 1;
    }
    write_jsonl(pairs_out, &pairs)?;
    Ok(report)
}

fn dropped(reason: &str, n: usize) -> BTreeMap<String, usize> {
    BTreeMap::from([(reason.to_owned(), n)])
}

fn item_id(source: &SourceItem) -> &str {
    source.item.id.as_deref().unwrap_or_default()
}

fn task_name(item: &JudgeItem) -> &'static str {
    match item.task {
        TaskInput::Absolute { .. } => "absolute",
        TaskInput::Classification { .. } => "classification",
        TaskInput::Pairwise { .. } => "pairwise",
    }
}

/// Every text of an item that the judge reads.
fn texts(item: &JudgeItem) -> Vec<&str> {
    let mut texts = vec![item.user_input.as_str()];
    match &item.task {
        TaskInput::Absolute { response, rubric, reference } => {
            texts.extend([response.as_str(), rubric.objective.as_str()]);
            texts.extend(rubric.scores.iter().map(String::as_str));
            texts.extend(reference.as_deref());
        }
        TaskInput::Classification { response, rubric, reference } => {
            texts.extend([response.as_str(), &rubric.objective, &rubric.yes, &rubric.no]);
            texts.extend(reference.as_deref());
        }
        TaskInput::Pairwise { response_a, response_b, objective } => {
            texts.extend([response_a.as_str(), response_b.as_str()]);
            texts.extend(objective.as_deref());
        }
    }
    texts
}

/// Why a critique fails the consistency filter, as a report reason.
fn inconsistency(side: &str, text: &str, target: Judgment, labels: selene_judge::LabelSet) -> Option<String> {
    match judgment::check(text, target, labels) {
        Consistency::Consistent => None,
        Consistency::Mismatch(_) => Some(format!("{side} critique concludes otherwise")),
        Consistency::Unreadable(_) => Some(format!("{side} critique has no readable result")),
    }
}

/// Writes records as JSON Lines through a temporary file, so a reader never sees half a file.
pub fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    let mut text = Vec::new();
    for r in records {
        serde_json::to_writer(&mut text, r).map_err(|e| Error::file(path, "write", e))?;
        text.push(b'\n');
    }
    crate::error::write(path, &text)
}

impl Report {
    /// Writes the report as JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| Error::file(path, "write", e))?;
        text.push(b'\n');
        crate::error::write(path, &text)
    }
}
