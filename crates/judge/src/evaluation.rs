//! From verdicts on benchmark items to the figures of the paper's Table 1.
//!
//! The table gives one figure per benchmark — Pearson's r for absolute scoring, accuracy for
//! pairwise preference and classification — and two overall figures: the mean over task types
//! (each type the mean of its benchmarks) and the mean over benchmarks. Everything here starts
//! from per-item [`Outcome`]s, so a benchmark pooled from several files (HHH's four subsets,
//! BiGGen's seven capabilities) is scored over all its items at once, as the suites score it,
//! rather than as a mean of per-file figures.
//!
//! A parse failure is a wrong answer and is counted: in accuracy it is simply not right; in a
//! correlation it takes the score 0, below every scale (SFR-Judge's convention), so that failing
//! on the hard items cannot raise r. The correlation over parsed items alone is reported beside
//! it. Pairwise items are judged in both orders and each order is scored on its own; the
//! benchmark's figure is their mean.

use serde::Serialize;
use thiserror::Error;

use crate::item::{Gold, JudgeItem, TaskKind};
use crate::label::{Label, Side};
use crate::metrics::{self, PairwiseAccuracy, kendall_tau_b, pearson, spearman};
use crate::position::{OrderReport, combine_orders};

/// The score a failed absolute verdict takes inside a correlation.
pub const FAILED_SCORE: f64 = 0.0;

/// What the judge said about one item, beside the item's gold label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// `predicted` is `None` when the output gave no score.
    Absolute {
        gold: f64,
        predicted: Option<u32>,
    },
    Classification {
        gold: Label,
        predicted: Option<Label>,
    },
    /// Judged as given and with the responses swapped.
    Pairwise {
        gold: Side,
        order: OrderReport,
    },
}

/// Why outcomes could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvaluationError {
    #[error("the item has no gold label to score against")]
    NoGold,
    #[error("the item's gold label does not fit its task")]
    GoldMismatch,
    #[error("there are no items to score")]
    Empty,
    #[error("the items mix {first} and {other} tasks; score each kind of task separately")]
    MixedTasks { first: &'static str, other: &'static str },
}

impl Outcome {
    /// The outcome of judging `item`: `original` is the verdict on the item as given and
    /// `swapped_as_printed` the verdict on its swapped pair as the model printed it (pairwise
    /// only); `None` for a run that gave no verdict or could not be run.
    pub fn new(
        item: &JudgeItem,
        original: Option<Label>,
        swapped_as_printed: Option<Label>,
    ) -> Result<Outcome, EvaluationError> {
        let gold = item.gold.ok_or(EvaluationError::NoGold)?;
        match (item.kind(), gold) {
            (TaskKind::Absolute, Gold::Score(gold)) => {
                let predicted = match original {
                    Some(Label::Score(score)) => Some(score),
                    _ => None,
                };
                Ok(Outcome::Absolute { gold, predicted })
            }
            (TaskKind::Classification, Gold::Label(gold @ (Label::Yes | Label::No))) => {
                Ok(Outcome::Classification { gold, predicted: original })
            }
            (TaskKind::Pairwise, Gold::Label(gold)) => {
                let gold = gold.side().ok_or(EvaluationError::GoldMismatch)?;
                let order = combine_orders(original.and_then(Label::side), swapped_as_printed.and_then(Label::side));
                Ok(Outcome::Pairwise { gold, order })
            }
            _ => Err(EvaluationError::GoldMismatch),
        }
    }

    pub fn kind(&self) -> TaskKind {
        match self {
            Outcome::Absolute { .. } => TaskKind::Absolute,
            Outcome::Classification { .. } => TaskKind::Classification,
            Outcome::Pairwise { .. } => TaskKind::Pairwise,
        }
    }
}

/// The metrics of one set of items of one task kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum Metrics {
    Absolute(CorrelationMetrics),
    Classification(AccuracyMetrics),
    Pairwise(PairwiseMetrics),
}

