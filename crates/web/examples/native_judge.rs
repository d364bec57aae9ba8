//! Judges one item natively exactly as the browser page does (same options JSON, same judge
//! code) and prints the report with every generated token id, which the browser test compares
//! with the ids the page streamed, and the whole prompt the model reads (chat template, judge
//! prompt and prefill) as token ids and as text, which the benchmark gives other runtimes:
//!
//!     cargo run --release -p selene-web --example native_judge -- MODEL.gguf ITEM.json '{"max_tokens": 64}' [cpu|wgpu-cpu]
//!
//! MODEL is one GGUF file or the first shard of a split set.

use std::path::Path;

use selene_judge::{BuiltinTemplate, JudgeItem, render};
use selene_runtime::{Engine, Flow, LoadOptions, Run, judge};
use selene_tokenizer::{Message, Segment};
use selene_web::JudgeRequest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, item, options) = match &args[..] {
        [model, item, options, ..] => (model, item, options),
        _ => return Err("usage: native_judge MODEL.gguf ITEM.json OPTIONS_JSON [cpu|wgpu-cpu|wgpu]".into()),
    };
    let device = args.get(3).map_or("cpu", String::as_str).parse()?;
    let item: JudgeItem = serde_json::from_str(&std::fs::read_to_string(item)?)?;
    let options = JudgeRequest::parse(options)?.options()?;
    // The page loads with a context of 2048 tokens.
    let engine = Engine::load(Path::new(model), &LoadOptions { device, context: 2048, ..Default::default() })?;
    let (mut original, mut swapped) = (Vec::new(), Vec::new());
    let report = judge(&engine, &item, &options, |run, token| {
        match run {
            Run::Original => original.push(token.choice.token),
            Run::Swapped => swapped.push(token.choice.token),
        }
        Flow::Continue
    })?;
    // The ids the judge fed the model for the item as given, as `judge_once` builds them.
    let template = options.template.clone().unwrap_or_else(|| BuiltinTemplate::for_item(&item).template());
    let mut prompt = engine.chat_prompt(&[Message::new("user", render(&template, &item)?.text())])?;
    prompt.extend(engine.tokenizer().encode_segments(&[Segment::Data(options.reply_start().into())])?);
    if prompt.len() != report.judgment.prompt_tokens {
        return Err(
            format!("rebuilt {} prompt ids, the judge read {}", prompt.len(), report.judgment.prompt_tokens).into()
        );
    }
    let out = serde_json::json!({
        "report": report,
        "tokens": { "original": original, "swapped": swapped },
        "prompt": { "ids": prompt, "text": engine.tokenizer().decode(&prompt, false)? },
    });
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
