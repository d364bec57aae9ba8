//! Judging one item with a loaded model, the same way on the command line and in a browser:
//! the judge crate's prompt as one user message in the model's chat template, greedy
//! generation with the best alternatives recorded at every step, then the parsed verdict and
//! the probability distribution over labels at the token that holds the result.

use selene_judge::{
    BuiltinTemplate, JudgeItem, LabelDistribution, OrderReport, Template, Verdict, combine_orders, find_result_token,
    label_distribution, parse_verdict, render,
};
use selene_tokenizer::{Message, Segment};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Flow, GeneratedToken, StopReason};
use crate::error::{Result, RuntimeError};
use crate::sampling::{CANDIDATES, GenerationConfig};

/// How to judge.
#[derive(Clone, Debug)]
pub struct JudgeOptions {
    /// The prompt template; `None` picks Selene's trained template for the item's task.
    pub template: Option<Template>,
    pub max_tokens: usize,
    /// Alternatives recorded per step; the score distribution sees only these.
    pub alternatives: usize,
    /// For pairwise items, also judge with the responses swapped and report whether the two
    /// verdicts agree (position bias).
    pub swap: bool,
    /// Text the judge's reply starts with, as if the model had written it (e.g.
    /// `**Reasoning:**`), for models that do not keep to Selene's output format by themselves.
    /// It is part of the reported output and of what is parsed.
    pub prefill: Option<String>,
    /// Hold the reply to Selene's output format: after the prefill (by default
    /// `**Reasoning:**`) the model writes its reasoning (stopped where
    /// it starts a result of its own), then `**Result:**` is appended and the result is the
    /// most probable label at the next token, the only place a label may go. For models too
    /// small to keep to the format; the report says so (`structured`).
    pub structured: bool,
}

impl Default for JudgeOptions {
    fn default() -> Self {
        JudgeOptions {
            template: None,
            max_tokens: 1024,
            alternatives: 20,
            swap: false,
            prefill: None,
            structured: false,
        }
    }
}

impl JudgeOptions {
    /// The text the judge's reply starts with before the model writes anything.
    pub fn reply_start(&self) -> &str {
        self.prefill.as_deref().unwrap_or(if self.structured { REASONING_MARK } else { "" })
    }

    /// The text of the prompt `item` is judged with (the user message's content): the chosen
    /// template, else Selene's trained one for the item's task, filled with the item.
    pub fn prompt_text(&self, item: &JudgeItem) -> Result<String> {
        let rendered = match &self.template {
            Some(template) => render(template, item).map(|p| p.text()),
            None => render(&BuiltinTemplate::for_item(item).template(), item).map(|p| p.text()),
        };
        rendered.map_err(|e| RuntimeError::Invalid(e.to_string()))
    }
}

/// One run of the judge over one prompt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Judgment {
    /// The judge's whole output.
    pub output: String,
    pub verdict: Option<Verdict>,
    /// Why the output did not parse; a parse failure is reported, never guessed around.
    pub parse_error: Option<String>,
    /// Probabilities of the labels at the result token.
    pub distribution: Option<LabelDistribution>,
    /// Why there is no distribution although the output parsed.
    pub distribution_error: Option<String>,
    pub prompt_tokens: usize,
    pub generated_tokens: usize,
    /// `end_of_generation`, `max_tokens`, `context_full` or `cancelled`.
    pub stop: String,
    /// The result was placed by structured judging, not written by the model on its own.
    pub structured: bool,
}

/// Everything selene reports for one item.
#[derive(Clone, Debug, Serialize)]
pub struct JudgeReport {
    pub id: Option<String>,
    pub task: &'static str,
    pub judgment: Judgment,
    /// The run with responses A and B swapped (`--swap`), its verdict as the model printed it.
    pub swapped: Option<Judgment>,
    /// Both runs' verdicts in the item's own labelling, and whether they agree.
    pub order: Option<OrderReport>,
}

/// Which of a report's runs a streamed token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    Original,
    Swapped,
}

/// Judges `item`, calling `on_token` with every generated token.
pub async fn judge_async(
    engine: &Engine,
    item: &JudgeItem,
    options: &JudgeOptions,
    mut on_token: impl FnMut(Run, &GeneratedToken) -> Flow,
) -> Result<JudgeReport> {
    judge_orders(item, options.swap, async |run, item| judge_once(engine, item, options, |t| on_token(run, t)).await)
        .await
}

/// Judges `item` with `judge_run`, which judges one item as given; a pairwise item is judged a
/// second time with its responses swapped when `swap` is set, and the two verdicts combined.
/// [`judge_async`] runs [`judge_once`]; a caller with its own source of judgments (a cache)
/// passes that instead, and gets the same report.
pub async fn judge_orders<E>(
    item: &JudgeItem,
    swap: bool,
    mut judge_run: impl AsyncFnMut(Run, &JudgeItem) -> std::result::Result<Judgment, E>,
) -> std::result::Result<JudgeReport, E> {
    let judgment = judge_run(Run::Original, item).await?;
    let (swapped, order) = match item.swapped().filter(|_| swap) {
        Some(swapped_item) => {
            let swapped = judge_run(Run::Swapped, &swapped_item).await?;
            let side = |j: &Judgment| j.verdict.as_ref().and_then(|v| v.result.side());
            let order = combine_orders(side(&judgment), side(&swapped));
            (Some(swapped), Some(order))
        }
        None => (None, None),
    };
    Ok(JudgeReport { id: item.id.clone(), task: item.kind().name(), judgment, swapped, order })
}