/// Absolute scoring: agreement of the judge's scores with the gold scores. A correlation is
/// `None` where it is undefined (fewer than two items, or one side constant).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrelationMetrics {
    pub items: usize,
    /// Items whose output gave no score; they count as [`FAILED_SCORE`] in the correlations.
    pub parse_failures: usize,
    pub pearson: Option<f64>,
    pub spearman: Option<f64>,
    pub kendall_tau_b: Option<f64>,
    /// Pearson's r over the parsed items alone.
    pub pearson_parsed_only: Option<f64>,
}

/// Classification: the share of right labels, a parse failure being wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyMetrics {
    pub items: usize,
    pub parse_failures: usize,
    pub accuracy: f64,
}

/// Pairwise preference, judged in both orders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairwiseMetrics {
    pub items: usize,
    /// Runs (two per item) that gave no verdict.
    pub parse_failures: usize,
    #[serde(flatten)]
    pub accuracy: PairwiseAccuracy,
}

impl Metrics {
    pub fn kind(&self) -> TaskKind {
        match self {
            Metrics::Absolute(_) => TaskKind::Absolute,
            Metrics::Classification(_) => TaskKind::Classification,
            Metrics::Pairwise(_) => TaskKind::Pairwise,
        }
    }

    pub fn items(&self) -> usize {
        match self {
            Metrics::Absolute(m) => m.items,
            Metrics::Classification(m) => m.items,
            Metrics::Pairwise(m) => m.items,
        }
    }

    /// The figure Table 1 reports: Pearson's r, accuracy, or the mean accuracy of both orders.
    pub fn score(&self) -> Option<f64> {
        match self {
            Metrics::Absolute(m) => m.pearson,
            Metrics::Classification(m) => Some(m.accuracy),
            Metrics::Pairwise(m) => Some(m.accuracy.mean),
        }
    }
}

/// Scores outcomes that all belong to one kind of task.
pub fn evaluate(outcomes: &[Outcome]) -> Result<Metrics, EvaluationError> {
    let first = outcomes.first().ok_or(EvaluationError::Empty)?.kind();
    if let Some(other) = outcomes.iter().map(Outcome::kind).find(|&kind| kind != first) {
        return Err(EvaluationError::MixedTasks { first: first.name(), other: other.name() });
    }
    let items = outcomes.len();
    Ok(match first {
        TaskKind::Absolute => {
            let pairs: Vec<(f64, Option<u32>)> = outcomes
                .iter()
                .filter_map(|o| match *o {
                    Outcome::Absolute { gold, predicted } => Some((gold, predicted)),
                    _ => None,
                })
                .collect();
            let gold: Vec<f64> = pairs.iter().map(|p| p.0).collect();
            let judged: Vec<f64> = pairs.iter().map(|p| p.1.map_or(FAILED_SCORE, f64::from)).collect();
            let (parsed_gold, parsed): (Vec<f64>, Vec<f64>) =
                pairs.iter().filter_map(|&(g, p)| Some((g, f64::from(p?)))).unzip();
            Metrics::Absolute(CorrelationMetrics {
                items,
                parse_failures: items - parsed.len(),
                pearson: pearson(&judged, &gold).ok(),
                spearman: spearman(&judged, &gold).ok(),
                kendall_tau_b: kendall_tau_b(&judged, &gold).ok(),
                pearson_parsed_only: pearson(&parsed, &parsed_gold).ok(),
            })
        }
        TaskKind::Classification => {
            let (predicted, gold): (Vec<Option<Label>>, Vec<Label>) = outcomes
                .iter()
                .filter_map(|o| match *o {
                    Outcome::Classification { gold, predicted } => Some((predicted, gold)),
                    _ => None,
                })
                .unzip();
            Metrics::Classification(AccuracyMetrics {
                items,
                parse_failures: predicted.iter().filter(|p| p.is_none()).count(),
                accuracy: metrics::accuracy(&predicted, &gold).map_err(|_| EvaluationError::Empty)?,
            })
        }
        TaskKind::Pairwise => {
            let (orders, gold): (Vec<OrderReport>, Vec<Side>) = outcomes
                .iter()
                .filter_map(|o| match *o {
                    Outcome::Pairwise { gold, order } => Some((order, gold)),
                    _ => None,
                })
                .unzip();
            let parse_failures =
                orders.iter().map(|o| usize::from(o.original.is_none()) + usize::from(o.swapped.is_none())).sum();
            Metrics::Pairwise(PairwiseMetrics {
                items,
                parse_failures,
                accuracy: metrics::pairwise_accuracy(&orders, &gold).map_err(|_| EvaluationError::Empty)?,
            })
        }
    })
}

