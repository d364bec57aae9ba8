//! End to end on the CPU, as CI runs it: preference pairs curated from the shared judge
//! benchmarks (`../shared/data/benchmarks`) with critiques written by a real GGUF model
//! (SmolLM2-135M), a tiny Llama with Llama 3.1's tokenizer trained on them by the `selene-train`
//! binary, its Hugging Face export converted by `selene-quantize`, and the GGUF loaded by the
//! runtime to judge a held-out item.
//!
//! What must hold: every curation step reports its counts; training lowers the loss over the
//! training pairs and lifts their reward accuracy above chance; the export converts; the runtime
//! loads the converted file and judges with it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use selene_judge::JudgeItem;
use selene_quantize::convert::{Options, convert};
use selene_quantize::ftype::FileType;
use selene_runtime::{DeviceSpec, Engine, Flow, JudgeOptions, LoadOptions, judge};
use serde_json::{Value, json};
use support::checkpoints;

fn benchmarks() -> PathBuf {
    let dir = selene_fixtures::benchmarks();
    dir
}

/// Runs the `selene-train` binary and returns its standard error, failing on a non-zero exit.
fn selene_train(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_selene-train")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "selene-train {args:?} failed:\n{stderr}");
    stderr
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn curate_train_export_quantize_judge() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let str = |p: &Path| p.to_str().unwrap().to_owned();

    // 1. Curation: pairwise (HHH) and absolute 1-5 (BiGGen Bench, whose -1 means "no human score").
    let data = benchmarks();
    let config = json!({
        "seed": 7, "cot_fraction": 0.3, "eval_items": 2,
        "datasets": [
            {"path": data.join("hhh/hhh_helpful.jsonl"), "task": "pairwise",
             "fields": {"user_input": "input", "response_a": "output_1", "response_b": "output_2", "gold": "label"},
             "labels": {"1": "A", "2": "B"}, "limit": 16},
            {"path": data.join("biggen-bench/human_eval_reasoning.jsonl"), "task": "absolute",
             "fields": {"id": "id", "user_input": "input", "response": "response", "reference": "reference_answer",
                        "rubric_objective": "score_rubric.criteria",
                        "rubric_scores": (1..=5).map(|i| format!("score_rubric.score{i}_description")).collect::<Vec<_>>(),
                        "gold": "human_score"},
             "labels": {"-1": null}, "limit": 6}
        ]
    });
    let config_path = dir.join("curate.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let (pairs, eval) = (dir.join("pairs.jsonl"), dir.join("eval.jsonl"));
    let writer = selene_fixtures::smollm2();
    let started = std::time::Instant::now();
    let table = selene_train(&[
        "curate",
        "--config",
        &str(&config_path),
        "--writer",
        &str(&writer),
        "--out",
        &str(&pairs),
        "--eval-out",
        &str(&eval),
        "--max-new-tokens",
        "24",
    ]);
    eprintln!("curation ({:.0?}):\n{table}", started.elapsed());
    let report = read_json(&dir.join("pairs.report.json"));
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps[0]["in"], 22, "every row read is counted");
    for pair in steps.windows(2) {
        assert_eq!(pair[1]["in"], pair[0]["out"], "each step takes what the one before gave");
    }
    for step in steps {
        let dropped: u64 = step["dropped"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(step["in"].as_u64().unwrap() - dropped, step["out"].as_u64().unwrap(), "{step}");
    }
    let curated = jsonl(&pairs);
    assert_eq!(curated.len() as u64, steps.last().unwrap()["out"].as_u64().unwrap());
    assert!(curated.len() >= 10, "{} pairs", curated.len());
    // Critiques were written and went through the consistency filter (how many a 135M writer
    // gets past it depends on its greedy text, so only the attempts are counted).
    let last = steps.last().unwrap();
    let critique_drops: u64 = last["dropped"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.contains("critique"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    let cot = curated.iter().filter(|p| p["format"] == "cot").count() as u64;
    assert!(cot + critique_drops >= 3, "{cot} critique pairs kept, {critique_drops} dropped");
    assert!(curated.iter().any(|p| p["task"] == "absolute") && curated.iter().any(|p| p["task"] == "pairwise"));
    assert!(curated.iter().all(|p| p["provenance"]["dataset"].is_string() && p["chosen"] != p["rejected"]));
    assert_eq!(jsonl(&eval).len(), 2);

    // 2. Training: full fine-tuning of a tiny Llama on those pairs, a few epochs.
    let base = dir.join("base");
    checkpoints::make("judge", &base);
    let run = dir.join("run");
    let started = std::time::Instant::now();
    let log = selene_train(&[
        "train",
        "--base",
        &str(&base),
        "--pairs",
        &str(&pairs),
        "--out",
        &str(&run),
        "--eval",
        &str(&eval),
        "--eval-every",
        "6",
        "--eval-max-tokens",
        "8",
        "--lr",
        "2e-3",
        "--beta",
        "0.5",
        "--warmup-ratio",
        "0",
        "--schedule",
        "constant",
        "--batch-size",
        "8",
        "--micro-batch-size",
        "4",
        "--max-steps",
        "6",
        "--epochs",
        "10",
        "--checkpoint-every",
        "0",
        "--export-dtype",
        "f32",
    ]);
    eprintln!("training ({:.0?}):\n{log}", started.elapsed());
    let summary = read_json(&run.join("summary.json"));
    let number = |k: &str| summary[k].as_f64().unwrap_or_else(|| panic!("summary.{k}: {summary}"));
    assert_eq!(summary["steps"], 6);
    assert!(number("train_loss") < number("base_loss"), "the loss over the training pairs falls: {summary}");
    assert!(number("train_reward_accuracy") > 0.5, "reward accuracy rises above chance: {summary}");
    assert!(number("train_reward_margin") > 0.0, "{summary}");
    let metrics = jsonl(&run.join("metrics.jsonl"));
    let steps: Vec<&Value> = metrics.iter().filter(|m| m.get("loss").is_some()).collect();
    assert_eq!(steps.len(), 6);
    assert!(metrics.iter().any(|m| m.get("eval/judge_accuracy").is_some()), "held-out judge accuracy was measured");
    for key in [
        "dpo_loss",
        "nll_loss",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "logps/chosen",
        "logps/rejected",
        "tokens/s",
        "grad_norm",
        "learning_rate",
    ] {
        assert!(steps.iter().all(|m| m[key].as_f64().is_some_and(f64::is_finite)), "{key} logged at every step");
    }
    assert!(run.join("report.html").is_file());

    // 3. The export through selene-quantize.
    let export = run.join("model");
    let gguf = dir.join("tiny-judge.Q8_0.gguf");
    let options =
        Options { ftype: FileType::Q8_0, split_max_size: None, lora: None, extra_files: Vec::new(), progress: false };
    let written = convert(&export, &gguf, &options).unwrap();
    assert_eq!(written, [gguf.clone()]);

    // 4. The runtime loads the GGUF (its own tokenizer from the metadata) and judges an item.
    let engine = Engine::load(
        &gguf,
        &LoadOptions { device: DeviceSpec::Cpu { replicas: 1 }, context: 4096, ..Default::default() },
    )
    .unwrap();
    let item: JudgeItem = serde_json::from_value(jsonl(&eval)[0].clone()).unwrap();
    let options = JudgeOptions { max_tokens: 16, ..JudgeOptions::default() };
    let report = judge(&engine, &item, &options, |_, _| Flow::Continue).unwrap();
    eprintln!("judgment of {:?}: {:?} ({:?})", item.id, report.judgment.output, report.judgment.parse_error);
    assert!(report.judgment.prompt_tokens > 100 && report.judgment.generated_tokens > 0, "{report:?}");
}
