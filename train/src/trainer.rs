//! The training loop: DPO + NLL on preference pairs, with LoRA or full fine-tuning, resumable
//! from the last checkpoint, logging TRL's metrics, evaluating held-out judge accuracy every few
//! steps, and exporting the result for `selene-quantize` at the end.
//!
//! The reference model is the base without adapters. With LoRA it is computed live from a
//! non-autodiff view of the same base weights (`valid()` of the model before adapters are
//! attached: the same device buffers, no second copy). Full fine-tuning changes the base weights,
//! so its reference log-probabilities are computed once before the first step (TRL's
//! `precompute_ref_log_probs`) and kept in the checkpoints; LoRA can do the same.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use selene_model::{Llama, SafetensorsWeights};
use selene_safetensors::Dtype;
use selene_tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};

use crate::batch::{Layout, MicroBatch};
use crate::checkpoint::{self, Checkpoints, State};
use crate::data::{self, TokenizedPair};
use crate::device::Precision;
use crate::error::{Error, Result};
use crate::eval::EvalSet;
use crate::lora::LoraSettings;
use crate::loss::{LossSettings, PairStats, Weights, dpo_nll, pair_stats, sequence_logps};
use crate::metrics::{BatchMeans, MetricsLog, StepMetrics};
use crate::optim::{adamw, clip_global_norm, trainable_group};
use crate::parallel::{DataParallel, Replica, SingleDevice, Strategy};
use crate::schedule::{Decay, Schedule};
use selene_runtime::Rng;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tuning {
    Lora(LoraSettings),
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceMode {
    /// Computed at every step from the frozen base (LoRA only).
    Live,
    /// Computed once before training.
    Precomputed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ExportDtype {
    Bf16,
    F16,
    F32,
}

impl ExportDtype {
    pub fn dtype(self) -> Dtype {
        match self {
            ExportDtype::Bf16 => Dtype::BF16,
            ExportDtype::F16 => Dtype::F16,
            ExportDtype::F32 => Dtype::F32,
        }
    }
}

/// Everything that defines a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Hugging Face checkpoint folder of the base (policy and reference).
    pub base: PathBuf,
    pub pairs: PathBuf,
    /// Held-out judge items (selene-judge item JSON with gold).
    pub eval: Option<PathBuf>,
    pub tuning: Tuning,
    /// PEFT adapter to start from (LoRA).
    pub init_adapter: Option<PathBuf>,
    pub reference: ReferenceMode,
    pub loss: LossSettings,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub warmup_ratio: f64,
    pub decay: Decay,
    /// Pairs per optimizer step.
    pub batch_size: usize,
    /// Pairs per forward pass (the batch is accumulated from micro-batches).
    pub micro_batch_size: usize,
    pub epochs: usize,
    pub max_steps: Option<usize>,
    /// Longest prompt + reply, in tokens; longer pairs are dropped and counted.
    pub max_length: usize,
    pub max_grad_norm: Option<f64>,
    pub seed: u64,
    pub precision: Precision,
    pub gradient_checkpointing: bool,
    pub eval_every: usize,
    pub eval_max_tokens: usize,
    pub checkpoint_every: usize,
    pub keep_checkpoints: usize,
    pub export_dtype: ExportDtype,
    pub max_shard_bytes: u64,
}

impl Settings {
    /// The settings a resumed run must share with the run it continues (the others say how
    /// often to evaluate, save or log, or where to stop).
    fn identity(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("settings serialize");
        let object = v.as_object_mut().expect("an object");
        for key in [
            "eval",
            "eval_every",
            "eval_max_tokens",
            "checkpoint_every",
            "keep_checkpoints",
            "max_steps",
            "export_dtype",
            "max_shard_bytes",
        ] {
            object.remove(key);
        }
        v
    }

    fn check(&self) -> Result<()> {
        if self.batch_size == 0 || self.micro_batch_size == 0 || self.epochs == 0 {
            return Err(Error::setting("batch-size", "batch size, micro-batch size and epochs must be at least 1"));
        }
        if self.micro_batch_size > self.batch_size {
            return Err(Error::setting("micro-batch-size", "must not exceed the batch size"));
        }
        if self.tuning == Tuning::Full && self.reference == ReferenceMode::Live {
            return Err(Error::setting(
                "reference",
                "full fine-tuning changes the base weights, so its reference cannot be computed live without a second \
                 copy of the model; use --reference precomputed",
            ));
        }
        if self.init_adapter.is_some() && self.tuning == Tuning::Full {
            return Err(Error::setting("init-adapter", "needs LoRA tuning"));
        }
        Ok(())
    }
}

/// What a run did, written to `summary.json` and shown in the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub steps: usize,
    pub resumed_from_step: Option<usize>,
    pub pairs: usize,
    pub pairs_too_long: usize,
    pub devices: usize,
    pub precision: String,
    pub trainable_parameters: usize,
    pub final_loss: Option<f64>,
    /// The loss of the base model (the reference) over all training pairs: where training
    /// starts, unless it starts from `--init-adapter`.
    pub base_loss: f64,
    /// The loss, reward accuracy and margin over all training pairs after training.
    pub train_loss: f64,
    pub train_reward_accuracy: f64,
    pub train_reward_margin: f64,
    pub last_eval: Option<crate::eval::EvalResult>,
    pub export: PathBuf,
    pub adapter: Option<PathBuf>,
}

