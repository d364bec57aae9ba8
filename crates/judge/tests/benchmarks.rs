//! Every row of the shared benchmark files converts into an item that renders with its default
//! template. The files live outside the repository, in the shared data beside it
//! (`../shared/data/benchmarks`); a missing folder fails the test rather than skipping it.

use std::fs;
use std::path::PathBuf;

use selene_judge::{BenchmarkFormat, BuiltinTemplate, Gold, JudgeItem, Label, TaskInput, render};

fn benchmark_dir() -> PathBuf {
    selene_fixtures::benchmarks()
}

/// Every converted item of one benchmark folder, and how many rows were skipped.
fn convert(folder: &str) -> (Vec<JudgeItem>, usize) {
    let format = BenchmarkFormat::from_name(folder).expect("folder names are format names");
    let dir = benchmark_dir().join(folder);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .jsonl files in {}", dir.display());
    let (mut items, mut skipped) = (Vec::new(), 0);
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (line_number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
            let where_ = format!("{}:{}", file.display(), line_number + 1);
            match format.item(line).unwrap_or_else(|e| panic!("{where_}: {e}")) {
                Some(item) => {
                    let template = BuiltinTemplate::for_item(&item).template();
                    render(&template, &item).unwrap_or_else(|e| panic!("{where_}: {e}"));
                    items.push(item);
                }
                None => skipped += 1,
            }
        }
    }
    (items, skipped)
}

#[test]
fn evalbiasbench_converts() {
    let (items, skipped) = convert("evalbiasbench");
    assert_eq!((items.len(), skipped), (80, 0));
    assert!(items.iter().all(|item| item.gold == Some(Gold::Label(Label::A))));
    assert!(items.iter().all(|item| BuiltinTemplate::for_item(item) == BuiltinTemplate::PairwiseOriginal));
}

#[test]
fn hhh_converts() {
    let (items, skipped) = convert("hhh");
    assert_eq!((items.len(), skipped), (221, 0));
    assert!(items.iter().all(|item| matches!(item.task, TaskInput::Pairwise { objective: None, .. })));
}

#[test]
fn mt_bench_single_converts_and_keeps_its_rubric_text() {
    let (items, skipped) = convert("mt_bench_single");
    assert_eq!((items.len(), skipped), (320, 0));
    // The rubric comes back out of the template exactly as the row wrote it.
    let file = benchmark_dir().join("mt_bench_single/mt_bench_raw_data.jsonl");
    let text = fs::read_to_string(file).unwrap();
    for (line, item) in text.lines().zip(&items) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let prompt = render(&BuiltinTemplate::AbsoluteWithReference.template(), item).unwrap().text();
        assert!(prompt.contains(row["rubric"].as_str().unwrap()));
        let Some(Gold::Score(gold)) = item.gold else { panic!("absolute gold") };
        let ratings: Vec<f64> = row["gpt4_score"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!((gold - ratings.iter().sum::<f64>() / ratings.len() as f64).abs() < 1e-12);
    }
}

#[test]
fn biggen_bench_converts_and_drops_unrated_rows() {
    let (items, skipped) = convert("biggen-bench");
    assert_eq!((items.len(), skipped), (2376, 4));
    assert!(items.iter().all(|item| BuiltinTemplate::for_item(item) == BuiltinTemplate::AbsoluteWithReference));
    assert!(items.iter().all(|item| item.id.is_some()));
}
