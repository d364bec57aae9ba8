//! `selene`: judge LLM outputs with a local GGUF judge model, and look inside model files.

mod inspect;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Inspect(args) => inspect::run(&args),
    }
}
