//! Table 1 of the Selene Mini paper (Alexandru et al., "Atla Selene Mini: A General Purpose
//! Evaluation Model", arXiv 2501.17195), so that a run can be read beside the published figures.
//!
//! The figures are the paper's, to three decimals; `-` in the paper is `None`. Four of the
//! eleven benchmarks are in the project's shared data, and [`Column::benchmark`] names the folder
//! each one is read from. Which MT-Bench set the paper scored is not stated; the shared
//! `mt_bench_single` is the SFR-Judge/Prometheus one, scored against GPT-4's ratings.

use crate::item::TaskKind;

/// One benchmark column of Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column's heading in the paper.
    pub name: &'static str,
    pub task: TaskKind,
    /// The benchmark's folder in the shared data (its `BenchmarkFormat` name), when we have it.
    pub benchmark: Option<&'static str>,
}

/// One model's row of Table 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub model: &'static str,
    /// The paper took this row's numbers from the model's own report (marked † in the table).
    pub previously_published: bool,
    /// "Overall (average)": over task types, and over benchmarks.
    pub tasks: Option<f64>,
    pub benchmarks: Option<f64>,
    /// One figure per entry of [`COLUMNS`], in order: Pearson's r for absolute scoring,
    /// accuracy for the others.
    pub scores: [Option<f64>; 11],
}

const fn column(name: &'static str, task: TaskKind, benchmark: Option<&'static str>) -> Column {
    Column { name, task, benchmark }
}

/// Table 1's benchmark columns, in the paper's order.
pub const COLUMNS: [Column; 11] = [
    column("MT-Bench", TaskKind::Absolute, Some("mt_bench_single")),
    column("FLASK", TaskKind::Absolute, None),
    column("BiGGen", TaskKind::Absolute, Some("biggen-bench")),
    column("RewardB", TaskKind::Pairwise, None),
    column("LFQA", TaskKind::Pairwise, None),
    column("HHH", TaskKind::Pairwise, Some("hhh")),
    column("EvalBias", TaskKind::Pairwise, Some("evalbiasbench")),
    column("InstruSum", TaskKind::Pairwise, None),
    column("Auto-J", TaskKind::Pairwise, None),
    column("InfoBench", TaskKind::Classification, None),
    column("LLMAggrFact", TaskKind::Classification, None),
];

const fn row(model: &'static str, previously_published: bool, overall: [f64; 2], scores: [f64; 11]) -> Row {
    let mut known_scores = [None; 11];
    let mut i = 0;
    while i < 11 {
        known_scores[i] = known(scores[i]);
        i += 1;
    }
    Row { model, previously_published, tasks: known(overall[0]), benchmarks: known(overall[1]), scores: known_scores }
}

/// The paper's `-` is written [`NA`] in the table below.
const fn known(value: f64) -> Option<f64> {
    if value < 0.0 { None } else { Some(value) }
}

const NA: f64 = -1.0;

/// Table 1, row by row.
#[rustfmt::skip]
pub const TABLE_1: [Row; 7] = [
    row("Atla-Selene-Mini", false, [0.756, 0.753],
        [0.746, 0.613, 0.584, 0.891, 0.688, 0.900, 0.863, 0.732, 0.576, 0.915, 0.778]),
    row("SFR-LLaMA-3.1-8B-Judge", true, [0.749, 0.750],
        [0.710, 0.520, 0.590, 0.887, 0.689, 0.941, 0.850, 0.749, 0.603, 0.928, 0.780]),
    row("GPT-4o-mini", false, [0.743, 0.735],
        [0.700, 0.615, 0.605, 0.801, 0.731, 0.896, 0.725, 0.701, 0.625, 0.906, 0.781]),
    row("Llama-3.1-8B-Instruct", false, [0.660, 0.653],
        [0.505, 0.448, 0.452, 0.750, 0.730, 0.882, 0.650, 0.608, 0.506, 0.894, 0.756]),
    row("Prometheus-2-7B", true, [0.520, 0.562],
        [0.460, 0.470, 0.500, 0.720, 0.723, 0.796, 0.400, 0.676, 0.560, 0.486, 0.386]),
    row("Patronus-GLIDER-3.8B", true, [NA, NA],
        [NA, 0.615, 0.604, 0.784, NA, 0.851, NA, NA, NA, NA, NA]),
    row("FlowAI-Judge-3.8B", true, [NA, NA],
        [NA, 0.400, 0.460, 0.728, NA, 0.803, NA, NA, NA, NA, NA]),
];

impl Row {
    /// The row's figure for the benchmark read from folder `benchmark`, if the paper has one.
    pub fn score_for(&self, benchmark: &str) -> Option<f64> {
        COLUMNS.iter().position(|c| c.benchmark == Some(benchmark)).and_then(|i| self.scores[i])
    }
}

/// The column of the benchmark read from folder `benchmark`.
pub fn column_for(benchmark: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.benchmark == Some(benchmark))
}
