//! What `selene eval` writes: `results.json` (every figure), `table.md` (the paper's Table 1
//! layout with the published rows beside this run, then per-file detail), `chart.svg` (this run
//! beside Selene Mini's published figures) and, in robustness mode, `robustness.svg`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use selene_judge::TaskKind;
use selene_judge::evaluation::{self, BenchmarkScore, Metrics, Overall, Spread};
use selene_judge::paper::TABLE_1;
use serde::Serialize;

use super::Args;
use super::chart::{Series, bar_chart};
use crate::runner::RunCounts;

#[derive(Serialize)]
pub struct FileResult {
    pub file: String,
    pub metrics: Metrics,
}

#[derive(Serialize)]
pub struct BenchmarkResult {
    pub benchmark: String,
    pub task: TaskKind,
    /// The benchmark's column in the paper's Table 1, when it has one.
    pub paper_column: Option<&'static str>,
    /// Over all the benchmark's items, pooled across its files.
    pub metrics: Metrics,
    pub files: Vec<FileResult>,
}

/// Every benchmark judged with one prompt format.
#[derive(Serialize)]
pub struct FormatRun {
    pub format: &'static str,
    pub benchmarks: Vec<BenchmarkResult>,
    pub overall: Option<Overall>,
}

/// A published row of Table 1 over this run's benchmarks.
#[derive(Serialize)]
struct PaperRow {
    model: &'static str,
    previously_published: bool,
    /// The row's figure for each of this run's benchmarks, in order (`None`: not in the row).
    scores: Vec<Option<f64>>,
    /// The overall averages recomputed over this run's benchmarks only, so they compare with
    /// this run's; `None` unless the row has a figure for every benchmark of the run.
    overall: Option<Overall>,
}

/// How far the robustness study's formats spread on one benchmark.
#[derive(Serialize)]
struct FormatSpread {
    benchmark: String,
    /// Each format's figure (mean accuracy of both orders).
    scores: Vec<(&'static str, f64)>,
    spread: Spread,
}

#[derive(Serialize)]
struct Robustness {
    runs: Vec<FormatRun>,
    /// Per pairwise benchmark, then (as `"pairwise average"`) for their mean.
    spread: Vec<FormatSpread>,
}

#[derive(Serialize)]
struct Settings {
    device: String,
    context: usize,
    max_tokens: usize,
    structured: bool,
    prefill: Option<String>,
    limit_per_file: Option<usize>,
}

#[derive(Serialize)]
struct Generation {
    #[serde(flatten)]
    counts: RunCounts,
    seconds: f64,
}

#[derive(Serialize)]
pub struct Report {
    model: String,
    model_sha256: String,
    settings: Settings,
    generation: Generation,
    /// Selene's trained templates.
    main: FormatRun,
    paper: Vec<PaperRow>,
    robustness: Option<Robustness>,
    notes: Vec<String>,
}

const PAIRWISE_AVERAGE: &str = "pairwise average";

impl Report {
    /// `runs[0]` is the run with the trained templates, the others the robustness formats.
    pub fn new(args: &Args, model_sha256: &str, mut runs: Vec<FormatRun>, counts: RunCounts, seconds: f64) -> Report {
        let model = &args.model;
        let robustness_runs = runs.split_off(1);
        let main = runs.pop().expect("the trained run comes first");
        let paper = paper_rows(&main);
        let robustness = (!robustness_runs.is_empty())
            .then(|| Robustness { spread: format_spreads(&robustness_runs), runs: robustness_runs });
        let mut notes = vec![
            "A parse failure counts as wrong: in accuracy it is not right; in a correlation it scores 0.".to_owned(),
            "Pairwise items are judged in both orders; a benchmark's figure is the mean of the two orders' accuracy."
                .to_owned(),
            "Paper rows are Table 1 of arXiv 2501.17195; their overall averages are recomputed over this run's \
             benchmarks."
                .to_owned(),
        ];
        if main.benchmarks.iter().any(|b| b.benchmark == "mt_bench_single") {
            notes.push("mt_bench_single's gold scores are GPT-4's ratings, not human ones.".to_owned());
        }
        if args.reply.structured {
            notes.push(
                "Structured judging (--structured): the result is the most probable label after the reasoning."
                    .to_owned(),
            );
        }
        if let Some(limit) = args.limit {
            notes.push(format!("Only the first {limit} items of each file were judged."));
        }
        Report {
            model: model
                .model
                .file_name()
                .map_or_else(|| model.model.display().to_string(), |n| n.to_string_lossy().into_owned()),
            model_sha256: model_sha256.to_owned(),
            settings: Settings {
                device: model.device.to_string(),
                context: model.context,
                max_tokens: args.reply.max_tokens,
                structured: args.reply.structured,
                prefill: args.reply.prefill.clone(),
                limit_per_file: args.limit,
            },
            generation: Generation { counts, seconds },
            main,
            paper,
            robustness,
            notes,
        }
    }

