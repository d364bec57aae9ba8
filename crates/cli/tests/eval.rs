//! `selene eval` as a user runs it: the real binary and the demo model (SmolLM2-135M-Instruct
//! Q4_1) on the CPU, over a slice of the shared HHH benchmark and small generic item files. The
//! figures it reports are recomputed here from its per-item results, and the generation cache
//! is checked by counting generations, not by timing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn eval(args: &[&str], cache: &Path, output: &Path) -> Output {
    let model = selene_fixtures::smollm2();
    let out = Command::new(env!("CARGO_BIN_EXE_selene"))
        .args(["eval", "--model"])
        .arg(&model)
        .args(["--device", "cpu", "--context", "2048", "--max-tokens", "6", "--structured", "--cache-dir"])
        .arg(cache)
        .arg("-o")
        .arg(output)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("selene runs");
    assert!(out.status.success(), "selene eval failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn write_lines(path: &Path, items: &[Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = items.iter().map(|item| item.to_string() + "\n").collect();
    std::fs::write(path, text).unwrap();
}

/// Generic item files: an absolute benchmark and a classification one, with gold labels.
fn generic_benchmarks(dir: &Path) -> (PathBuf, PathBuf) {
    let scores = ["Wrong.", "Mostly wrong.", "Partly right.", "Mostly right.", "Right."];
    let absolute: Vec<Value> = [
        ("The sky is blue because air scatters blue light more than red light.", 5),
        ("The sky is blue because it reflects the sea.", 1),
        ("Light scatters; the sky looks blue, more or less.", 3),
    ]
    .iter()
    .map(|(response, gold)| {
        json!({"task": "absolute", "user_input": "Why is the sky blue?", "response": response,
               "rubric": {"objective": "Is the explanation correct?", "scores": scores}, "gold": gold})
    })
    .collect();
    let classification: Vec<Value> = [("Paris.", "Yes"), ("Lyon.", "No")]
        .iter()
        .map(|(response, gold)| {
            json!({"task": "classification", "user_input": "What is the capital of France?", "response": response,
                   "rubric": {"objective": "Is the answer correct?", "yes": "Correct.", "no": "Wrong."}, "gold": gold})
        })
        .collect();
    let (sky, capitals) = (dir.join("sky"), dir.join("capitals.jsonl"));
    write_lines(&sky.join("sky.jsonl"), &absolute);
    write_lines(&capitals, &classification);
    (sky, capitals)
}

/// The first item of each of HHH's four files, in a folder named `hhh` so that it is read in
/// HHH's own format.
fn hhh_slice(dir: &Path) -> PathBuf {
    let (full, slice) = (selene_fixtures::benchmarks().join("hhh"), dir.join("hhh"));
    std::fs::create_dir_all(&slice).unwrap();
    for name in ["hhh_harmless.jsonl", "hhh_helpful.jsonl", "hhh_honest.jsonl", "hhh_other.jsonl"] {
        let text = std::fs::read_to_string(full.join(name)).unwrap();
        std::fs::write(slice.join(name), text.lines().next().unwrap().to_owned() + "\n").unwrap();
    }
    slice
}

fn result(run: &Value) -> Option<String> {
    let result = &run["verdict"]["result"];
    (!result.is_null()).then(|| result.to_string().trim_matches('"').to_owned())
}

