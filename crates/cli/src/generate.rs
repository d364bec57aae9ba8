//! `selene generate`: a completion of a prompt, streamed to standard output.

use std::io::Write;

use anyhow::Result;
use selene_runtime::{Flow, GenerationConfig, Message};

use crate::model_args::ModelArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt.
    #[arg(long, short = 'p')]
    prompt: String,
    /// Send the prompt as a user message through the model's chat template.
    #[arg(long)]
    chat: bool,
    #[command(flatten)]
    sampling: SamplingArgs,
}

/// Sampling options shared by the commands that generate.
#[derive(clap::Args, Clone, Debug)]
pub struct SamplingArgs {
    #[arg(long, short = 'n', default_value_t = 256)]
    pub max_tokens: usize,
    /// 0 for greedy decoding.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SamplingArgs {
    pub fn config(&self) -> GenerationConfig {
        GenerationConfig {
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            seed: self.seed,
            ..Default::default()
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let engine = args.model.load()?;
    let prompt = match args.chat {
        true => engine.chat_prompt(&[Message::new("user", args.prompt.as_str())])?,
        false => engine.text_prompt(&args.prompt, false)?,
    };
    let mut out = std::io::stdout().lock();
    let generation = engine.generate(&prompt, &args.sampling.config(), |token| {
        // A closed pipe (`| head`) ends generation rather than the program.
        match out.write_all(token.text.as_bytes()).and_then(|_| out.flush()) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    })?;
    let rest =
        &generation.text[generation.tokens.iter().map(|t| t.text.len()).sum::<usize>().min(generation.text.len())..];
    let _ = writeln!(out, "{rest}");
    Ok(())
}
