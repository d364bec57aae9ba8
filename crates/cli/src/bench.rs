//! `selene bench`: load time, prefill speed at several prompt lengths, decode speed and peak
//! memory of a model on a device.
//!
//! Each measurement runs once to warm up (shader compilation, kernel autotuning) and is then
//! timed. Speed is only meaningful beside llama.cpp on the same file and machine, so the numbers
//! are made to be read by the benchmark script (tools/bench/runtime_bench.py), which runs
//! `llama-bench` in the same run and reports ratios: prefill is the time to the first token of a
//! prompt of exactly N tokens, decode the rate of the following tokens at the depth of the first
//! prompt (what `llama-bench -n G -d N` measures).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use selene_runtime::{Engine, Flow, GenerationConfig};

use crate::model_args::ModelArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt lengths for the prefill measurements, comma-separated; decode is measured after
    /// the first.
    #[arg(long, value_delimiter = ',', default_values_t = [512, 2048])]
    prompt_tokens: Vec<usize>,
    /// Tokens generated for the decode measurement.
    #[arg(long, default_value_t = 64)]
    gen_tokens: usize,
    /// Timed runs of each measurement after the warm-up; the mean is reported.
    #[arg(long, default_value_t = 1)]
    repetitions: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

struct Timing {
    prefill: Duration,
    decode: Duration,
    decoded: usize,
}

struct Prefill {
    tokens: usize,
    rate: f64,
}

pub fn run(args: &Args) -> Result<()> {
    if args.prompt_tokens.is_empty() || args.repetitions == 0 || args.gen_tokens == 0 {
        bail!("--prompt-tokens, --repetitions and --gen-tokens must not be empty or zero");
    }
    let started = Instant::now();
    let engine = args.model.load()?;
    let load = started.elapsed();
    let mut device_peak = DevicePeak::default();
    device_peak.sample(&engine);
    let mut prefills = Vec::new();
    let mut decode_rate = 0.0;
    let mut decode_depth = 0;
    for (i, &n) in args.prompt_tokens.iter().enumerate() {
        let prompt = synthetic_prompt(&engine, n)?;
        // Decode runs after the first prompt only; the others need just their first token.
        let tokens = if i == 0 { args.gen_tokens + 1 } else { 1 };
        measure(&engine, &prompt, tokens.min(2))?;
        let runs = (0..args.repetitions).map(|_| measure(&engine, &prompt, tokens)).collect::<Result<Vec<_>>>()?;
        device_peak.sample(&engine);
        let prefill = mean(runs.iter().map(|t| t.prefill.as_secs_f64()));
        prefills.push(Prefill { tokens: prompt.len(), rate: prompt.len() as f64 / prefill });
        if i == 0 {
            decode_depth = prompt.len();
            decode_rate = mean(runs.iter().map(|t| t.decoded as f64 / t.decode.as_secs_f64()));
        }
    }
    let rss = peak_rss_bytes();
    if args.json {
        let report = serde_json::json!({
            "model": args.model.model.display().to_string(),
            "device": engine.chosen_device().name,
            "context": engine.context(),
            "load_seconds": load.as_secs_f64(),
            "repetitions": args.repetitions,
            "prefill": prefills.iter().map(|p| serde_json::json!({
                "prompt_tokens": p.tokens, "tokens_per_second": p.rate,
            })).collect::<Vec<_>>(),
            "decode": {"depth": decode_depth, "tokens": args.gen_tokens, "tokens_per_second": decode_rate},
            "peak_rss_bytes": rss,
            "device_memory_reserved_bytes": device_peak.reserved,
            "weights_device_bytes": engine.model().device_bytes(),
            "kv_cache_bytes": engine.model().cache_bytes(),
        });
        println!("{report}");
    } else {
        println!("model   {} on {}", args.model.model.display(), engine.chosen_device().name);
        println!("load    {:.2} s", load.as_secs_f64());
        for p in &prefills {
            println!("prefill {:.1} tok/s ({} tokens)", p.rate, p.tokens);
        }
        println!("decode  {decode_rate:.1} tok/s ({} tokens after {decode_depth})", args.gen_tokens);
        if let Some(rss) = rss {
            println!("peak    {:.0} MiB resident", rss as f64 / 1048576.0);
        }
        let mib = |bytes: usize| bytes as f64 / 1048576.0;
        if let Some(reserved) = device_peak.reserved {
            println!("device  {:.1} MiB reserved at most", mib(reserved as usize));
        }
        println!(
            "held    {:.1} MiB of weights, {:.1} MiB of KV cache",
            mib(engine.model().device_bytes()),
            mib(engine.model().cache_bytes())
        );
    }
    Ok(())
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    sum / n as f64
}

/// A prompt of exactly `n` tokens of ordinary text.
fn synthetic_prompt(engine: &Engine, n: usize) -> Result<Vec<u32>> {
    let text = "The judge read the response twice, compared it with the rubric, and wrote down a score. ";
    let mut ids = engine.text_prompt(&text.repeat(n / 8 + 1), false)?;
    if n >= engine.context() {
        bail!("a {n}-token prompt does not fit in --context {}", engine.context());
    }
    ids.truncate(n.max(1));
    Ok(ids)
}

/// Greedy generation of `tokens` tokens: the first arrives after the prefill, the rest are decode.
fn measure(engine: &Engine, prompt: &[u32], tokens: usize) -> Result<Timing> {
    let config = GenerationConfig { max_tokens: tokens, ..Default::default() };
    let start = Instant::now();
    let mut first = None;
    let mut count = 0usize;
    engine.generate(prompt, &config, |_| {
        count += 1;
        first.get_or_insert_with(Instant::now);
        Flow::Continue
    })?;
    let end = Instant::now();
    let first = first.unwrap_or(end);
    Ok(Timing { prefill: first - start, decode: end - first, decoded: count.saturating_sub(1) })
}

/// The most device memory Burn's allocator held at any of the samples (taken after loading and
/// after each measurement; its pools keep pages for reuse, so this is close to the true peak).
/// None on a device that does not report it.
#[derive(Default)]
struct DevicePeak {
    reserved: Option<u64>,
}

impl DevicePeak {
    fn sample(&mut self, engine: &Engine) {
        if let Some(usage) = engine.device().memory_pool_usage() {
            self.reserved = Some(self.reserved.unwrap_or(0).max(usage.bytes_reserved));
        }
    }
}

/// The process's peak resident set size (`VmHWM`), on Linux.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim();
    kib.parse::<u64>().ok().map(|k| k * 1024)
}