fn tokenizer(base: &Path) -> Result<Tokenizer> {
    let json = crate::error::read(&base.join("tokenizer.json"))?;
    let config_path = base.join("tokenizer_config.json");
    let config = config_path.is_file().then(|| crate::error::read(&config_path)).transpose()?;
    Tokenizer::from_tokenizer_json(&json, config.as_deref())
        .map_err(|e| Error::file(&base.join("tokenizer.json"), "tokenizer", e))
}

/// The pair indices of each optimizer step of an epoch, in that epoch's shuffled order.
fn epoch_batches(pairs: usize, batch: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..pairs).collect();
    Rng::derive(seed, &[0xDA7A, epoch as u64]).shuffle(&mut order);
    order.chunks(batch).map(<[usize]>::to_vec).collect()
}

fn micro_batches(dataset: &[TokenizedPair], indices: &[usize], size: usize) -> Vec<MicroBatch> {
    indices
        .chunks(size)
        .map(|chunk| {
            let pairs: Vec<&TokenizedPair> = chunk.iter().map(|&i| &dataset[i]).collect();
            MicroBatch { pairs: chunk.to_vec(), layout: Layout::new(&pairs, 0) }
        })
        .collect()
}

fn host(t: burn::tensor::Tensor<1>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().expect("f32 log-probabilities")
}

/// Summed reply log-probabilities `[chosen, rejected]` of every pair under a frozen model.
fn all_logps(model: &Llama, dataset: &[TokenizedPair], micro: usize, device: &Device) -> Vec<[f32; 2]> {
    let all: Vec<usize> = (0..dataset.len()).collect();
    let mut out = Vec::with_capacity(dataset.len());
    for m in micro_batches(dataset, &all, micro) {
        let values = host(sequence_logps(model, &m.layout.on(device)));
        let p = m.pairs.len();
        out.extend((0..p).map(|i| [values[i], values[p + i]]));
    }
    out
}

pub struct Run<'a> {
    pub settings: Settings,
    pub device: selene_runtime::DeviceSpec,
    pub out: PathBuf,
    pub resume: bool,
    pub progress: &'a mut dyn FnMut(&str),
}