/// One benchmark's Table 1 figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchmarkScore {
    pub benchmark: String,
    pub task: TaskKind,
    /// `None` where the metric is undefined (a judge that gives every item the same score).
    pub score: Option<f64>,
}

/// Table 1's "Overall (average)" over the benchmarks of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    /// The mean over task kinds of each kind's mean (the paper's "Tasks").
    pub tasks: f64,
    /// The mean over benchmarks (the paper's "Benchmarks").
    pub benchmarks: f64,
    /// Each kind present, in table order, with the mean over its benchmarks.
    pub task_averages: Vec<(TaskKind, f64)>,
}

/// The overall figures of `scores`; an undefined score counts as 0 (a judge whose scores carry
/// no information). `None` when `scores` is empty.
pub fn overall(scores: &[BenchmarkScore]) -> Option<Overall> {
    let value = |s: &BenchmarkScore| s.score.unwrap_or(0.0);
    let task_averages: Vec<(TaskKind, f64)> = TaskKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let of_kind: Vec<f64> = scores.iter().filter(|s| s.task == kind).map(value).collect();
            (!of_kind.is_empty()).then(|| (kind, mean(&of_kind)))
        })
        .collect();
    if task_averages.is_empty() {
        return None;
    }
    let averages: Vec<f64> = task_averages.iter().map(|t| t.1).collect();
    let all: Vec<f64> = scores.iter().map(value).collect();
    Some(Overall { tasks: mean(&averages), benchmarks: mean(&all), task_averages })
}

/// How far apart a set of figures lies (the same benchmark under different prompt formats).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub min: f64,
    pub max: f64,
    /// `max - min`.
    pub range: f64,
    pub mean: f64,
    /// The population standard deviation (numpy's default, `ddof=0`).
    pub std_dev: f64,
}

