//! Judgments kept on disk, so that an evaluation run twice (or killed and restarted, or scored
//! again with other metrics or into another folder) generates nothing it has generated before.
//!
//! An entry is keyed by everything that decides what the model writes: the model's contents
//! (SHA-256 of every shard, so a renamed file still hits and a re-downloaded one with other
//! bytes does not), a `--tokenizer` override's contents, the context size, the prompt text,
//! and the reply settings (greedy decoding, token limit, alternatives kept, prefill, structured
//! judging). The device is not part of the key: the same model on another device is meant to
//! write the same thing. The selene version is, because entries hold parsed verdicts.
//!
//! The cache is shared by every run on the machine (by default `~/.cache/selene/generations`,
//! one folder per model), not kept in one run's output folder, because the key already says
//! which model and prompt an entry belongs to. Each entry is its own file, written atomically;
//! an entry that does not read back (torn by a crash, edited, from another version) is a miss,
//! judged again and rewritten. Hashing a model of several GB takes a while, so the digest of
//! each file is remembered by path, size and modification time, and a file is hashed again
//! only when one of them changes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use selene_gguf::{parse_shard_path, shard_path};
use selene_runtime::{JudgeOptions, Judgment};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model_args::ModelArgs;

/// Bumped when the layout of an entry changes.
const FORMAT: u32 = 1;

pub struct GenerationCache {
    /// This model's folder of entries.
    dir: PathBuf,
    /// What every key of this cache shares: the model, tokenizer and context.
    identity: Value,
    model_sha256: String,
}

/// What one cached run of the judge gave: a judgment, or an error that would recur (a prompt
/// longer than the context).
pub type CachedRun = std::result::Result<Judgment, String>;

impl GenerationCache {
    /// `$XDG_CACHE_HOME/selene/generations`, else `~/.cache/selene/generations`.
    pub fn default_root() -> Result<PathBuf> {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .context("neither XDG_CACHE_HOME nor HOME is set: give --cache-dir")?;
        Ok(cache.join("selene").join("generations"))
    }

    /// The cache under `root` for the model of `model`, hashing the model's files unless their
    /// digests are remembered.
    pub fn open(root: &Path, model: &ModelArgs) -> Result<GenerationCache> {
        let path = model.path()?;
        let digests =
            model_files(&path)?.iter().map(|file| file_digest(root, file)).collect::<Result<Vec<String>>>()?;
        let model_sha256 = match digests.as_slice() {
            [single] => single.clone(),
            shards => hex(&Sha256::digest(shards.join("\n"))),
        };
        let tokenizer_sha256 = match &model.tokenizer {
            Some(json) => {
                let bytes = std::fs::read(json).with_context(|| json.display().to_string())?;
                Some(hex(&Sha256::digest(bytes)))
            }
            None => None,
        };
        let identity = json!({
            "format": FORMAT,
            "selene": env!("CARGO_PKG_VERSION"),
            "model_sha256": model_sha256,
            "tokenizer_sha256": tokenizer_sha256,
            "context": model.context,
        });
        Ok(GenerationCache { dir: root.join(&model_sha256[..16]), identity, model_sha256 })
    }

    /// The model's SHA-256 (of the file, or of its shards' digests for a split set).
    pub fn model_sha256(&self) -> &str {
        &self.model_sha256
    }

    /// The key of judging the prompt whose text is `prompt` with `options`.
    pub fn key(&self, prompt: &str, options: &JudgeOptions) -> String {
        let inputs = json!({
            "identity": self.identity,
            "prompt_sha256": hex(&Sha256::digest(prompt)),
            "decoding": "greedy",
            "max_tokens": options.max_tokens,
            "alternatives": options.alternatives,
            "reply_start": options.reply_start(),
            "structured": options.structured,
        });
        hex(&Sha256::digest(inputs.to_string()))
    }

    /// The cached run under `key`; `None` when there is none or it does not read back.
    pub fn get(&self, key: &str) -> Option<CachedRun> {
        let path = self.entry_path(key);
        let bytes = std::fs::read(&path).ok()?;
        let entry: Value = match serde_json::from_slice(&bytes) {
            Ok(entry) => entry,
            Err(e) => {
                eprintln!("{}: unreadable cache entry ({e}); judging again", path.display());
                return None;
            }
        };
        if entry["key"] != key {
            eprintln!("{}: cache entry for another key; judging again", path.display());
            return None;
        }
        if let Some(error) = entry["error"].as_str() {
            return Some(Err(error.to_owned()));
        }
        match serde_json::from_value(entry["judgment"].clone()) {
            Ok(judgment) => Some(Ok(judgment)),
            Err(e) => {
                eprintln!("{}: unreadable cache entry ({e}); judging again", path.display());
                None
            }
        }
    }

    /// Stores `run` under `key`, replacing any entry there.
    pub fn put(&self, key: &str, run: &CachedRun) -> Result<()> {
        let entry = match run {
            Ok(judgment) => json!({ "key": key, "judgment": judgment }),
            Err(error) => json!({ "key": key, "error": error }),
        };
        let path = self.entry_path(key);
        selene_atomic::write(&path, &serde_json::to_vec(&entry)?).with_context(|| path.display().to_string())
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }
}

/// The file itself, or every shard of the split set it is the first shard of.
fn model_files(path: &Path) -> Result<Vec<PathBuf>> {
    match parse_shard_path(path) {
        Some((prefix, _, count)) => Ok((1..=count).map(|no| shard_path(&prefix, no, count)).collect()),
        None => Ok(vec![path.to_owned()]),
    }
}

/// The SHA-256 of `file`, remembered under `root/model-hashes` by path, size and mtime.
fn file_digest(root: &Path, file: &Path) -> Result<String> {
    let canonical = file.canonicalize().with_context(|| file.display().to_string())?;
    let metadata = std::fs::metadata(&canonical).with_context(|| canonical.display().to_string())?;
    let modified = metadata.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos());
    let stamp = json!({
        "path": canonical.to_string_lossy(),
        "size": metadata.len(),
        "modified_ns": modified.map(|m| m.to_string()),
    });
    let memo = root.join("model-hashes").join(format!("{}.json", hex(&Sha256::digest(stamp["path"].to_string()))));
    if let Some(remembered) = std::fs::read(&memo).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
        if remembered["stamp"] == stamp {
            if let Some(digest) = remembered["sha256"].as_str() {
                return Ok(digest.to_owned());
            }
        }
    }
    eprintln!("hashing {} for the generation cache (once per file)", canonical.display());
    let mut reader = std::fs::File::open(&canonical).with_context(|| canonical.display().to_string())?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = reader.read(&mut buffer).with_context(|| canonical.display().to_string())?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let digest = hex(&hasher.finalize());
    let memo_json = serde_json::to_vec(&json!({ "stamp": stamp, "sha256": digest }))?;
    selene_atomic::write(&memo, &memo_json).with_context(|| memo.display().to_string())?;
    Ok(digest)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
