//! `selene bench`: load time, prefill and decode speed of a model on a device.
//!
//! Each measurement runs once to warm up (shader compilation, kernel autotuning) and is then
//! timed. llama.cpp's numbers for the same file come from the benchmark script
//! (tools/bench/), which runs both side by side and reports ratios.

use std::time::{Duration, Instant};

use anyhow::Result;
use selene_runtime::{Engine, Flow, GenerationConfig};

use crate::model_args::ModelArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens generated for the decode measurement.
    #[arg(long, default_value_t = 64)]
    gen_tokens: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

struct Timing {
    prefill: Duration,
    decode: Duration,
    decoded: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let engine = args.model.load()?;
    let load = started.elapsed();
    let prompt = synthetic_prompt(&engine, args.prompt_tokens)?;
    measure(&engine, &prompt, 2)?;
    let t = measure(&engine, &prompt, args.gen_tokens + 1)?;
    let prefill_rate = prompt.len() as f64 / t.prefill.as_secs_f64();
    let decode_rate = t.decoded as f64 / t.decode.as_secs_f64();
    if args.json {
        let report = serde_json::json!({
            "model": args.model.model.display().to_string(),
            "device": args.model.device.to_string(),
            "load_seconds": load.as_secs_f64(),
            "prompt_tokens": prompt.len(),
            "prefill_tokens_per_second": prefill_rate,
            "decode_tokens": t.decoded,
            "decode_tokens_per_second": decode_rate,
        });
        println!("{report}");
    } else {
        println!("model   {} on {}", args.model.model.display(), args.model.device);
        println!("load    {:.2} s", load.as_secs_f64());
        println!("prefill {prefill_rate:.1} tok/s ({} tokens)", prompt.len());
        println!("decode  {decode_rate:.1} tok/s ({} tokens)", t.decoded);
    }
    Ok(())
}

/// A prompt of exactly `n` tokens of ordinary text.
fn synthetic_prompt(engine: &Engine, n: usize) -> Result<Vec<u32>> {
    let text = "The judge read the response twice, compared it with the rubric, and wrote down a score. ";
    let mut ids = engine.text_prompt(&text.repeat(n / 8 + 1), false)?;
    ids.truncate(n.clamp(1, engine.context() - 1));
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