fn flip(side: &str) -> &str {
    if side == "A" { "B" } else { "A" }
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let (vx, vy): (f64, f64) = (x.iter().map(|a| (a - mx).powi(2)).sum(), y.iter().map(|b| (b - my).powi(2)).sum());
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

fn close(ours: &Value, expected: Option<f64>, what: &str) {
    match expected {
        Some(e) => assert!((ours.as_f64().unwrap() - e).abs() < 1e-12, "{what}: reported {ours}, recomputed {e}"),
        None => assert!(ours.is_null(), "{what}: reported {ours}, recomputed undefined"),
    }
}

/// Per-item result lines of every file of a benchmark.
fn item_lines(output: &Path, format: &str, benchmark: &str) -> Vec<Value> {
    let folder = output.join("items").join(format).join(benchmark);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Mean accuracy of both orders, per-order accuracies and consistency, recomputed from lines.
fn pairwise_figures(lines: &[Value]) -> [f64; 4] {
    let n = lines.len() as f64;
    let (mut original, mut swapped, mut consistent) = (0.0, 0.0, 0.0);
    for line in lines {
        let gold = line["gold"].as_str().unwrap();
        let first = result(&line["judgment"]);
        let second = result(&line["swapped"]).map(|s| flip(&s).to_owned());
        original += f64::from(first.as_deref() == Some(gold));
        swapped += f64::from(second.as_deref() == Some(gold));
        consistent += f64::from(first.is_some() && first == second);
    }
    [(original + swapped) / (2.0 * n), original / n, swapped / n, consistent / n]
}

fn benchmark<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["benchmarks"].as_array().unwrap().iter().find(|b| b["benchmark"] == name).unwrap()
}

#[test]
fn eval_reports_the_figures_of_its_items_and_reruns_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (sky, capitals) = generic_benchmarks(dir.path());
    let hhh = hhh_slice(dir.path());
    let (cache, first_out) = (dir.path().join("cache"), dir.path().join("first"));
    let inputs = [hhh.to_str().unwrap(), sky.to_str().unwrap(), capitals.to_str().unwrap()];
    let out = eval(&inputs, &cache, &first_out);
    let results = read_json(&first_out.join("results.json"));
    // HHH: 4 files × 1 item × 2 orders; 3 absolute items; 2 classification items.
    assert_eq!(
        (results["generation"]["generated"].as_u64(), results["generation"]["cached"].as_u64()),
        (Some(13), Some(0))
    );
    let main = &results["main"];

    let hhh_lines = item_lines(&first_out, "trained", "hhh");
    assert_eq!(hhh_lines.len(), 4);
    let [mean, original, swapped, consistency] = pairwise_figures(&hhh_lines);
    let metrics = &benchmark(main, "hhh")["metrics"];
    for (name, value) in
        [("mean", mean), ("original_order", original), ("swapped_order", swapped), ("consistency", consistency)]
    {
        close(&metrics[name], Some(value), &format!("hhh {name}"));
    }
    let failures = hhh_lines
        .iter()
        .map(|l| usize::from(result(&l["judgment"]).is_none()) + usize::from(result(&l["swapped"]).is_none()));
    assert_eq!(metrics["parse_failures"].as_u64(), Some(failures.sum::<usize>() as u64), "hhh parse failures");
    assert_eq!(benchmark(main, "hhh")["files"].as_array().unwrap().len(), 4);

    let sky_lines = item_lines(&first_out, "trained", "sky");
    let gold: Vec<f64> = sky_lines.iter().map(|l| l["gold"].as_f64().unwrap()).collect();
    let judged: Vec<f64> =
        sky_lines.iter().map(|l| result(&l["judgment"]).map_or(0.0, |r| r.parse().unwrap())).collect();
    let sky_pearson = pearson(&judged, &gold);
    close(&benchmark(main, "sky")["metrics"]["pearson"], sky_pearson, "sky pearson");

    let capital_lines = item_lines(&first_out, "trained", "capitals");
    let right = capital_lines.iter().filter(|l| result(&l["judgment"]).as_deref() == l["gold"].as_str()).count();
    let accuracy = right as f64 / 2.0;
    close(&benchmark(main, "capitals")["metrics"]["accuracy"], Some(accuracy), "capitals accuracy");

    // Table 1's averages: each task kind weighs the same, then each benchmark does.
    let sky_score = sky_pearson.unwrap_or(0.0);
    close(&main["overall"]["tasks"], Some((sky_score + mean + accuracy) / 3.0), "tasks");
    close(&main["overall"]["benchmarks"], Some((sky_score + mean + accuracy) / 3.0), "benchmarks");

    let table = std::fs::read_to_string(first_out.join("table.md")).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for column in [
        "Tasks",
        "Benchmarks",
        "Absolute avg",
        "Pairwise avg",
        "Classification avg",
        "HHH (hhh)",
        "sky",
        "capitals",
        "Original order",
        "Swapped order",
        "Consistency",
        "Pearson",
        "Spearman",
        "Kendall τ-b",
        "Accuracy",
        "Parse failures",
        "Atla-Selene-Mini (paper)",
        "| 0.900 |",
    ] {
        assert!(table.contains(column), "table.md lacks {column:?}:\n{table}");
        assert!(stdout.contains(column), "stdout lacks {column:?}");
    }
    let chart = std::fs::read_to_string(first_out.join("chart.svg")).unwrap();
    assert!(chart.starts_with("<svg") && chart.matches("<rect").count() > 5, "{chart}");

    // Again, into another folder: every run comes from the cache, with the same figures.
    let second_out = dir.path().join("second");
    eval(&inputs, &cache, &second_out);
    let again = read_json(&second_out.join("results.json"));
    assert_eq!(
        (again["generation"]["generated"].as_u64(), again["generation"]["cached"].as_u64()),
        (Some(0), Some(13))
    );
    assert_eq!(again["main"], results["main"]);

    // A torn cache entry is judged again, and only that one.
    let entries: Vec<PathBuf> =
        walk(&cache).into_iter().filter(|p| !p.starts_with(cache.join("model-hashes"))).collect();
    assert_eq!(entries.len(), 13, "{entries:?}");
    let torn = std::fs::read(&entries[0]).unwrap();
    std::fs::write(&entries[0], &torn[..torn.len() / 2]).unwrap();
    let third_out = dir.path().join("third");
    eval(&inputs, &cache, &third_out);
    let third = read_json(&third_out.join("results.json"));
    assert_eq!(
        (third["generation"]["generated"].as_u64(), third["generation"]["cached"].as_u64()),
        (Some(1), Some(12))
    );
    assert_eq!(third["main"], results["main"]);
}