impl Run<'_> {
    pub fn train(self) -> Result<Summary> {
        let Run { settings, device: choice, out, resume, progress } = self;
        settings.check()?;
        std::fs::create_dir_all(&out).map_err(|e| Error::file(&out, "create", e))?;
        let (devices, dtype) = crate::device::open(&choice, settings.precision)?;
        let autodiff = |d: &Device| {
            let d = d.clone().autodiff();
            if settings.gradient_checkpointing { d.gradient_checkpointing() } else { d }
        };
        let main_device = autodiff(&devices[0]);
        let inner_device = devices[0].clone();

        let tokenizer = tokenizer(&settings.base)?;
        let dataset = data::load(&settings.pairs, &tokenizer, settings.max_length)?;
        let eval = settings.eval.as_ref().map(|p| EvalSet::load(p)).transpose()?;
        progress(&format!(
            "{} pairs ({} longer than {} tokens dropped); {} device(s), {:?}",
            dataset.pairs.len(),
            dataset.too_long,
            settings.max_length,
            devices.len(),
            dtype
        ));

        main_device.seed(settings.seed);
        let weights = SafetensorsWeights::open(&settings.base)?;
        let base = Llama::load_trainable(&weights, settings.max_length, &main_device)?;
        // The frozen base as a non-autodiff view of the same buffers.
        let base_view = base.valid();
        let mut policy = match &settings.tuning {
            Tuning::Lora(lora) => {
                let policy = lora.apply(base);
                match &settings.init_adapter {
                    Some(dir) => crate::lora::load_peft(policy, lora, dir)?,
                    None => policy,
                }
            }
            Tuning::Full => base,
        };
        let mut optimizer = adamw(settings.weight_decay);

        let checkpoints = Checkpoints::new(&out, settings.keep_checkpoints)?;
        let mut start = 0;
        let mut reference_values = None;
        match (checkpoints.latest()?, resume) {
            (Some(path), true) => {
                let loaded = checkpoint::load(&path)?;
                if loaded.state.settings != settings.identity() {
                    return Err(Error::file(
                        &path.join("state.json"),
                        "settings",
                        "the run was started with other settings",
                    ));
                }
                policy = policy.load_record(loaded.trainable.allow_partial(true));
                optimizer = optimizer.load_record(loaded.optimizer);
                start = loaded.state.step;
                reference_values = loaded.state.reference;
                progress(&format!("resumed from {}", path.display()));
            }
            (Some(path), false) => {
                return Err(Error::file(
                    &path,
                    "checkpoint",
                    "the run folder already has checkpoints: pass --resume to continue, or choose another --out",
                ));
            }
            (None, _) => {}
        }
        // After a resume: loading a record gives parameters the ids it was saved with, which
        // the optimizer state is keyed by.
        let trainable = trainable_group(&policy);
        let trainable_parameters = crate::optim::trainable(&policy).iter().map(|p| p.2).sum();
        if settings.reference == ReferenceMode::Precomputed && reference_values.is_none() {
            progress("computing reference log-probabilities");
            reference_values = Some(all_logps(&base_view, &dataset.pairs, settings.micro_batch_size, &inner_device));
        }
        let live_reference = (settings.reference == ReferenceMode::Live).then_some(base_view);

        let mut main = Replica { policy, reference: live_reference, device: main_device };
        let mut strategy: Box<dyn Strategy> = match devices.len() {
            1 => Box::new(SingleDevice),
            _ => Box::new(DataParallel::new(&main, &devices[1..].iter().map(&autodiff).collect::<Vec<_>>())),
        };

        let steps_per_epoch = dataset.pairs.len().div_ceil(settings.batch_size);
        let total = (steps_per_epoch * settings.epochs).min(settings.max_steps.unwrap_or(usize::MAX));
        let schedule = Schedule {
            peak: settings.learning_rate,
            warmup_steps: (settings.warmup_ratio * total as f64).ceil() as usize,
            total_steps: total,
            decay: settings.decay,
        };
        let mut log = MetricsLog::open(&out.join("metrics.jsonl"), Some(start).filter(|&s| s > 0))?;
        let mut summary = Summary {
            resumed_from_step: Some(start).filter(|&s| s > 0),
            pairs: dataset.pairs.len(),
            pairs_too_long: dataset.too_long,
            devices: devices.len(),
            precision: format!("{dtype:?}"),
            trainable_parameters,
            ..Summary::default()
        };
        let save = |main: &Replica,
                    optimizer: &burn::optim::ModuleOptimizer,
                    step: usize,
                    reference: &Option<Vec<[f32; 2]>>| {
            let state =
                State { step, settings: settings.identity(), data_seed: settings.seed, reference: reference.clone() };
            checkpoints.save(&main.policy, &trainable, optimizer, &state)
        };

        let mut batches = Vec::new();
        let mut batches_epoch = usize::MAX;
        for step in start..total {
            let epoch = step / steps_per_epoch;
            if epoch != batches_epoch {
                batches = epoch_batches(dataset.pairs.len(), settings.batch_size, settings.seed, epoch);
                batches_epoch = epoch;
            }
            let indices = &batches[step % steps_per_epoch];
            let started = Instant::now();
            let micro = micro_batches(&dataset.pairs, indices, settings.micro_batch_size);
            let weights = Weights {
                batch_pairs: indices.len(),
                batch_chosen_tokens: indices.iter().map(|&i| dataset.pairs[i].chosen.len()).sum(),
            };
            let precomputed = reference_values.as_deref();
            let work = |replica: &Replica, m: &MicroBatch| -> Result<(GradientsParams, Vec<PairStats>)> {
                let reference: Vec<f32> = match (&replica.reference, precomputed) {
                    (Some(model), _) => {
                        host(sequence_logps(model, &m.layout.on(&replica.device.clone().without_autodiff())))
                    }
                    (None, Some(values)) => {
                        m.pairs.iter().map(|&i| values[i][0]).chain(m.pairs.iter().map(|&i| values[i][1])).collect()
                    }
                    (None, None) => unreachable!("a reference is live or precomputed"),
                };
                let batch = m.layout.on(&replica.device);
                let logps = sequence_logps(&replica.policy, &batch);
                let (loss, stats) = dpo_nll(logps, &reference, &batch.chosen_tokens, &weights, &settings.loss);
                Ok((GradientsParams::from_grads(loss.backward(), &replica.policy), stats))
            };
            let (mut grads, stats) = strategy.gradients(&main, &micro, &work)?;
            let grad_norm = clip_global_norm(&main.policy, &mut grads, settings.max_grad_norm);
            let lr = schedule.lr(step);
            let Replica { policy, reference, device } = main;
            main = Replica { policy: optimizer.step(lr, policy, grads), reference, device };
            strategy.synchronize(&main, &trainable);

            let means = BatchMeans::of(&stats, &settings.loss);
            let num_tokens: usize = micro.iter().map(|m| m.layout.tokens_run()).sum();
            let seconds = started.elapsed().as_secs_f64();
            let metrics = StepMetrics {
                step: step + 1,
                epoch: (step + 1) as f64 / steps_per_epoch as f64,
                learning_rate: lr,
                loss: means.loss,
                dpo_loss: means.dpo_loss,
                nll_loss: means.nll_loss,
                rewards_chosen: means.rewards_chosen,
                rewards_rejected: means.rewards_rejected,
                rewards_margins: means.rewards_margins,
                rewards_accuracies: means.rewards_accuracies,
                logps_chosen: means.logps_chosen,
                logps_rejected: means.logps_rejected,
                grad_norm,
                num_tokens,
                tokens_per_second: num_tokens as f64 / seconds.max(1e-9),
            };
            log.write(&metrics)?;
            summary.final_loss = Some(means.loss);
            progress(&format!(
                "step {}/{total}  loss {:.4}  dpo {:.4}  nll {:.4}  reward acc {:.2}  margin {:.4}  lr {:.3e}  {:.0} tok/s",
                step + 1,
                means.loss,
                means.dpo_loss,
                means.nll_loss,
                means.rewards_accuracies,
                means.rewards_margins,
                lr,
                metrics.tokens_per_second
            ));
            let done = step + 1;
            if let Some(eval) =
                eval.as_ref().filter(|e| !e.is_empty() && settings.eval_every > 0 && done % settings.eval_every == 0)
            {
                let result =
                    eval.run(done, main.policy.valid(), &tokenizer, &inner_device, settings.eval_max_tokens)?;
                progress(&format!(
                    "step {done}: held-out judge accuracy {:.3} ({} items, parse failures {:.3})",
                    result.accuracy, result.items, result.parse_failure_rate
                ));
                log.write(&result)?;
                summary.last_eval = Some(result);
            }
            if settings.checkpoint_every > 0 && done % settings.checkpoint_every == 0 && done < total {
                save(&main, &optimizer, done, &reference_values)?;
            }
        }
        summary.steps = total;
        if total > start {
            save(&main, &optimizer, total, &reference_values)?;
        }

        // Reward accuracy over every training pair with the final policy.
        let valid = main.policy.valid();
        let policy_values = all_logps(&valid, &dataset.pairs, settings.micro_batch_size, &inner_device);
        let reference_values = match (&main.reference, &reference_values) {
            (Some(model), _) => all_logps(model, &dataset.pairs, settings.micro_batch_size, &inner_device),
            (None, Some(values)) => values.clone(),
            (None, None) => unreachable!("a reference is live or precomputed"),
        };
        let over_pairs = |policy: &[[f32; 2]]| {
            let stats: Vec<PairStats> = policy
                .iter()
                .zip(&reference_values)
                .zip(&dataset.pairs)
                .map(|((p, r), pair)| pair_stats(p[0], p[1], r[0], r[1], pair.chosen.len(), settings.loss.beta))
                .collect();
            BatchMeans::of(&stats, &settings.loss)
        };
        summary.base_loss = over_pairs(&reference_values).loss;
        let means = over_pairs(&policy_values);
        (summary.train_loss, summary.train_reward_accuracy, summary.train_reward_margin) =
            (means.loss, means.rewards_accuracies, means.rewards_margins);

        progress("exporting");
        summary.export = out.join("model");
        crate::export::export_hf(
            &valid,
            &settings.base,
            &summary.export,
            settings.export_dtype.dtype(),
            settings.max_shard_bytes,
        )?;
        if let Tuning::Lora(lora) = &settings.tuning {
            let adapter = out.join("adapter");
            crate::lora::save_peft(&valid, lora, &settings.base, &adapter)?;
            summary.adapter = Some(adapter);
        }
        let summary_json = serde_json::to_value(&summary).expect("summary serializes");
        crate::error::write(
            &out.join("summary.json"),
            (serde_json::to_string_pretty(&summary_json).expect("JSON") + "\n").as_bytes(),
        )?;
        crate::report::write(&out.join("metrics.jsonl"), &summary_json, &out.join("report.html"))?;
        Ok(summary)
    }
}
