//! `selene batch`: judge many items, one JSON line out per item.
//!
//! Each finished item is written and flushed before the next starts, so an interrupted run
//! loses at most the item in progress; run the same command again and it skips every item whose
//! key is already in the output (a torn last line is dropped first). Ctrl-C stops after the
//! current token and keeps everything finished.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use selene_judge::{BenchmarkFormat, KeyedItem};
use serde_json::Value;

use crate::items;
use crate::judge::JudgingArgs;
use crate::model_args::ModelArgs;
use crate::runner::{Judged, Runner, progress_bar, result_line};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Items: a .jsonl or .csv file, or a folder of them (a benchmark folder such as
    /// evalbiasbench is read in its own format).
    input: PathBuf,
    /// Results, one JSON object per line; appended to, so a rerun resumes.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Read the input as this benchmark's format (evalbiasbench, hhh, mt_bench_single, biggen-bench).
    #[arg(long)]
    benchmark: Option<String>,
    /// Judge at most this many items (after skipping finished ones).
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    judging: JudgingArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let benchmark = match &args.benchmark {
        Some(name) => Some(BenchmarkFormat::from_name(name).with_context(|| format!("unknown benchmark {name:?}"))?),
        None => None,
    };
    let all = items::read(&args.input, benchmark)?;
    let mut seen = HashSet::new();
    if let Some(duplicate) = all.iter().find(|k| !seen.insert(k.key.as_str())) {
        bail!("{}: item key {:?} appears twice; give items unique ids", args.input.display(), duplicate.key);
    }
    let done = finished_keys(&args.output)?;
    let todo: Vec<&KeyedItem> =
        all.iter().filter(|k| !done.contains(&k.key)).take(args.limit.unwrap_or(usize::MAX)).collect();
    let finished = all.iter().filter(|k| done.contains(&k.key)).count();
    eprintln!("{} items, {finished} already judged, {} to judge now", all.len(), todo.len());
    if todo.is_empty() {
        return summarize(&args.output);
    }
    let options = args.judging.options()?;
    let mut runner = Runner::new(&args.model, None)?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.output)
        .with_context(|| args.output.display().to_string())?;
    let progress = progress_bar(todo.len())?;
    for keyed in todo {
        let judged = runner.judge_keyed(keyed, &options)?;
        if matches!(judged, Judged::Interrupted) {
            break;
        }
        let line = result_line(keyed, &judged)?;
        out.write_all(line.as_bytes()).and_then(|_| out.flush()).with_context(|| args.output.display().to_string())?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    if runner.interrupted() {
        eprintln!("interrupted: every finished item is in {}; run again to resume", args.output.display());
    }
    summarize(&args.output)
}

/// Keys already in `output`. A last line cut off mid-write is removed from the file.
fn finished_keys(output: &Path) -> Result<HashSet<String>> {
    let mut keys = HashSet::new();
    let Ok(file) = std::fs::File::open(output) else {
        return Ok(keys);
    };
    let mut good_bytes = 0u64;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line?;
        match serde_json::from_slice::<Value>(&line).ok().and_then(|v| v["key"].as_str().map(str::to_owned)) {
            Some(key) => {
                keys.insert(key);
                good_bytes += line.len() as u64 + 1;
            }
            None => break,
        }
    }
    let file = std::fs::OpenOptions::new().write(true).open(output)?;
    if file.metadata()?.len() > good_bytes {
        eprintln!("{}: dropping an unfinished last line", output.display());
        file.set_len(good_bytes)?;
    }
    Ok(keys)
}

/// Counts over every line of `output`: parse failures, and agreement of swapped pairs.
fn summarize(output: &Path) -> Result<()> {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let errors = lines.iter().filter(|l| l.get("error").is_some()).count();
    let runs: Vec<&Value> =
        lines.iter().flat_map(|l| [l.get("judgment"), l.get("swapped").filter(|s| !s.is_null())]).flatten().collect();
    let failures = runs.iter().filter(|j| j["verdict"].is_null()).count();
    let orders: Vec<&Value> = lines.iter().map(|l| &l["order"]).filter(|o| !o.is_null()).collect();
    let consistent = orders.iter().filter(|o| o["consistent"] == true).count();
    eprintln!(
        "{} items in {}: {} of {} runs did not parse ({:.1}%)",
        lines.len(),
        output.display(),
        failures,
        runs.len(),
        100.0 * failures as f64 / runs.len().max(1) as f64
    );
    if errors > 0 {
        eprintln!("{errors} items could not be judged; their lines say why (\"error\")");
    }
    if !orders.is_empty() {
        eprintln!("{consistent} of {} swapped pairs gave the same verdict in both orders", orders.len());
    }
    Ok(())
}