#[test]
fn robustness_mode_reports_each_format_and_their_spread() {
    let dir = tempfile::tempdir().unwrap();
    let file = selene_fixtures::benchmarks().join("hhh/hhh_harmless.jsonl");
    let (cache, output) = (dir.path().join("cache"), dir.path().join("out"));
    eval(&[file.to_str().unwrap(), "--limit", "1", "--robustness"], &cache, &output);
    let results = read_json(&output.join("results.json"));
    // Six formats × 2 orders, but HHH has no rubric, so its trained prompt is pairwise-original's.
    assert_eq!(
        (results["generation"]["generated"].as_u64(), results["generation"]["cached"].as_u64()),
        (Some(10), Some(2))
    );
    let formats =
        ["pairwise-original", "pairwise-markdown", "pairwise-json", "pairwise-prepair", "pairwise-simplified"];
    let means: Vec<f64> = formats.iter().map(|f| pairwise_figures(&item_lines(&output, f, "hhh"))[0]).collect();
    let spread = &results["robustness"]["spread"][0];
    assert_eq!(spread["benchmark"], "hhh");
    let (min, max) = means.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    close(&spread["spread"]["range"], Some(max - min), "range");
    close(&spread["spread"]["mean"], Some(means.iter().sum::<f64>() / 5.0), "mean");
    let table = std::fs::read_to_string(output.join("table.md")).unwrap();
    for row in formats.iter().chain(&["Spread (max − min)", "Std. dev."]) {
        assert!(table.contains(row), "table.md lacks {row:?}:\n{table}");
    }
    assert!(std::fs::read_to_string(output.join("robustness.svg")).unwrap().starts_with("<svg"));
}

#[test]
fn items_that_cannot_be_scored_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let no_gold = dir.path().join("no-gold.jsonl");
    write_lines(
        &no_gold,
        &[json!({"id": "q7", "task": "pairwise", "user_input": "u", "response_a": "a", "response_b": "b"})],
    );
    let mixed = dir.path().join("mixed.jsonl");
    write_lines(
        &mixed,
        &[
            json!({"task": "pairwise", "user_input": "u", "response_a": "a", "response_b": "b", "gold": "A"}),
            json!({"task": "classification", "user_input": "u", "response": "r", "gold": "Yes",
                   "rubric": {"objective": "o", "yes": "y", "no": "n"}}),
        ],
    );
    for (input, expected) in [(&no_gold, "no-gold.jsonl: item \"q7\" has no gold label"), (&mixed, "mixed.jsonl")] {
        let out = Command::new(env!("CARGO_BIN_EXE_selene"))
            .args(["eval", "--model", "unused.gguf", "-o"])
            .arg(dir.path().join("out"))
            .arg(input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(expected), "{stderr}");
    }
    assert!(!dir.path().join("out").exists(), "nothing is written for input that cannot be scored");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files.sort();
    files
}
