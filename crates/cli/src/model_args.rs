//! The options every command that runs a model shares.

use std::path::PathBuf;

use anyhow::{Context, Result};
use selene_runtime::{CacheType, DeviceSpec, Engine, LoadOptions};

#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// A GGUF file, the first shard of a split set, or hf:owner/repo[:file.gguf] from the
    /// Hugging Face Hub (cached; honours HF_HOME, HF_ENDPOINT and HF_HUB_OFFLINE).
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Where to run: auto (a GPU if there is one, else the CPU), wgpu (a GPU through
    /// Vulkan/Metal/DX12), wgpu-cpu (software Vulkan, slow), cpu, or cuda / cuda:N (needs a
    /// build with the `cuda` feature).
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Longest prompt plus completion, in tokens.
    #[arg(long, default_value_t = 4096)]
    pub context: usize,
    /// Use this tokenizer.json instead of the tokenizer stored in the GGUF file.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Threads of the CPU engine (default: one per physical core).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// How the CPU engine stores the KV cache: f16 (half the memory, llama.cpp's default) or f32.
    #[arg(long, value_parser = parse_cache_type, default_value = "f16")]
    pub cache_type: CacheType,
}

fn parse_cache_type(s: &str) -> Result<CacheType, String> {
    match s {
        "f16" => Ok(CacheType::F16),
        "f32" => Ok(CacheType::F32),
        other => Err(format!("{other:?} is not a cache type: f16 or f32")),
    }
}

impl ModelArgs {
    /// The model's local file (its first shard for a split set), fetched first for an `hf:` name.
    pub fn path(&self) -> Result<PathBuf> {
        crate::hub::resolve(&self.model)
    }

    /// Loads the model and says on which device, and why there, in one line on stderr.
    pub fn load(&self) -> Result<Engine> {
        selene_runtime::use_threads(self.threads)?;
        let options = LoadOptions {
            device: self.device.clone(),
            context: self.context,
            tokenizer_json: self.tokenizer.clone(),
            cache_type: self.cache_type,
        };
        let engine =
            Engine::load(&self.path()?, &options).with_context(|| format!("loading {}", self.model.display()))?;
        eprintln!("device: {}", engine.device_summary());
        Ok(engine)
    }
}