    /// Writes results.json, table.md and the charts into `folder`.
    pub fn write(&self, folder: &Path) -> Result<()> {
        let mut files = vec![
            ("results.json", serde_json::to_string_pretty(self)? + "\n"),
            ("table.md", self.markdown()),
            ("chart.svg", self.main_chart()),
        ];
        if let Some(robustness) = &self.robustness {
            files.push(("robustness.svg", robustness_chart(robustness)));
        }
        for (name, text) in files {
            let path = folder.join(name);
            selene_atomic::write(&path, text.as_bytes()).with_context(|| path.display().to_string())?;
        }
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let benchmarks = &self.main.benchmarks;
        let kinds: Vec<TaskKind> =
            TaskKind::ALL.into_iter().filter(|k| benchmarks.iter().any(|b| b.task == *k)).collect();
        let _ = writeln!(md, "# {} on {} benchmark(s)\n", self.model, benchmarks.len());
        let mut header = vec!["Model".to_owned(), "Tasks".to_owned(), "Benchmarks".to_owned()];
        header.extend(kinds.iter().map(|k| format!("{} avg", title(k.name()))));
        header.extend(benchmarks.iter().map(column_name));
        table_header(&mut md, &header);
        let run_row = |name: &str, overall: Option<&Overall>, scores: Vec<Option<f64>>| {
            let mut cells =
                vec![name.to_owned(), figure(overall.map(|o| o.tasks)), figure(overall.map(|o| o.benchmarks))];
            cells.extend(
                kinds
                    .iter()
                    .map(|k| figure(overall.and_then(|o| o.task_averages.iter().find(|t| t.0 == *k)).map(|t| t.1))),
            );
            cells.extend(scores.into_iter().map(figure));
            cells
        };
        table_row(
            &mut md,
            &run_row(
                &format!("**{} (this run)**", self.model),
                self.main.overall.as_ref(),
                benchmarks.iter().map(|b| b.metrics.score()).collect(),
            ),
        );
        for row in &self.paper {
            let mark = if row.previously_published { " †" } else { "" };
            table_row(
                &mut md,
                &run_row(&format!("{}{mark} (paper)", row.model), row.overall.as_ref(), row.scores.clone()),
            );
        }
        md.push('\n');
        for kind in &kinds {
            detail_table(&mut md, *kind, benchmarks.iter().filter(|b| b.task == *kind));
        }
        if let Some(robustness) = &self.robustness {
            robustness_table(&mut md, robustness);
        }
        let _ = writeln!(
            md,
            "Judge runs: {} generated, {} from the cache, {:.1} s. Settings: device {}, context {}, max tokens {}{}.\n",
            self.generation.counts.generated,
            self.generation.counts.cached,
            self.generation.seconds,
            self.settings.device,
            self.settings.context,
            self.settings.max_tokens,
            if self.settings.structured { ", structured" } else { "" },
        );
        for note in &self.notes {
            let _ = writeln!(md, "- {note}");
        }
        md
    }