/// [`judge_async`], blocking until it is done (native only).
pub fn judge(
    engine: &Engine,
    item: &JudgeItem,
    options: &JudgeOptions,
    on_token: impl FnMut(Run, &GeneratedToken) -> Flow,
) -> Result<JudgeReport> {
    pollster::block_on(judge_async(engine, item, options, on_token))
}

/// Judges `item` once, as given (no swap): one generation, its verdict and distribution.
pub async fn judge_once(
    engine: &Engine,
    item: &JudgeItem,
    options: &JudgeOptions,
    on_token: impl FnMut(&GeneratedToken) -> Flow,
) -> Result<Judgment> {
    let prompt = options.prompt_text(item)?;
    let mut ids = engine.chat_prompt(&[Message::new("user", prompt)])?;
    let prefill = options.reply_start();
    if !prefill.is_empty() {
        ids.extend(engine.tokenizer().encode_segments(&[Segment::Data(prefill.into())])?);
    }
    let stop = if options.structured { vec![RESULT_START.to_owned()] } else { Vec::new() };
    let config =
        GenerationConfig { max_tokens: options.max_tokens, logprobs: options.alternatives, stop, ..Default::default() };
    let mut generation = engine.generate_async(&ids, &config, on_token).await?;
    let labels = item.labels();
    let mut output = format!("{prefill}{}", generation.text);
    let (verdict, parse_error, distribution, distribution_error) = if options.structured {
        structured_result(engine, &ids, prefill, &mut output, labels).await?
    } else {
        let (verdict, parse_error) = match parse_verdict(&output, labels) {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e.reason)),
        };
        let (distribution, distribution_error) = match verdict {
            Some(_) => match result_distribution(engine, prefill, &generation.tokens, labels) {
                Ok(d) => (Some(d), None),
                Err(e) => (None, Some(e)),
            },
            None => (None, None),
        };
        (verdict, parse_error, distribution, distribution_error)
    };
    if options.structured && generation.stop == StopReason::StopSequence {
        generation.stop = StopReason::EndOfGeneration;
    }
    Ok(Judgment {
        output,
        verdict,
        parse_error,
        distribution,
        distribution_error,
        prompt_tokens: generation.prompt_tokens,
        generated_tokens: generation.tokens.len(),
        stop: stop_name(generation.stop).to_owned(),
        structured: options.structured,
    })
}

/// Where structured judging puts the result, after the reasoning; the reasoning stops where the
/// model starts writing it.
const RESULT_MARK: &str = "**Result:**";
const RESULT_START: &str = "**Result";
/// How structured judging starts the reply unless told otherwise.
const REASONING_MARK: &str = "**Reasoning:**";

type ResultParts = (Option<Verdict>, Option<String>, Option<LabelDistribution>, Option<String>);

/// Structured judging's second step: `output` (the prefill and the reasoning) gets
/// [`RESULT_MARK`] and the most probable label after it, and the label distribution there is
/// the report's.
async fn structured_result(
    engine: &Engine,
    prompt: &[u32],
    prefill: &str,
    output: &mut String,
    labels: selene_judge::LabelSet,
) -> Result<ResultParts> {
    output.truncate(output.trim_end().trim_end_matches('*').trim_end().len());
    output.push_str("\n\n");
    output.push_str(RESULT_MARK);
    let written = &output[prefill.len()..];
    let mut ids = prompt.to_vec();
    ids.extend(engine.tokenizer().encode_segments(&[Segment::Data(written.into())])?);
    // Every label should be among the candidates, however unlikely, so take as many as there are.
    let next = engine.next_token_async(&ids, CANDIDATES).await?;
    let tokenizer = engine.tokenizer();
    let candidates: Vec<(String, f32)> = next
        .alternatives
        .iter()
        .map(|&(id, logprob)| {
            (String::from_utf8_lossy(tokenizer.token_bytes(id).unwrap_or_default()).into_owned(), logprob)
        })
        .collect();
    let distribution = match label_distribution(&candidates, labels) {
        Ok(d) => d,
        Err(e) => return Ok((None, Some(format!("structured judging: {e}")), None, None)),
    };
    output.push_str(&format!(" {}", distribution.top));
    let verdict =
        parse_verdict(output, labels).map_err(|e| RuntimeError::Invalid(format!("structured output: {e}")))?;
    Ok((Some(verdict), None, Some(distribution), None))
}

/// The label distribution at the generated token that holds the result of `reply_start` followed
/// by the generation (a reply started with `**Result:**` has its value in the first token).
fn result_distribution(
    engine: &Engine,
    reply_start: &str,
    tokens: &[GeneratedToken],
    labels: selene_judge::LabelSet,
) -> std::result::Result<LabelDistribution, String> {
    let tokenizer = engine.tokenizer();
    let bytes = |id: u32| tokenizer.token_bytes(id).unwrap_or_default();
    let token_bytes: Vec<&[u8]> =
        std::iter::once(reply_start.as_bytes()).chain(tokens.iter().map(|t| bytes(t.choice.token))).collect();
    let at = find_result_token(&token_bytes, labels).map_err(|e| e.to_string())?;
    let Some(index) = at.index.checked_sub(1) else {
        return Err("the result is in the given start of the reply, not in a generated token".to_owned());
    };
    let candidates: Vec<(String, f32)> = tokens[index]
        .choice
        .alternatives
        .iter()
        .map(|&(id, logprob)| (String::from_utf8_lossy(bytes(id)).into_owned(), logprob))
        .collect();
    label_distribution(&candidates, labels).map_err(|e| e.to_string())
}

fn stop_name(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndOfGeneration => "end_of_generation",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ContextFull => "context_full",
        StopReason::Cancelled => "cancelled",
    }
}
