//! `selene-train`: curate judge preference pairs, and train a Llama judge on them with DPO + NLL.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use selene_runtime::{DeviceSpec, LoadOptions};
use selene_train::curate::{CritiqueModel, CurationConfig, curate};
use selene_train::device::Precision;
use selene_train::lora::LoraSettings;
use selene_train::loss::{LossSettings, NllNorm};
use selene_train::schedule::Decay;
use selene_train::trainer::{ExportDtype, ReferenceMode, Run, Settings, Tuning};

#[derive(Parser)]
#[command(
    name = "selene-train",
    version,
    about = "Curate judge preference pairs and fine-tune a Llama judge with DPO + NLL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Judge datasets → preference pairs with chain-of-thought critiques (paper §2).
    Curate(CurateArgs),
    /// DPO + NLL training on preference pairs, with checkpoints, metrics, a report and an export.
    Train(Box<TrainArgs>),
}

#[derive(Args)]
struct CurateArgs {
    /// Curation config (JSON: seed, cot_fraction, eval_items, datasets with field mappings)
    #[arg(long)]
    config: PathBuf,
    /// GGUF chat model that writes the critiques
    #[arg(long)]
    writer: PathBuf,
    /// Pairs file to write (JSON Lines)
    #[arg(long)]
    out: PathBuf,
    /// Where to write the held-out items (selene-judge item JSON Lines with gold)
    #[arg(long)]
    eval_out: Option<PathBuf>,
    /// Where to write the step counts as JSON (default: beside --out)
    #[arg(long)]
    report: Option<PathBuf>,
    /// Where the writer runs (as `selene --device`: auto, wgpu, wgpu-cpu, cpu, cuda, cuda:N)
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Sampling temperature of the writer (0: greedy)
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Longest critique, in tokens
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Context of the writer, in tokens (longer prompts are dropped and counted)
    #[arg(long, default_value_t = 4096)]
    writer_context: usize,
}

#[derive(Args)]
struct TrainArgs {
    /// Base model: Hugging Face Llama checkpoint folder (config.json, safetensors, tokenizer.json)
    #[arg(long)]
    base: PathBuf,
    /// Preference pairs (JSON Lines: prompt, chosen, rejected)
    #[arg(long)]
    pairs: PathBuf,
    /// Run folder: checkpoints, metrics.jsonl, report.html, summary.json, model/, adapter/
    #[arg(long)]
    out: PathBuf,
    /// Continue from the run folder's latest checkpoint
    #[arg(long)]
    resume: bool,
    /// Held-out judge items with gold judgments, for judge accuracy every --eval-every steps
    #[arg(long)]
    eval: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    eval_every: usize,
    #[arg(long, default_value_t = 256)]
    eval_max_tokens: usize,
    /// cpu, cpu:N (N data-parallel replicas), wgpu, cuda (the first GPU) or cuda:0,1
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    precision: Precision,
    /// Recompute memory-bound activations in the backward pass instead of keeping them
    #[arg(long)]
    gradient_checkpointing: bool,
    /// Train LoRA adapters instead of all weights
    #[arg(long)]
    lora: bool,
    #[arg(long, default_value_t = 16)]
    lora_rank: usize,
    #[arg(long, default_value_t = 32.0)]
    lora_alpha: f64,
    /// Projections to adapt (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj) or all-linear
    #[arg(long, value_delimiter = ',', default_value = "all-linear")]
    lora_targets: Vec<String>,
    /// PEFT adapter folder to start the LoRA adapters from
    #[arg(long)]
    init_adapter: Option<PathBuf>,
    /// Reference log-probabilities: live (LoRA default) or precomputed (full fine-tuning)
    #[arg(long, value_enum)]
    reference: Option<ReferenceMode>,
    /// DPO β
    #[arg(long, default_value_t = 0.1)]
    beta: f64,
    /// Weight of the NLL term (the paper's α)
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
    #[arg(long, value_enum, default_value_t = NllNorm::Tokens)]
    nll_norm: NllNorm,
    #[arg(long, default_value_t = 1e-7)]
    lr: f64,
    #[arg(long, default_value_t = 0.1)]
    weight_decay: f64,
    #[arg(long, default_value_t = 0.1)]
    warmup_ratio: f64,
    #[arg(long, value_enum, default_value_t = Decay::Cosine)]
    schedule: Decay,
    /// Pairs per optimizer step
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Pairs per forward pass (gradients are accumulated up to --batch-size)
    #[arg(long, default_value_t = 1)]
    micro_batch_size: usize,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    #[arg(long)]
    max_steps: Option<usize>,
    /// Longest prompt + reply in tokens; longer pairs are dropped and counted
    #[arg(long, default_value_t = 2048)]
    max_length: usize,
    /// Clip the global gradient norm (0: no clipping)
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    #[arg(long, default_value_t = 2)]
    keep_checkpoints: usize,
    #[arg(long, value_enum, default_value_t = ExportDtype::Bf16)]
    export_dtype: ExportDtype,
    /// Largest safetensors shard of the export (decimal units: 5G, 500M)
    #[arg(long, default_value = "5G", value_parser = parse_size)]
    max_shard_size: u64,
}