    fn main_chart(&self) -> String {
        let benchmarks = &self.main.benchmarks;
        let mut groups = vec!["Tasks".to_owned(), "Benchmarks".to_owned()];
        groups.extend(benchmarks.iter().map(column_name));
        let values = |overall: Option<&Overall>, scores: Vec<Option<f64>>| {
            let mut values = vec![overall.map(|o| o.tasks), overall.map(|o| o.benchmarks)];
            values.extend(scores);
            values
        };
        let mut series = vec![Series {
            name: format!("{} (this run)", self.model),
            values: values(self.main.overall.as_ref(), benchmarks.iter().map(|b| b.metrics.score()).collect()),
        }];
        if let Some(selene) = self.paper.iter().find(|row| row.model == TABLE_1[0].model) {
            series.push(Series {
                name: format!("{} (paper)", selene.model),
                values: values(selene.overall.as_ref(), selene.scores.clone()),
            });
        }
        bar_chart("Table 1 figures: Pearson r (absolute), accuracy (pairwise, classification)", &groups, &series)
    }
}

/// The published rows with a figure for at least one benchmark of the run.
fn paper_rows(main: &FormatRun) -> Vec<PaperRow> {
    TABLE_1
        .iter()
        .filter_map(|row| {
            let scores: Vec<Option<f64>> = main.benchmarks.iter().map(|b| row.score_for(&b.benchmark)).collect();
            if scores.iter().all(Option::is_none) {
                return None;
            }
            let complete: Option<Vec<BenchmarkScore>> = main
                .benchmarks
                .iter()
                .zip(&scores)
                .map(|(b, score)| {
                    Some(BenchmarkScore { benchmark: b.benchmark.clone(), task: b.task, score: Some((*score)?) })
                })
                .collect();
            Some(PaperRow {
                model: row.model,
                previously_published: row.previously_published,
                overall: complete.as_deref().and_then(evaluation::overall),
                scores,
            })
        })
        .collect()
}

fn format_spreads(runs: &[FormatRun]) -> Vec<FormatSpread> {
    let Some(first) = runs.first() else { return Vec::new() };
    let mut spreads: Vec<FormatSpread> = first
        .benchmarks
        .iter()
        .map(|b| &b.benchmark)
        .filter_map(|name| {
            let scores: Vec<(&'static str, f64)> = runs
                .iter()
                .filter_map(|run| {
                    let score = run.benchmarks.iter().find(|b| &b.benchmark == name)?.metrics.score()?;
                    Some((run.format, score))
                })
                .collect();
            let spread = evaluation::spread(&scores.iter().map(|s| s.1).collect::<Vec<_>>())?;
            Some(FormatSpread { benchmark: name.clone(), scores, spread })
        })
        .collect();
    let averages: Vec<(&'static str, f64)> = runs
        .iter()
        .filter_map(|run| {
            let average = run.overall.as_ref()?.task_averages.iter().find(|t| t.0 == TaskKind::Pairwise)?.1;
            Some((run.format, average))
        })
        .collect();
    if let Some(spread) = evaluation::spread(&averages.iter().map(|s| s.1).collect::<Vec<_>>()) {
        spreads.push(FormatSpread { benchmark: PAIRWISE_AVERAGE.to_owned(), scores: averages, spread });
    }
    spreads
}

fn detail_table<'a>(md: &mut String, kind: TaskKind, benchmarks: impl Iterator<Item = &'a BenchmarkResult>) {
    let (title, columns): (&str, &[&str]) = match kind {
        TaskKind::Absolute => (
            "Absolute scoring: correlation with the gold scores",
            &["Pearson", "Spearman", "Kendall τ-b", "Pearson (parsed only)", "Parse failures"],
        ),
        TaskKind::Classification => ("Classification: accuracy", &["Accuracy", "Parse failures"]),
        TaskKind::Pairwise => (
            "Pairwise preference: accuracy in each order",
            &["Original order", "Swapped order", "Mean", "Consistency", "Parse failures (runs)"],
        ),
    };
    let _ = writeln!(md, "## {title}\n");
    let mut header = vec!["Benchmark".to_owned(), "File".to_owned(), "Items".to_owned()];
    header.extend(columns.iter().map(|c| (*c).to_owned()));
    table_header(md, &header);
    for benchmark in benchmarks {
        for file in &benchmark.files {
            table_row(md, &detail_row(&benchmark.benchmark, &file.file, &file.metrics));
        }
        let all: Vec<String> = detail_row(&benchmark.benchmark, "all", &benchmark.metrics)
            .into_iter()
            .map(|c| format!("**{c}**"))
            .collect();
        table_row(md, &all);
    }
    md.push('\n');
}

fn detail_row(benchmark: &str, file: &str, metrics: &Metrics) -> Vec<String> {
    let mut cells = vec![benchmark.to_owned(), file.to_owned(), metrics.items().to_string()];
    match metrics {
        Metrics::Absolute(m) => {
            cells.extend([m.pearson, m.spearman, m.kendall_tau_b, m.pearson_parsed_only].map(figure));
            cells.push(format!("{} / {}", m.parse_failures, m.items));
        }
        Metrics::Classification(m) => {
            cells.push(figure(Some(m.accuracy)));
            cells.push(format!("{} / {}", m.parse_failures, m.items));
        }
        Metrics::Pairwise(m) => {
            let a = &m.accuracy;
            cells.extend([a.original_order, a.swapped_order, a.mean, a.consistency].map(|v| figure(Some(v))));
            cells.push(format!("{} / {}", m.parse_failures, 2 * m.items));
        }
    }
    cells
}

fn robustness_table(md: &mut String, robustness: &Robustness) {
    let _ = writeln!(md, "## Prompt-format robustness (pairwise, Appendix E): mean accuracy of both orders\n");
    let mut header = vec!["Format".to_owned()];
    header.extend(robustness.spread.iter().map(|s| s.benchmark.clone()));
    table_header(md, &header);
    for run in &robustness.runs {
        let mut cells = vec![run.format.to_owned()];
        cells
            .extend(robustness.spread.iter().map(|s| figure(s.scores.iter().find(|f| f.0 == run.format).map(|f| f.1))));
        table_row(md, &cells);
    }
    for (name, pick) in [
        ("**Spread (max − min)**", (|s: &Spread| s.range) as fn(&Spread) -> f64),
        ("**Std. dev.**", |s| s.std_dev),
        ("**Mean**", |s| s.mean),
    ] {
        let mut cells = vec![name.to_owned()];
        cells.extend(robustness.spread.iter().map(|s| figure(Some(pick(&s.spread)))));
        table_row(md, &cells);
    }
    md.push('\n');
}

fn robustness_chart(robustness: &Robustness) -> String {
    let groups: Vec<String> = robustness.spread.iter().map(|s| s.benchmark.clone()).collect();
    let series: Vec<Series> = robustness
        .runs
        .iter()
        .map(|run| Series {
            name: run.format.to_owned(),
            values: robustness
                .spread
                .iter()
                .map(|s| s.scores.iter().find(|f| f.0 == run.format).map(|f| f.1))
                .collect(),
        })
        .collect();
    bar_chart("Pairwise accuracy (mean of both orders) by prompt format", &groups, &series)
}

/// The paper's heading for a benchmark it has, else the benchmark's own name.
fn column_name(benchmark: &BenchmarkResult) -> String {
    match benchmark.paper_column {
        Some(column) => format!("{column} ({})", benchmark.benchmark),
        None => benchmark.benchmark.clone(),
    }
}

fn title(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().collect::<String>() + chars.as_str())
}

fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"))
}

fn table_header(md: &mut String, cells: &[String]) {
    table_row(md, cells);
    table_row(md, &vec!["---".to_owned(); cells.len()]);
}

fn table_row(md: &mut String, cells: &[String]) {
    let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    let _ = writeln!(md, "| {} |", escaped.join(" | "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_and_cells() {
        assert_eq!(figure(Some(0.86251)), "0.863");
        assert_eq!(figure(None), "n/a");
        assert_eq!(title("pairwise"), "Pairwise");
        let mut md = String::new();
        table_row(&mut md, &["a|b".to_owned(), "c".to_owned()]);
        assert_eq!(md, "| a\\|b | c |\n");
    }
}
