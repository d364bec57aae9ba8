//! A Hugging Face checkpoint folder as the converter reads it: the architecture from
//! `config.json`, which is also kept whole for the metadata llama.cpp's converter copies from it,
//! and the tensors of its safetensors files (memory-mapped, read one at a time).

use std::path::{Path, PathBuf};

use selene_arch::LlamaConfig;
use selene_safetensors::SafetensorsFolder;
use serde_json::Value;

use crate::error::{Result, read_json};

pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: LlamaConfig,
    /// `config.json` as written.
    pub raw_config: Value,
    pub tensors: SafetensorsFolder,
}

impl Checkpoint {
    pub fn open(dir: &Path) -> Result<Checkpoint> {
        let tensors = SafetensorsFolder::open(dir)?;
        let config_path = dir.join("config.json");
        let raw_config = read_json(&config_path)?;
        let config = LlamaConfig::from_hf_value(&raw_config, &config_path)?;
        Ok(Checkpoint { dir: dir.to_owned(), config, raw_config, tensors })
    }
}
