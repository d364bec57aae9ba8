//! The metrics agree with scipy and numpy on the data in tests/golden/metrics.json, which
//! tests/golden/metrics.py generated: the correlations, and the benchmark figures of random judge
//! outcomes (per-order accuracy, consistency, correlations with parse failures, overall averages,
//! spreads). The overall averages also reproduce the paper's own Table 1.

use selene_judge::evaluation::{self, BenchmarkScore, Metrics, Outcome};
use selene_judge::metrics::{kendall_tau_b, pearson, spearman};
use selene_judge::paper::{COLUMNS, TABLE_1};
use selene_judge::{Label, TaskKind, combine_orders};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
    evaluations: Vec<EvaluationCase>,
    overall: Vec<OverallCase>,
    spreads: Vec<SpreadCase>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    pearson: f64,
    spearman: f64,
    kendall_tau_b: f64,
}

#[derive(Deserialize)]
struct EvaluationCase {
    task: TaskKind,
    items: Vec<Value>,
    expected: Value,
}

#[derive(Deserialize)]
struct OverallCase {
    scores: Vec<GoldenScore>,
    tasks: f64,
    benchmarks: f64,
}

#[derive(Deserialize)]
struct GoldenScore {
    benchmark: String,
    task: TaskKind,
    score: f64,
}

#[derive(Deserialize)]
struct SpreadCase {
    values: Vec<f64>,
    min: f64,
    max: f64,
    range: f64,
    mean: f64,
    std_dev: f64,
}

fn golden() -> Golden {
    serde_json::from_str(include_str!("golden/metrics.json")).expect("metrics.json parses")
}

fn assert_close(ours: f64, reference: f64, what: &str) {
    assert!((ours - reference).abs() < 1e-12, "{what}: ours {ours}, reference {reference}");
}

#[test]
fn correlations_match_scipy() {
    let golden = golden();
    assert!(golden.cases.len() >= 5);
    for case in golden.cases {
        let computed = [
            ("pearson", pearson(&case.x, &case.y).unwrap(), case.pearson),
            ("spearman", spearman(&case.x, &case.y).unwrap(), case.spearman),
            ("kendall_tau_b", kendall_tau_b(&case.x, &case.y).unwrap(), case.kendall_tau_b),
        ];
        for (metric, ours, scipy) in computed {
            assert_close(ours, scipy, &format!("{} {metric}", case.name));
        }
    }
}

fn label(value: &Value) -> Option<Label> {
    serde_json::from_value(value.clone()).ok()
}

fn outcome(task: TaskKind, item: &Value) -> Outcome {
    match task {
        TaskKind::Absolute => Outcome::Absolute {
            gold: item["gold"].as_f64().unwrap(),
            predicted: item["predicted"].as_u64().map(|p| p as u32),
        },
        TaskKind::Classification => {
            Outcome::Classification { gold: label(&item["gold"]).unwrap(), predicted: label(&item["predicted"]) }
        }
        TaskKind::Pairwise => {
            let side = |v: &Value| label(v).and_then(Label::side);
            Outcome::Pairwise {
                gold: side(&item["gold"]).unwrap(),
                order: combine_orders(side(&item["original"]), side(&item["swapped"])),
            }
        }
    }
}

#[test]
fn benchmark_figures_match_an_independent_computation() {
    let golden = golden();
    assert!(golden.evaluations.len() >= 4);
    for case in golden.evaluations {
        let outcomes: Vec<Outcome> = case.items.iter().map(|item| outcome(case.task, item)).collect();
        let metrics = evaluation::evaluate(&outcomes).unwrap();
        assert_eq!(metrics.kind(), case.task);
        // Every expected figure is a field of the metrics' JSON, under the same name.
        let ours = serde_json::to_value(&metrics).unwrap();
        for (name, expected) in case.expected.as_object().unwrap() {
            let what = format!("{} {name}", case.task.name());
            match expected {
                Value::Number(n) if n.is_u64() => assert_eq!(ours[name], *expected, "{what}"),
                _ => assert_close(ours[name].as_f64().unwrap(), expected.as_f64().unwrap(), &what),
            }
        }
        if let Metrics::Pairwise(m) = &metrics {
            assert_eq!(metrics.score(), Some(m.accuracy.mean));
        }
    }
}

#[test]
fn overall_averages_match_an_independent_computation() {
    for case in golden().overall {
        let scores: Vec<BenchmarkScore> = case
            .scores
            .iter()
            .map(|s| BenchmarkScore { benchmark: s.benchmark.clone(), task: s.task, score: Some(s.score) })
            .collect();
        let overall = evaluation::overall(&scores).unwrap();
        assert_close(overall.tasks, case.tasks, "tasks");
        assert_close(overall.benchmarks, case.benchmarks, "benchmarks");
    }
    assert_eq!(evaluation::overall(&[]), None);
}

#[test]
fn overall_averages_reproduce_the_papers_table_1() {
    let mut complete = 0;
    for row in TABLE_1 {
        let scores: Option<Vec<BenchmarkScore>> = COLUMNS
            .iter()
            .zip(row.scores)
            .map(|(column, score)| {
                Some(BenchmarkScore { benchmark: column.name.into(), task: column.task, score: Some(score?) })
            })
            .collect();
        let Some(scores) = scores else {
            assert_eq!((row.tasks, row.benchmarks), (None, None), "{}", row.model);
            continue;
        };
        complete += 1;
        let overall = evaluation::overall(&scores).unwrap();
        // The paper rounds to three decimals, from figures that were themselves rounded.
        for (ours, published) in [(overall.tasks, row.tasks), (overall.benchmarks, row.benchmarks)] {
            let published = published.unwrap();
            assert!((ours - published).abs() <= 0.0006, "{}: ours {ours:.4}, paper {published}", row.model);
        }
    }
    assert_eq!(complete, 5);
    // The paper quotes Selene Mini's absolute-scoring average, 0.648, in its text.
    let selene = &TABLE_1[0];
    let absolute: Vec<f64> = COLUMNS
        .iter()
        .zip(selene.scores)
        .filter(|(c, _)| c.task == TaskKind::Absolute)
        .map(|(_, s)| s.unwrap())
        .collect();
    assert!((absolute.iter().sum::<f64>() / 3.0 - 0.648).abs() < 0.0005);
}

#[test]
fn spreads_match_numpy() {
    for case in golden().spreads {
        let ours = evaluation::spread(&case.values).unwrap();
        for (name, ours, numpy) in [
            ("min", ours.min, case.min),
            ("max", ours.max, case.max),
            ("range", ours.range, case.range),
            ("mean", ours.mean, case.mean),
            ("std_dev", ours.std_dev, case.std_dev),
        ] {
            assert_close(ours, numpy, name);
        }
    }
}

#[test]
fn the_paper_columns_we_have_name_their_folders() {
    let ours: Vec<&str> = COLUMNS.iter().filter_map(|c| c.benchmark).collect();
    assert_eq!(ours, ["mt_bench_single", "biggen-bench", "hhh", "evalbiasbench"]);
    assert_eq!(TABLE_1[0].score_for("hhh"), Some(0.900));
    assert_eq!(TABLE_1[0].score_for("evalbiasbench"), Some(0.863));
}
