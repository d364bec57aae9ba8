//! The options every command that runs a model shares.

use std::path::PathBuf;

use anyhow::{Context, Result};
use selene_runtime::{Backend, Engine, LoadOptions};

#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// A GGUF file, the first shard of a split set, or hf:owner/repo[:file.gguf] from the
    /// Hugging Face Hub (cached; honours HF_HOME, HF_ENDPOINT and HF_HUB_OFFLINE).
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Where to run: wgpu (a GPU through Vulkan/Metal/DX12), wgpu-cpu (software Vulkan),
    /// cpu (Burn's Flex backend), or cuda / cuda:N (needs a build with the `cuda` feature).
    #[arg(long, default_value = "wgpu")]
    pub device: Backend,
    /// Longest prompt plus completion, in tokens.
    #[arg(long, default_value_t = 4096)]
    pub context: usize,
    /// Use this tokenizer.json instead of the tokenizer stored in the GGUF file.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
}

impl ModelArgs {
    /// The model's local file (its first shard for a split set), fetched first for an `hf:` name.
    pub fn path(&self) -> Result<PathBuf> {
        crate::hub::resolve(&self.model)
    }

    pub fn load(&self) -> Result<Engine> {
        let options =
            LoadOptions { backend: self.device, context: self.context, tokenizer_json: self.tokenizer.clone() };
        Engine::load(&self.path()?, &options).with_context(|| format!("loading {}", self.model.display()))
    }
}
