//! Resumable checkpoints: `checkpoints/step-NNNNNNNN/` holding the trainable parameters
//! (`trainable.bpk`, Burn's record with parameter ids), the optimizer state (`optimizer.bpk`,
//! keyed by those ids) and `state.json` (the next step, the settings the run was started with,
//! the data-order seed, and precomputed reference log-probabilities when there are any), plus a
//! `latest` file naming the newest one.
//!
//! Each checkpoint is written in full under a temporary name and renamed into place, then
//! `latest` is replaced the same way, so a run killed at any moment leaves either the previous
//! checkpoint or the new one, never a mixture. The frozen base weights are not saved: a resumed
//! run reloads them from the base checkpoint, which `state.json` names.

use std::path::{Path, PathBuf};

use burn::module::{Module, ParamGroup};
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use selene_atomic::AtomicDir;
use selene_model::Llama;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything besides tensors that a resumed run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The next optimizer step (0-based): the number of steps done.
    pub step: usize,
    /// The settings of the run, which a resumed run must repeat.
    pub settings: serde_json::Value,
    /// Seed of the data order (each epoch's order derives from it).
    pub data_seed: u64,
    /// Reference log-probabilities per pair (chosen, rejected), when precomputed.
    pub reference: Option<Vec<[f32; 2]>>,
}

pub struct Checkpoints {
    dir: PathBuf,
    keep: usize,
}

fn step_name(step: usize) -> String {
    format!("step-{step:08}")
}

impl Checkpoints {
    pub fn new(run: &Path, keep: usize) -> Result<Checkpoints> {
        let dir = run.join("checkpoints");
        std::fs::create_dir_all(&dir).map_err(|e| Error::file(&dir, "create", e))?;
        Ok(Checkpoints { dir, keep: keep.max(1) })
    }

    /// Saves a checkpoint and makes it the latest.
    pub fn save(
        &self,
        model: &Llama,
        trainable: &ParamGroup,
        optimizer: &ModuleOptimizer,
        state: &State,
    ) -> Result<PathBuf> {
        let path = self.dir.join(step_name(state.step));
        let staged = AtomicDir::create(&path).map_err(|e| Error::file(&path, "create", e))?;
        let tmp = staged.path();
        let record_error = |file: &str, e: burn::store::RecordError| Error::file(&tmp.join(file), "write", e);
        model
            .clone()
            .into_record_group(trainable.clone())
            .save(tmp.join("trainable.bpk"))
            .map_err(|e| record_error("trainable.bpk", e))?;
        optimizer.save(tmp.join("optimizer.bpk")).map_err(|e| record_error("optimizer.bpk", e))?;
        let json = serde_json::to_vec_pretty(state).expect("JSON");
        std::fs::write(tmp.join("state.json"), json).map_err(|e| Error::file(&tmp, "write", e))?;
        staged.publish().map_err(|e| Error::file(&path, "write", e))?;
        crate::error::write(&self.dir.join("latest"), step_name(state.step).as_bytes())?;
        self.prune(state.step)?;
        Ok(path)
    }

    /// Removes checkpoints beyond the newest `keep`, and leftovers of interrupted saves.
    fn prune(&self, newest: usize) -> Result<()> {
        let mut steps = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::file(&self.dir, "list", e))? {
            let entry = entry.map_err(|e| Error::file(&self.dir, "list", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse::<usize>().ok()) {
                steps.push(step);
            } else if name.starts_with('.') && entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path()).map_err(|e| Error::file(&entry.path(), "remove", e))?;
            }
        }
        steps.sort_unstable();
        let old = steps.iter().filter(|&&s| s < newest).count().saturating_sub(self.keep - 1);
        for step in steps.into_iter().filter(|&s| s < newest).take(old) {
            let path = self.dir.join(step_name(step));
            std::fs::remove_dir_all(&path).map_err(|e| Error::file(&path, "remove", e))?;
        }
        Ok(())
    }

    /// The latest checkpoint's folder, if any.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        let latest = self.dir.join("latest");
        if !latest.is_file() {
            return Ok(None);
        }
        let name = std::fs::read_to_string(&latest).map_err(|e| Error::file(&latest, "read", e))?;
        let path = self.dir.join(name.trim());
        if !path.join("state.json").is_file() {
            return Err(Error::file(
                &latest,
                "latest",
                format!("names {}, which is not a complete checkpoint", path.display()),
            ));
        }
        Ok(Some(path))
    }
}

/// A loaded checkpoint.
pub struct Loaded {
    pub state: State,
    pub trainable: ModuleRecord,
    pub optimizer: burn::optim::OptimizerRecord,
}

pub fn load(path: &Path) -> Result<Loaded> {
    let state_path = path.join("state.json");
    let state: State =
        serde_json::from_slice(&crate::error::read(&state_path)?).map_err(|e| Error::file(&state_path, "state", e))?;
    let trainable = ModuleRecord::load(path.join("trainable.bpk"))
        .map_err(|e| Error::file(&path.join("trainable.bpk"), "read", e))?;
    let optimizer = burn::optim::OptimizerRecord::load(path.join("optimizer.bpk"))
        .map_err(|e| Error::file(&path.join("optimizer.bpk"), "read", e))?;
    Ok(Loaded { state, trainable, optimizer })
}
