//! `hf:owner/repo[:file]` model names: files fetched from the Hugging Face Hub into its standard
//! cache (`HF_HOME`, default `~/.cache/huggingface`), from `HF_ENDPOINT` when set, and only from
//! the cache when `HF_HUB_OFFLINE=1`. Every shard of a split set is fetched.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hf_hub::api::sync::{ApiBuilder, ApiRepo};
use hf_hub::{Cache, Repo};
use selene_gguf::{parse_shard_path, shard_path};

const PREFIX: &str = "hf:";

/// The local path of `spec`: itself for a path, the cached (first) file for an `hf:` name.
pub fn resolve(spec: &Path) -> Result<PathBuf> {
    let Some(name) = spec.to_str().and_then(|s| s.strip_prefix(PREFIX)) else {
        return Ok(spec.to_owned());
    };
    let (repo_id, file) = match name.split_once(':') {
        Some((repo, file)) => (repo, Some(file)),
        None => (name, None),
    };
    if repo_id.split('/').count() != 2 || repo_id.split('/').any(str::is_empty) {
        bail!("{spec:?}: expected hf:owner/repo or hf:owner/repo:file.gguf", spec = spec.display());
    }
    let repo = Repo::model(repo_id.to_owned());
    if offline() {
        let Some(file) = file else {
            bail!("{}: offline (HF_HUB_OFFLINE), so name the file: hf:{repo_id}:FILE.gguf", spec.display())
        };
        let cache = Cache::from_env().repo(repo);
        let first = cache
            .get(file)
            .with_context(|| format!("{file} of {repo_id} is not in the Hugging Face cache (offline)"))?;
        for shard in other_shards(file) {
            cache
                .get(&shard)
                .with_context(|| format!("{shard} of {repo_id} is not in the Hugging Face cache (offline)"))?;
        }
        return Ok(first);
    }
    let api = ApiBuilder::from_env().with_progress(true).build()?.repo(repo);
    let file = match file {
        Some(file) => file.to_owned(),
        None => choose_gguf(&api, repo_id)?,
    };
    let first = api.get(&file).with_context(|| format!("downloading {file} from {repo_id}"))?;
    for shard in other_shards(&file) {
        api.get(&shard).with_context(|| format!("downloading {shard} from {repo_id}"))?;
    }
    Ok(first)
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"))
}

/// The other files of a split set, named after its first shard.
fn other_shards(file: &str) -> Vec<String> {
    match parse_shard_path(Path::new(file)) {
        Some((prefix, 1, count)) => {
            (2..=count).map(|no| shard_path(&prefix, no, count).to_string_lossy().into_owned()).collect()
        }
        _ => Vec::new(),
    }
}

/// The repository's GGUF model: the only one, else a Q4_K_M one, else the first by name; for a
/// split set, its first shard.
fn choose_gguf(api: &ApiRepo, repo_id: &str) -> Result<String> {
    let info = api.info().with_context(|| format!("listing the files of {repo_id}"))?;
    let mut models: Vec<String> = info
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .filter(|f| f.ends_with(".gguf"))
        .filter(|f| parse_shard_path(Path::new(f)).is_none_or(|(_, no, _)| no == 1))
        .collect();
    models.sort();
    match models.iter().find(|f| f.to_ascii_uppercase().contains("Q4_K_M")).or(models.first()) {
        Some(file) if models.len() == 1 || file.to_ascii_uppercase().contains("Q4_K_M") => Ok(file.clone()),
        Some(file) => {
            eprintln!("{repo_id} has {} GGUF models; using {file} (name another with hf:{repo_id}:FILE)", models.len());
            Ok(file.clone())
        }
        None => bail!("{repo_id} has no .gguf file"),
    }
}
