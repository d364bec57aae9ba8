//! `selene eval`: a judge model over benchmark files, scored as the Selene Mini paper scores it
//! (Table 1), with an optional prompt-format robustness study (Appendix E).
//!
//! Every run of the judge goes through the generation cache, so the evaluation is resumable
//! (a killed run starts again where it stopped) and scoring the same judgments again, into
//! another folder or with other benchmarks beside them, generates nothing. Pairwise items are
//! always judged in both orders: HHH and EvalBiasBench put the better response first in every
//! row, so a single order would measure position bias as much as judgment.

mod chart;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use selene_judge::evaluation::{self, BenchmarkScore, Outcome};
use selene_judge::{BuiltinTemplate, KeyedItem, Label, TaskKind, paper};
use selene_runtime::{JudgeOptions, Judgment};

use crate::generation_cache::GenerationCache;
use crate::items::{self, ItemFile};
use crate::judge::ReplyArgs;
use crate::model_args::ModelArgs;
use crate::runner::{Judged, Runner, progress_bar, result_line};
use report::{BenchmarkResult, FileResult, FormatRun, Report};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Benchmarks: folders or files. A folder named evalbiasbench, hhh, mt_bench_single or
    /// biggen-bench is read in that benchmark's format; anything else as item files (JSONL or
    /// CSV in the item schema) whose items carry `gold`.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Folder for results.json, table.md, chart.svg and the per-item results (items/).
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Judge only the first N items of each file.
    #[arg(long)]
    limit: Option<usize>,
    /// Also judge the pairwise benchmarks with each prompt format of the paper's robustness
    /// study (Appendix E) and report how far their figures spread.
    #[arg(long)]
    robustness: bool,
    /// The generation cache [default: ~/.cache/selene/generations].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    reply: ReplyArgs,
}

/// One benchmark: every file read from one input, all of one task kind.
struct Benchmark {
    name: String,
    task: TaskKind,
    files: Vec<ItemFile>,
}

/// The prompt a run judges with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PromptFormat {
    /// Selene's trained template for each item's task (rubric-less pairwise items get
    /// `pairwise-original`).
    Trained,
    Builtin(BuiltinTemplate),
}

/// The pairwise formats of the robustness study, as the paper lists them.
const ROBUSTNESS_FORMATS: [BuiltinTemplate; 5] = [
    BuiltinTemplate::PairwiseOriginal,
    BuiltinTemplate::PairwiseMarkdown,
    BuiltinTemplate::PairwiseJson,
    BuiltinTemplate::PairwisePrePair,
    BuiltinTemplate::PairwiseSimplified,
];

impl PromptFormat {
    fn name(self) -> &'static str {
        match self {
            PromptFormat::Trained => "trained",
            PromptFormat::Builtin(builtin) => builtin.name(),
        }
    }

    fn applies_to(self, task: TaskKind) -> bool {
        self == PromptFormat::Trained || task == TaskKind::Pairwise
    }
}

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let benchmarks = args.inputs.iter().map(|input| read_benchmark(input, args.limit)).collect::<Result<Vec<_>>>()?;
    for (i, benchmark) in benchmarks.iter().enumerate() {
        if benchmarks[..i].iter().any(|b| b.name == benchmark.name) {
            bail!("benchmark {:?} is given twice", benchmark.name);
        }
    }
    let mut formats = vec![PromptFormat::Trained];
    if args.robustness {
        if !benchmarks.iter().any(|b| b.task == TaskKind::Pairwise) {
            bail!("--robustness varies the pairwise prompt, but no benchmark given is pairwise");
        }
        formats.extend(ROBUSTNESS_FORMATS.map(PromptFormat::Builtin));
    }
    let cache_root = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => GenerationCache::default_root()?,
    };
    let cache = GenerationCache::open(&cache_root, &args.model)?;
    let model_sha256 = cache.model_sha256().to_owned();
    let mut runner = Runner::new(&args.model, Some(cache))?;

    let total: usize = formats
        .iter()
        .flat_map(|f| benchmarks.iter().filter(|b| f.applies_to(b.task)))
        .flat_map(|b| &b.files)
        .map(|f| f.items.len())
        .sum();
    eprintln!("{total} items to score ({} benchmarks, {} prompt formats)", benchmarks.len(), formats.len());
    let progress = progress_bar(total)?;
    let mut runs = Vec::new();
    for &format in &formats {
        let options = args.reply.options(
            match format {
                PromptFormat::Trained => None,
                PromptFormat::Builtin(builtin) => Some(builtin.template()),
            },
            true,
        );
        let mut results = Vec::new();
        for benchmark in benchmarks.iter().filter(|b| format.applies_to(b.task)) {
            progress.set_message(format!("{} / {}", format.name(), benchmark.name));
            let folder = args.output.join("items").join(format.name()).join(&benchmark.name);
            let mut files = Vec::new();
            let mut pooled = Vec::new();
            for file in &benchmark.files {
                let outcomes = judge_file(&mut runner, &options, file, &folder.join(&file.name), || progress.inc(1))?;
                files.push(FileResult { file: file.name.clone(), metrics: evaluation::evaluate(&outcomes)? });
                pooled.extend(outcomes);
            }
            results.push(BenchmarkResult {
                benchmark: benchmark.name.clone(),
                task: benchmark.task,
                paper_column: paper::column_for(&benchmark.name).map(|c| c.name),
                metrics: evaluation::evaluate(&pooled)?,
                files,
            });
        }
        let scores: Vec<BenchmarkScore> = results
            .iter()
            .map(|r| BenchmarkScore { benchmark: r.benchmark.clone(), task: r.task, score: r.metrics.score() })
            .collect();
        runs.push(FormatRun { format: format.name(), overall: evaluation::overall(&scores), benchmarks: results });
    }
    progress.finish_and_clear();

    let counts = runner.counts();
    let seconds = started.elapsed().as_secs_f64();
    let report = Report::new(args, &model_sha256, runs, counts, seconds);
    report.write(&args.output)?;
    println!("{}", report.markdown());
    eprintln!(
        "{} runs of the judge: {} generated, {} from the cache, in {seconds:.1} s; results in {}",
        counts.generated + counts.cached,
        counts.generated,
        counts.cached,
        args.output.display()
    );
    Ok(())
}