/// The spread of `values`; `None` when there are none.
pub fn spread(values: &[f64]) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = mean(values);
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    Some(Spread { min, max, range: max - min, mean, std_dev: variance.sqrt() })
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn absolute_failures_score_zero_inside_the_correlation() {
        // Gold 1,2,3,4; judged 1,2,-,4. With the failure as 0: x = 1,2,0,4, y = 1,2,3,4;
        // means 1.75 and 2.5; Sxy = 3.5, Sxx = 8.75, Syy = 5.
        let outcomes: Vec<Outcome> = [(1.0, Some(1)), (2.0, Some(2)), (3.0, None), (4.0, Some(4))]
            .into_iter()
            .map(|(gold, predicted)| Outcome::Absolute { gold, predicted })
            .collect();
        let Metrics::Absolute(m) = evaluate(&outcomes).unwrap() else { panic!("absolute") };
        assert_eq!((m.items, m.parse_failures), (4, 1));
        assert!(close(m.pearson.unwrap(), 3.5 / (8.75_f64 * 5.0).sqrt()));
        assert!(close(m.pearson_parsed_only.unwrap(), 1.0));
        // A judge that always says 3 has no correlation at all.
        let constant: Vec<Outcome> =
            (1..=3).map(|g| Outcome::Absolute { gold: f64::from(g), predicted: Some(3) }).collect();
        assert_eq!(evaluate(&constant).unwrap().score(), None);
    }

    #[test]
    fn pairwise_outcomes_follow_the_item_labelling() {
        use Side::{A, B};
        // Gold A. Run 1 right in both orders; run 2 always picks the first shown; run 3's
        // swapped run failed.
        let outcomes = [
            Outcome::Pairwise { gold: A, order: combine_orders(Some(A), Some(B)) },
            Outcome::Pairwise { gold: A, order: combine_orders(Some(A), Some(A)) },
            Outcome::Pairwise { gold: A, order: combine_orders(Some(B), None) },
        ];
        let Metrics::Pairwise(m) = evaluate(&outcomes).unwrap() else { panic!("pairwise") };
        assert_eq!(m.parse_failures, 1);
        assert!(close(m.accuracy.original_order, 2.0 / 3.0));
        assert!(close(m.accuracy.swapped_order, 1.0 / 3.0));
        assert!(close(m.accuracy.mean, 0.5));
        assert!(close(m.accuracy.consistency, 1.0 / 3.0));
    }

    #[test]
    fn outcomes_from_items() {
        let item: JudgeItem = serde_json::from_str(
            r#"{"task": "pairwise", "user_input": "u", "response_a": "a", "response_b": "b", "gold": "B"}"#,
        )
        .unwrap();
        let outcome = Outcome::new(&item, Some(Label::B), Some(Label::A)).unwrap();
        assert_eq!(outcome, Outcome::Pairwise { gold: Side::B, order: combine_orders(Some(Side::B), Some(Side::A)) });
        let no_gold = JudgeItem { gold: None, ..item.clone() };
        assert_eq!(Outcome::new(&no_gold, None, None), Err(EvaluationError::NoGold));
        let wrong_gold = JudgeItem { gold: Some(Gold::Score(2.0)), ..item };
        assert_eq!(Outcome::new(&wrong_gold, None, None), Err(EvaluationError::GoldMismatch));
    }

    #[test]
    fn mixed_and_empty_sets_are_refused() {
        let mixed = [
            Outcome::Absolute { gold: 1.0, predicted: None },
            Outcome::Classification { gold: Label::Yes, predicted: None },
        ];
        assert_eq!(evaluate(&mixed), Err(EvaluationError::MixedTasks { first: "absolute", other: "classification" }));
        assert_eq!(evaluate(&[]), Err(EvaluationError::Empty));
    }

    #[test]
    fn overall_weighs_task_kinds_equally() {
        let score = |benchmark: &str, task, score| BenchmarkScore { benchmark: benchmark.into(), task, score };
        let scores = [
            score("a", TaskKind::Absolute, Some(0.5)),
            score("p1", TaskKind::Pairwise, Some(0.6)),
            score("p2", TaskKind::Pairwise, Some(1.0)),
            score("p3", TaskKind::Pairwise, None),
        ];
        let overall = overall(&scores).unwrap();
        // Pairwise mean (0.6 + 1.0 + 0) / 3 = 0.5333…; tasks (0.5 + 0.5333…) / 2; benchmarks 2.1 / 4.
        assert!(close(overall.task_averages[1].1, 1.6 / 3.0));
        assert!(close(overall.tasks, (0.5 + 1.6 / 3.0) / 2.0));
        assert!(close(overall.benchmarks, 2.1 / 4.0));
        assert_eq!(
            overall.task_averages.iter().map(|t| t.0).collect::<Vec<_>>(),
            [TaskKind::Absolute, TaskKind::Pairwise]
        );
    }

    #[test]
    fn spread_by_hand() {
        // 0.5, 0.7, 0.9: mean 0.7, deviations ±0.2 and 0, variance 0.08 / 3.
        let s = spread(&[0.7, 0.5, 0.9]).unwrap();
        assert!(close(s.range, 0.4) && close(s.min, 0.5) && close(s.max, 0.9) && close(s.mean, 0.7));
        assert!(close(s.std_dev, (0.08_f64 / 3.0).sqrt()));
        assert_eq!(spread(&[]), None);
    }
}
