//! A run killed mid-way (SIGKILL, no chance to clean up) and resumed from its last checkpoint
//! ends with the same weights, bit for bit on the CPU, as a run that was never interrupted; and
//! it logs the same losses. LoRA with a live reference, data shuffled each epoch, gradient
//! accumulation and a warmup + cosine schedule, so that model, optimizer, schedule, data position
//! and RNG all have to come back exactly.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::checkpoints;

const PAIRS: &[(&str, &str, &str)] = &[
    ("Is the sky blue on a clear day?", "**Result:** Yes", "**Result:** No"),
    ("Which is larger, 3 or 7? A: 3. B: 7.", "**Result:** B", "**Result:** A"),
    ("Rate the answer 'Paris' to 'capital of France?' from 1 to 5.", "**Result:** 5", "**Result:** 2"),
    (
        "Does 2 + 2 equal 5?",
        "**Reasoning:** 2 + 2 is 4.\n\n**Result:** No",
        "**Reasoning:** It is 5.\n\n**Result:** Yes",
    ),
    ("Which response is polite? A: Thanks! B: Go away.", "**Result:** A", "**Result:** B"),
    ("Rate 'The Earth is flat.' for accuracy from 1 to 5.", "**Result:** 1", "**Result:** 4"),
    ("Is water wet?", "**Result:** Yes", "**Result:** No"),
    (
        "Which is a fruit? A: carrot. B: apple.",
        "**Reasoning:** An apple is a fruit.\n\n**Result:** B",
        "**Reasoning:** A carrot.\n\n**Result:** A",
    ),
];

const STEPS: usize = 12;

fn train(base: &Path, pairs: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_selene-train"));
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    command.args(["train", "--base", &path(base), "--pairs", &path(pairs), "--out", &path(out)]);
    command.args([
        "--lora",
        "--lora-rank",
        "4",
        "--lora-alpha",
        "8",
        "--lr",
        "1e-2",
        "--beta",
        "0.5",
        "--warmup-ratio",
        "0.2",
        "--batch-size",
        "2",
        "--micro-batch-size",
        "1",
        "--epochs",
        "3",
        "--checkpoint-every",
        "1",
        "--export-dtype",
        "f32",
    ]);
    command.args(extra).stdout(Stdio::null());
    command
}

fn run_ok(mut command: Command) -> String {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

fn latest_step(run: &Path) -> Option<usize> {
    let name = std::fs::read_to_string(run.join("checkpoints/latest")).ok()?;
    name.trim().strip_prefix("step-")?.parse().ok()
}

/// The per-step records without the timings.
fn losses(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("tokens/s");
            v
        })
        .collect()
}

#[test]
fn killed_and_resumed_run_ends_bitwise_equal() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let base = dir.join("base");
    checkpoints::make("judge", &base);
    let pairs = dir.join("pairs.jsonl");
    let lines: Vec<String> = PAIRS
        .iter()
        .map(|(p, c, r)| serde_json::json!({"prompt": p, "chosen": c, "rejected": r}).to_string())
        .collect();
    std::fs::write(&pairs, lines.join("\n")).unwrap();

    let whole = dir.join("whole");
    run_ok(train(&base, &pairs, &whole, &[]));
    assert_eq!(latest_step(&whole), Some(STEPS));

    // Kill the second run as soon as it has saved its third step.
    let cut = dir.join("cut");
    let mut child = train(&base, &pairs, &cut, &[]).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while latest_step(&cut).is_none_or(|s| s < 3) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(started.elapsed() < Duration::from_secs(300), "no checkpoint after 5 minutes");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let killed_at = latest_step(&cut).unwrap();
    assert!(killed_at < STEPS && !cut.join("summary.json").exists(), "killed after step {killed_at} of {STEPS}");

    // A run folder with checkpoints is not overwritten by accident, nor resumed with other settings.
    let refused = train(&base, &pairs, &cut, &[]).output().unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("pass --resume"), "{refused:?}");
    let other = train(&base, &pairs, &cut, &["--resume", "--nll-norm", "sequences"]).output().unwrap();
    assert!(String::from_utf8_lossy(&other.stderr).contains("state.json: settings"), "{other:?}");

    let log = run_ok(train(&base, &pairs, &cut, &["--resume"]));
    assert!(log.contains(&format!("step-{killed_at:08}")), "{log}");
    for file in ["model/model.safetensors", "adapter/adapter_model.safetensors"] {
        let (a, b) = (std::fs::read(whole.join(file)).unwrap(), std::fs::read(cut.join(file)).unwrap());
        assert!(a == b, "{file} differs after resuming from step {killed_at}");
    }
    assert_eq!(losses(&whole), losses(&cut), "the resumed run logs the same steps");
    eprintln!("killed after step {killed_at} of {STEPS}; resumed run's weights are bitwise equal");
}