/// Reads one benchmark input, keeping the first `limit` items of each file, and checks that it
/// can be scored: every line an item with a gold label, all of one task kind.
fn read_benchmark(input: &Path, limit: Option<usize>) -> Result<Benchmark> {
    let read = items::read_input(input, None)?;
    let mut task = None;
    let mut files = Vec::new();
    for mut file in read.files {
        file.items.truncate(limit.unwrap_or(usize::MAX));
        for keyed in &file.items {
            let item = keyed.item.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
            if item.gold.is_none() {
                bail!("{}: item {:?} has no gold label to score against", file.name, keyed.key);
            }
            match task {
                None => task = Some(item.kind()),
                Some(kind) if kind != item.kind() => bail!(
                    "{}: item {:?} is {} but the benchmark's other items are {}; give each task kind its own folder",
                    file.name,
                    keyed.key,
                    item.kind().name(),
                    kind.name()
                ),
                Some(_) => {}
            }
        }
        if !file.items.is_empty() {
            files.push(file);
        }
    }
    let task = task.with_context(|| format!("{}: no items", input.display()))?;
    Ok(Benchmark { name: read.name, task, files })
}

/// Judges every item of `file`, writes their results to `path` (`.jsonl`, `selene batch`'s
/// format) and returns their outcomes.
fn judge_file(
    runner: &mut Runner,
    options: &JudgeOptions,
    file: &ItemFile,
    path: &Path,
    mut on_item: impl FnMut(),
) -> Result<Vec<Outcome>> {
    let mut lines = String::new();
    let mut outcomes = Vec::new();
    for keyed in &file.items {
        let judged = runner.judge_keyed(keyed, options)?;
        if matches!(judged, Judged::Interrupted) {
            bail!("interrupted: every finished judgment is cached; run the same command again to resume");
        }
        lines.push_str(&result_line(keyed, &judged)?);
        outcomes.push(outcome(keyed, &judged)?);
        on_item();
    }
    let results = path.with_extension("jsonl");
    selene_atomic::write(&results, lines.as_bytes()).with_context(|| results.display().to_string())?;
    Ok(outcomes)
}

/// The outcome of one judged item; an item that could not be judged gave no verdict.
fn outcome(keyed: &KeyedItem, judged: &Judged) -> Result<Outcome> {
    let item = keyed.item.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let label = |j: &Judgment| j.verdict.as_ref().map(|v| v.result);
    let (original, swapped): (Option<Label>, Option<Label>) = match judged {
        Judged::Report(report) => (label(&report.judgment), report.swapped.as_ref().and_then(label)),
        _ => (None, None),
    };
    Outcome::new(item, original, swapped).with_context(|| format!("{}", keyed.key))
}
