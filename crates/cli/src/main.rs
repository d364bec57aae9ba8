//! `selene`: judge LLM outputs with a local GGUF judge model, and look inside model files.

mod batch;
mod bench;
mod eval;
mod generate;
mod generation_cache;
mod hub;
mod inspect;
mod items;
mod judge;
mod model_args;
mod runner;
mod tokenize;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "selene", version, about = "Offline LLM-as-a-judge with Atla Selene Mini and other GGUF models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a GGUF file's metadata and tensor table (the whole model for a split set).
    Inspect(inspect::Args),
    /// Print the token ids of a text as JSON.
    Tokenize(tokenize::Args),
    /// Complete a prompt and print the completion as it is generated.
    Generate(generate::Args),
    /// Measure load time and prefill and decode speed.
    Bench(bench::Args),
    /// Judge one item: absolute score, classification or pairwise preference.
    Judge(judge::Args),
    /// Judge every item of a JSONL/CSV file or benchmark folder; resumable.
    Batch(batch::Args),
    /// Score a judge on benchmarks as the Selene Mini paper does (Table 1); cached, resumable.
    Eval(eval::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Tokenize(args) => tokenize::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Judge(args) => judge::run(&args),
        Command::Batch(args) => batch::run(&args),
        Command::Eval(args) => eval::run(&args),
    }
}
