//! Judging items one after another, for `selene batch` and `selene eval` alike: the model is
//! loaded when the first run needs it (a run served entirely from the generation cache never
//! loads it), each run is taken from the cache when it holds it and stored there when it does
//! not, and Ctrl-C stops after the current token, keeping what is finished (a second Ctrl-C
//! exits at once).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use selene_judge::{JudgeItem, KeyedItem};
use selene_runtime::{
    Engine, Flow, GeneratedToken, JudgeOptions, JudgeReport, Judgment, RuntimeError, judge_once, judge_orders,
};
use serde::Serialize;

use crate::generation_cache::{CachedRun, GenerationCache};
use crate::model_args::ModelArgs;

/// The result of judging one item.
pub enum Judged {
    Report(JudgeReport),
    /// The item could not be judged (e.g. its prompt is longer than the context); it says why.
    Failed(String),
    /// Ctrl-C: nothing finished for this item.
    Interrupted,
}

/// How many runs of the judge were generated and how many came from the cache (a cached
/// error, a prompt too long for the context, counts as cached; it is never generated).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct RunCounts {
    pub generated: usize,
    pub cached: usize,
}

pub struct Runner<'a> {
    model: &'a ModelArgs,
    engine: Option<Engine>,
    cache: Option<GenerationCache>,
    interrupted: Arc<AtomicBool>,
    counts: RunCounts,
}

/// Why one run of the judge ended without a judgment.
enum RunError {
    /// Only this item is affected.
    Item(String),
    /// Nothing can be judged (the model does not load, the cache cannot be written).
    Fatal(anyhow::Error),
    Interrupted,
}

impl<'a> Runner<'a> {
    /// A runner for the model of `model`, with Ctrl-C handled from now on.
    pub fn new(model: &'a ModelArgs, cache: Option<GenerationCache>) -> Result<Runner<'a>> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        })?;
        Ok(Runner { model, engine: None, cache, interrupted, counts: RunCounts::default() })
    }

    pub fn counts(&self) -> RunCounts {
        self.counts
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Judges `item` (in both orders when `options.swap`); an error only when nothing more can
    /// be judged.
    pub fn judge(&mut self, item: &JudgeItem, options: &JudgeOptions) -> Result<Judged> {
        let report =
            pollster::block_on(judge_orders(item, options.swap, async |_, item| self.run(item, options).await));
        match report {
            Ok(report) => Ok(Judged::Report(report)),
            Err(RunError::Item(why)) => Ok(Judged::Failed(why)),
            Err(RunError::Interrupted) => Ok(Judged::Interrupted),
            Err(RunError::Fatal(error)) => Err(error),
        }
    }

    /// Judges the keyed item, or passes on why its line is not an item.
    pub fn judge_keyed(&mut self, keyed: &KeyedItem, options: &JudgeOptions) -> Result<Judged> {
        match &keyed.item {
            Ok(item) => self.judge(item, options),
            Err(why) => Ok(Judged::Failed(why.clone())),
        }
    }

    /// One run: from the cache, else generated (and cached).
    async fn run(&mut self, item: &JudgeItem, options: &JudgeOptions) -> Result<Judgment, RunError> {
        let key = match &self.cache {
            Some(cache) => {
                let prompt = options.prompt_text(item).map_err(|e| RunError::Item(e.to_string()))?;
                let key = cache.key(&prompt, options);
                if let Some(run) = cache.get(&key) {
                    self.counts.cached += 1;
                    return run.map_err(RunError::Item);
                }
                Some(key)
            }
            None => None,
        };
        if self.interrupted() {
            return Err(RunError::Interrupted);
        }
        if self.engine.is_none() {
            self.engine = Some(self.model.load().map_err(RunError::Fatal)?);
        }
        let engine = self.engine.as_ref().expect("loaded above");
        let interrupted = &self.interrupted;
        let flow = |_: &GeneratedToken| if interrupted.load(Ordering::SeqCst) { Flow::Stop } else { Flow::Continue };
        let run: CachedRun = match judge_once(engine, item, options, flow).await {
            Ok(_) if self.interrupted() => return Err(RunError::Interrupted),
            Ok(judgment) => {
                self.counts.generated += 1;
                Ok(judgment)
            }
            // The same prompt will not fit next time either.
            Err(e @ RuntimeError::PromptTooLong { .. }) => Err(e.to_string()),
            Err(e) => return Err(RunError::Item(e.to_string())),
        };
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            cache.put(&key, &run).map_err(RunError::Fatal)?;
        }
        run.map_err(RunError::Item)
    }
}

/// A progress bar over `len` items, with their rate and the time left.
pub fn progress_bar(len: usize) -> Result<ProgressBar> {
    Ok(ProgressBar::new(len as u64)
        .with_style(ProgressStyle::with_template("{bar:30} {pos}/{len} items  {per_sec}  ETA {eta}  {msg}")?))
}

/// The output line of one item (`selene batch`'s format): its report with its key and gold
/// label, or its key and the error that kept it from being judged.
pub fn result_line(keyed: &KeyedItem, judged: &Judged) -> Result<String> {
    let mut value = match judged {
        Judged::Report(report) => serde_json::to_value(report)?,
        Judged::Failed(error) => serde_json::json!({ "error": error }),
        Judged::Interrupted => anyhow::bail!("an interrupted item has no result line"),
    };
    value["key"] = keyed.key.as_str().into();
    if let Ok(item) = &keyed.item {
        value["gold"] = serde_json::to_value(item.gold)?;
    }
    Ok(serde_json::to_string(&value)? + "\n")
}