fn parse_size(s: &str) -> Result<u64, String> {
    selene_gguf::parse_size(s).ok_or_else(|| format!("{s:?} is not a size such as 5G or 500M"))
}

fn settings(a: &TrainArgs) -> selene_train::error::Result<Settings> {
    let tuning = match a.lora {
        true => Tuning::Lora(LoraSettings::new(a.lora_rank, a.lora_alpha, &a.lora_targets)?),
        false => Tuning::Full,
    };
    let reference = a.reference.unwrap_or(if a.lora { ReferenceMode::Live } else { ReferenceMode::Precomputed });
    Ok(Settings {
        base: a.base.clone(),
        pairs: a.pairs.clone(),
        eval: a.eval.clone(),
        tuning,
        init_adapter: a.init_adapter.clone(),
        reference,
        loss: LossSettings { beta: a.beta, alpha: a.alpha, nll_norm: a.nll_norm },
        learning_rate: a.lr,
        weight_decay: a.weight_decay,
        warmup_ratio: a.warmup_ratio,
        decay: a.schedule,
        batch_size: a.batch_size,
        micro_batch_size: a.micro_batch_size,
        epochs: a.epochs,
        max_steps: a.max_steps,
        max_length: a.max_length,
        max_grad_norm: Some(a.max_grad_norm).filter(|&n| n > 0.0),
        seed: a.seed,
        precision: a.precision,
        gradient_checkpointing: a.gradient_checkpointing,
        eval_every: a.eval_every,
        eval_max_tokens: a.eval_max_tokens,
        checkpoint_every: a.checkpoint_every,
        keep_checkpoints: a.keep_checkpoints,
        export_dtype: a.export_dtype,
        max_shard_bytes: a.max_shard_size,
    })
}

fn run(cli: Cli) -> selene_train::error::Result<()> {
    let mut progress = |line: &str| eprintln!("{line}");
    match cli.command {
        Command::Curate(a) => {
            let config = CurationConfig::load(&a.config)?;
            let base = a.config.parent().map(PathBuf::from).unwrap_or_default();
            let options = LoadOptions { device: a.device, context: a.writer_context, ..Default::default() };
            let mut writer = CritiqueModel::open(&a.writer, &options, a.max_new_tokens, a.temperature)?;
            let report = curate(&config, &base, &mut writer, &a.out, a.eval_out.as_deref(), &mut progress)?;
            report.save(&a.report.unwrap_or_else(|| a.out.with_extension("report.json")))?;
            eprint!("{}", report.table());
        }
        Command::Train(a) => {
            let run = Run {
                settings: settings(&a)?,
                device: a.device.clone(),
                out: a.out.clone(),
                resume: a.resume,
                progress: &mut progress,
            };
            let summary = run.train()?;
            eprintln!("{}", serde_json::to_string_pretty(&summary).expect("summary serializes"));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("selene-train: {e}");
            ExitCode::FAILURE
        }
    }
}
