//! `selene judge`: one item, from flags or a JSON file; the reasoning streams as the model writes
//! it, then the verdict and its score distribution.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use selene_judge::{BuiltinTemplate, JudgeItem, Template};
use selene_runtime::{Flow, JudgeOptions, JudgeReport, Judgment, Run, judge};
use serde_json::{Value, json};

use crate::model_args::ModelArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The item as JSON (the schema in the README); `-` reads standard input.
    #[arg(long, conflicts_with_all = ["task", "instruction"])]
    item: Option<PathBuf>,
    #[arg(long, value_parser = ["absolute", "classification", "pairwise"])]
    task: Option<String>,
    /// What the response answers.
    #[arg(long)]
    instruction: Option<String>,
    #[arg(long)]
    response: Option<String>,
    #[arg(long)]
    response_a: Option<String>,
    #[arg(long)]
    response_b: Option<String>,
    /// A reference answer (absolute and classification).
    #[arg(long)]
    reference: Option<String>,
    /// The rubric's question or criterion.
    #[arg(long)]
    rubric: Option<String>,
    /// Score descriptions for an absolute task, lowest first (give it once per score).
    #[arg(long = "score")]
    scores: Vec<String>,
    /// What "Yes" means, for a classification task.
    #[arg(long)]
    yes: Option<String>,
    /// What "No" means, for a classification task.
    #[arg(long)]
    no: Option<String>,
    #[command(flatten)]
    judging: JudgingArgs,
    /// Print the report as JSON instead of streaming text.
    #[arg(long)]
    json: bool,
}

/// Options shared by `judge` and `batch`.
#[derive(clap::Args, Clone, Debug)]
pub struct JudgingArgs {
    /// Judge pairwise items in both orders and report whether the verdicts agree.
    #[arg(long)]
    pub swap: bool,
    /// A prompt template file with the same `{variables}` as Selene's: plain text, or YAML
    /// (`.yaml`) laid out as the shipped templates.
    #[arg(long, conflicts_with = "format")]
    pub template: Option<PathBuf>,
    /// A built-in template by name (e.g. pairwise-markdown, pairwise-json, pairwise-prepair).
    #[arg(long)]
    pub format: Option<String>,
    #[command(flatten)]
    pub reply: ReplyArgs,
}

/// How the judge's reply is generated; shared by `judge`, `batch` and `eval`.
#[derive(clap::Args, Clone, Debug)]
pub struct ReplyArgs {
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: usize,
    /// Start the judge's reply with this text (e.g. "**Reasoning:**"), for models that do not
    /// keep to Selene's output format on their own; Selene Mini needs none.
    #[arg(long)]
    pub prefill: Option<String>,
    /// Hold the reply to Selene's format: reasoning, then "**Result:**" and the most probable
    /// label; for small models that do not keep to the format (the report marks it).
    #[arg(long)]
    pub structured: bool,
}

impl ReplyArgs {
    /// Judge options with these reply settings, the given template and swapping.
    pub fn options(&self, template: Option<Template>, swap: bool) -> JudgeOptions {
        JudgeOptions {
            template,
            max_tokens: self.max_tokens,
            swap,
            prefill: self.prefill.clone(),
            structured: self.structured,
            ..Default::default()
        }
    }
}

impl JudgingArgs {
    pub fn options(&self) -> Result<JudgeOptions> {
        let template = match (&self.template, &self.format) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
                let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
                let template = if yaml { Template::from_yaml(&text) } else { Template::parse(&text) };
                Some(template.with_context(|| path.display().to_string())?)
            }
            (None, Some(name)) => match BuiltinTemplate::from_name(name) {
                Some(builtin) => Some(builtin.template()),
                None => {
                    let names: Vec<_> = BuiltinTemplate::all().iter().map(|b| b.name()).collect();
                    bail!("unknown format {name:?}; built-in templates: {}", names.join(", "))
                }
            },
            (None, None) => None,
        };
        Ok(self.reply.options(template, self.swap))
    }
}

pub fn run(args: &Args) -> Result<()> {
    let item = item_from(args)?;
    let options = args.judging.options()?;
    let engine = args.model.load()?;
    let mut out = std::io::stdout().lock();
    let mut current = None;
    let report = judge(&engine, &item, &options, |run, token| {
        if !args.json {
            if current != Some(run) {
                let _ = writeln!(out, "{}", if run == Run::Original { "" } else { "\n--- responses swapped ---" });
                let _ = write!(out, "{}", options.reply_start());
                current = Some(run);
            }
            let _ = out.write_all(token.text.as_bytes()).and_then(|_| out.flush());
        }
        Flow::Continue
    })?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_summary(&mut out, &report)?;
    }
    Ok(())
}

fn item_from(args: &Args) -> Result<JudgeItem> {
    if let Some(path) = &args.item {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(path).with_context(|| path.display().to_string())?
        };
        return serde_json::from_str(&text).with_context(|| path.display().to_string());
    }
    let (Some(task), Some(instruction)) = (&args.task, &args.instruction) else {
        bail!("give --item FILE, or --task and --instruction with the task's fields");
    };
    let mut item = json!({ "task": task, "user_input": instruction });
    let set = |item: &mut Value, key: &str, value: &Option<String>| {
        if let Some(v) = value {
            item[key] = v.as_str().into();
        }
    };
    for (key, value) in [
        ("response", &args.response),
        ("response_a", &args.response_a),
        ("response_b", &args.response_b),
        ("reference", &args.reference),
    ] {
        set(&mut item, key, value);
    }
    let mut rubric = json!({});
    set(&mut rubric, "objective", &args.rubric);
    set(&mut rubric, "yes", &args.yes);
    set(&mut rubric, "no", &args.no);
    if !args.scores.is_empty() {
        rubric["scores"] = args.scores.clone().into();
    }
    if rubric.as_object().is_some_and(|r| !r.is_empty()) {
        item["rubric"] = rubric;
    }
    Ok(serde_json::from_value(item)?)
}

fn print_summary(out: &mut impl Write, report: &JudgeReport) -> Result<()> {
    writeln!(out)?;
    summarize(out, "", &report.judgment)?;
    if let (Some(swapped), Some(order)) = (&report.swapped, &report.order) {
        summarize(out, "swapped: ", swapped)?;
        match (order.consistent, order.verdict) {
            (true, Some(side)) => writeln!(out, "verdict: {side:?} in both orders")?,
            _ => writeln!(out, "verdict: inconsistent (the two orders disagree or did not parse)")?,
        }
    }
    Ok(())
}

fn summarize(out: &mut impl Write, prefix: &str, j: &Judgment) -> Result<()> {
    match (&j.verdict, &j.parse_error) {
        (Some(v), _) => {
            let result = serde_json::to_string(&v.result)?;
            write!(out, "{prefix}result: {}", result.trim_matches('"'))?;
            if let Some(d) = &j.distribution {
                let probs: Vec<String> = d
                    .probabilities
                    .iter()
                    .map(|(l, p)| format!("{}={p:.2}", serde_json::to_string(l).unwrap_or_default().trim_matches('"')))
                    .collect();
                write!(out, "  (confidence {:.2}; {}", d.confidence, probs.join(" "))?;
                if let Some(e) = d.expected_score {
                    write!(out, "; expected score {e:.2}")?;
                }
                write!(out, ")")?;
            }
            writeln!(out)?;
        }
        (None, Some(why)) => writeln!(out, "{prefix}parse failure: {why}")?,
        (None, None) => writeln!(out, "{prefix}no verdict")?,
    }
    Ok(())
}
