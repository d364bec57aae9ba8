//! AdamW as Hugging Face's Trainer sets it up for TRL (β = 0.9, 0.999, ε = 1e-8; no weight decay
//! on normalization weights), and gradient clipping by the global norm over all trainable
//! parameters (`torch.nn.utils.clip_grad_norm_`), which Burn's per-tensor clipping is not.

use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{DType, FloatDType, Tensor};
use selene_model::Llama;

/// Normalization gains: Hugging Face leaves them out of weight decay.
const NORMS: &str = r"(?:^|\.)(?:norm|input_layernorm|post_attention_layernorm)\.weight$";

pub fn adamw(weight_decay: f64) -> ModuleOptimizer {
    let config = |decay: f64| {
        AdamWConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).with_weight_decay(decay as f32)
    };
    config(weight_decay).init().with_group(
        ParamGroup::from_regex(NORMS).expect("a valid pattern"),
        config(0.0).build(),
        None,
    )
}

/// The id, path and size of every parameter that requires gradients.
pub fn trainable(model: &Llama) -> Vec<(ParamId, String, usize)> {
    #[derive(Default)]
    struct Collect {
        path: Vec<String>,
        found: Vec<(ParamId, String, usize)>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_owned());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            if value.is_require_grad() {
                self.found.push((param.id, self.path.join("."), value.dims().iter().product()));
            }
        }
    }
    let mut c = Collect::default();
    model.visit(&mut c);
    c.found
}

/// The group of trainable parameters (what checkpoints save and replicas share).
pub fn trainable_group(model: &Llama) -> ParamGroup {
    ParamGroup::from_ids(trainable(model).into_iter().map(|(id, _, _)| id).collect())
}

/// Visits the gradient of every parameter with its rank, which `GradientsParams` needs to
/// hand it out.
struct EachGrad<'g, F: FnMut(ParamId, Tensor<1>) -> Option<f64>> {
    grads: &'g mut GradientsParams,
    f: F,
}

impl<F: FnMut(ParamId, Tensor<1>) -> Option<f64>> ModuleVisitor for EachGrad<'_, F> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = self.grads.remove::<D>(param.id) else { return };
        let dims = grad.dims();
        let flat = grad.reshape([dims.iter().product::<usize>()]);
        let flat = if flat.dtype() == DType::F32 { flat } else { flat.cast(FloatDType::F32) };
        let scale = (self.f)(param.id, flat.clone());
        let grad = match scale {
            Some(s) => flat.mul_scalar(s).reshape(dims),
            None => flat.reshape(dims),
        };
        let grad = if grad.dtype() == param.val().dtype() { grad } else { grad.cast(param.val().dtype()) };
        self.grads.register::<D>(param.id, grad);
    }
}

/// Scales the gradients so that their global L2 norm is at most `max_norm` (`None`: no
/// clipping), and returns the norm before clipping, computed in f32.
pub fn clip_global_norm(model: &Llama, grads: &mut GradientsParams, max_norm: Option<f64>) -> f64 {
    let mut squares: Vec<Tensor<1>> = Vec::new();
    model.visit(&mut EachGrad {
        grads,
        f: |_, g: Tensor<1>| {
            squares.push(g.square().sum());
            None
        },
    });
    if squares.is_empty() {
        return 0.0;
    }
    let norm = Tensor::cat(squares, 0).sum().sqrt().into_scalar::<f32>() as f64;
    // As torch: scale by max / (norm + 1e-6) when that is below 1.
    if let Some(scale) = max_norm.map(|max| max / (norm + 1e-6)).filter(|&s| s < 1.0) {
        model.visit(&mut EachGrad { grads, f: |_, _| Some(scale) });
    }
    norm
}
