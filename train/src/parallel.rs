//! How a batch's gradients are computed across devices: the one replaceable piece of the
//! trainer's parallelism (the architecture's constraint, since Burn 0.22 has data parallelism but
//! no optimizer-state sharding, which full fine-tuning of an 8B model needs).
//!
//! A [`Strategy`] takes the micro-batches of one optimizer step and returns their gradients
//! summed on the main device, where the optimizer runs; then it brings the other replicas up to
//! date. Because every micro-batch's loss is already its share of the batch loss, the sum is the
//! full batch's gradient however the work was split.
//!
//! * [`SingleDevice`]: micro-batches one after the other (gradient accumulation).
//! * [`DataParallel`]: one replica per device, micro-batches dealt round-robin and run in
//!   parallel threads; replica gradients are moved to the main device and added, and after the
//!   step the trainable parameters are copied back out (cheap for LoRA adapters; a full copy of
//!   the weights per step for full fine-tuning). This uses only device-to-device copies, so it
//!   works on every Burn backend. An all-reduce (NCCL on CUDA, `burn::tensor::distributed`) that
//!   keeps optimizer replicas in step would be another implementation of the same trait.

use burn::module::{Module, ParamGroup};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Device;
use selene_model::Llama;

use crate::batch::MicroBatch;
use crate::error::Result;
use crate::loss::PairStats;

/// A model copy on one device: the policy (on an autodiff device) and, when the reference is
/// computed live, the frozen base (on the same device without autodiff).
pub struct Replica {
    pub policy: Llama,
    pub reference: Option<Llama>,
    pub device: Device,
}

/// One micro-batch's work on a replica: its gradients and per-pair statistics.
pub type Work<'a> = dyn Fn(&Replica, &MicroBatch) -> Result<(GradientsParams, Vec<PairStats>)> + Sync + 'a;

pub trait Strategy {
    /// The devices, main first.
    fn devices(&self) -> Vec<Device>;
    /// Runs `work` on every micro-batch; gradients summed on `main`'s device, statistics in
    /// micro-batch order.
    fn gradients(
        &mut self,
        main: &Replica,
        micro: &[MicroBatch],
        work: &Work,
    ) -> Result<(GradientsParams, Vec<PairStats>)>;
    /// Copies the main policy's trainable parameters to the other replicas.
    fn synchronize(&mut self, main: &Replica, trainable: &ParamGroup);
}

pub struct SingleDevice;

impl Strategy for SingleDevice {
    fn devices(&self) -> Vec<Device> {
        Vec::new()
    }

    fn gradients(
        &mut self,
        main: &Replica,
        micro: &[MicroBatch],
        work: &Work,
    ) -> Result<(GradientsParams, Vec<PairStats>)> {
        let mut acc = GradientsAccumulator::new();
        let mut stats = Vec::new();
        for m in micro {
            let (grads, s) = work(main, m)?;
            acc.accumulate(&main.policy, grads);
            stats.extend(s);
        }
        Ok((acc.grads(), stats))
    }

    fn synchronize(&mut self, _: &Replica, _: &ParamGroup) {}
}

pub struct DataParallel {
    /// Replicas on the devices after the main one.
    replicas: Vec<Replica>,
}

impl DataParallel {
    /// Replicas of `main` on `devices` (autodiff devices; the main one excluded).
    pub fn new(main: &Replica, devices: &[Device]) -> DataParallel {
        let replicas = devices
            .iter()
            .map(|device| Replica {
                policy: main.policy.clone().fork(device),
                reference: main.reference.as_ref().map(|r| r.clone().fork(&device.clone().without_autodiff())),
                device: device.clone(),
            })
            .collect();
        DataParallel { replicas }
    }
}

impl Strategy for DataParallel {
    fn devices(&self) -> Vec<Device> {
        self.replicas.iter().map(|r| r.device.clone()).collect()
    }

    fn gradients(
        &mut self,
        main: &Replica,
        micro: &[MicroBatch],
        work: &Work,
    ) -> Result<(GradientsParams, Vec<PairStats>)> {
        let n = self.replicas.len() + 1;
        let run = |replica: &Replica, k: usize| -> Result<(Option<GradientsParams>, Vec<(usize, Vec<PairStats>)>)> {
            let mut acc = GradientsAccumulator::new();
            let mut any = false;
            let mut stats = Vec::new();
            for (i, m) in micro.iter().enumerate().filter(|(i, _)| i % n == k) {
                let (grads, s) = work(replica, m)?;
                acc.accumulate(&replica.policy, grads);
                any = true;
                stats.push((i, s));
            }
            Ok((any.then(|| acc.grads()), stats))
        };
        let results: Vec<_> = std::thread::scope(|scope| {
            let others: Vec<_> =
                self.replicas.iter().enumerate().map(|(k, r)| scope.spawn(move || run(r, k + 1))).collect();
            let mut results = vec![run(main, 0)];
            results.extend(others.into_iter().map(|h| h.join().expect("a replica thread panicked")));
            results
        });
        let mut acc = GradientsAccumulator::new();
        let mut stats = Vec::new();
        for result in results {
            let (grads, s) = result?;
            if let Some(grads) = grads {
                acc.accumulate(&main.policy, grads.to_device(&main.device, &main.policy));
            }
            stats.extend(s);
        }
        stats.sort_by_key(|(i, _)| *i);
        Ok((acc.grads(), stats.into_iter().flat_map(|(_, s)| s).collect()))
    }

    fn synchronize(&mut self, main: &Replica, trainable: &ParamGroup) {
        for replica in &mut self.replicas {
            let record = main.policy.clone().into_record_group(trainable.clone()).allow_partial(true);
            replica.policy = replica.policy.clone().load_record(record);
        }
    }
}
