//! The small building blocks: a bias-free linear map over `[out, in]` weights (the orientation
//! of every checkpoint format, so weights load without transposing and quantization blocks stay
//! along the input dimension), RMSNorm and the SwiGLU feed-forward.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use selene_kernels::{BlockMatrix, Schedule};

/// `y = x Wᵀ` with `W` stored `[out, in]`: as a tensor (floats, trainable), or as ggml blocks
/// that the device kernels of `selene-kernels` multiply without expanding them.
///
/// A tensor weight is one 2-D product over its transposed view, which no backend needs to
/// copy. Leading dimensions of `x` are folded into rows either way.
#[derive(Module, Debug)]
pub struct Linear {
    /// The weight as a tensor; `None` when it is held as ggml blocks.
    weight: Option<Param<Tensor<2>>>,
    #[module(skip)]
    blocks: Option<BlockMatrix>,
}

impl Linear {
    pub fn new(weight: Tensor<2>) -> Self {
        Linear { weight: Some(Param::from_tensor(weight)), blocks: None }
    }

    pub fn from_blocks(blocks: BlockMatrix) -> Self {
        Linear { weight: None, blocks: Some(blocks) }
    }

    /// A layer over an existing parameter (an output head tied to the embedding).
    pub fn from_param(weight: Param<Tensor<2>>) -> Self {
        Linear { weight: Some(weight), blocks: None }
    }

    /// The weight parameter, for a layer that holds a tensor.
    pub fn into_param(self) -> Option<Param<Tensor<2>>> {
        self.weight
    }

    /// The weight tensor of a layer that has one (every layer of a model loaded for training).
    pub fn tensor(&self) -> Option<&Param<Tensor<2>>> {
        self.weight.as_ref()
    }

    /// The ggml blocks of a layer loaded for inference on a device that computes with them.
    pub fn blocks(&self) -> Option<&BlockMatrix> {
        self.blocks.as_ref()
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dims = x.dims();
        let d_in = dims[D - 1];
        let rows = x.reshape([dims.iter().product::<usize>() / d_in, d_in]);
        let y = match (&self.weight, &self.blocks) {
            (Some(weight), _) => rows.matmul(weight.val().transpose()),
            (None, Some(blocks)) => blocks.matmul(rows),
            (None, None) => unreachable!("a linear layer is built with a weight"),
        };
        let mut out = dims;
        out[D - 1] = y.dims()[1];
        y.reshape(out)
    }
}

/// Root-mean-square normalization with a learned gain, as Llama uses it.
/// On a device with the kernels of `selene-kernels` it is one kernel launch.
#[derive(Module, Debug)]
pub struct RmsNorm {
    pub weight: Param<Tensor<1>>,
    #[module(skip)]
    eps: f64,
    #[module(skip)]
    kernels: Option<Schedule>,
}

impl RmsNorm {
    pub fn new(weight: Tensor<1>, eps: f64) -> Self {
        let kernels = selene_kernels::kernel_schedule(&weight.device());
        RmsNorm { weight: Param::from_tensor(weight), eps, kernels }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if let Some(schedule) = self.kernels {
            return selene_kernels::rms_norm_fused(x, self.weight.val(), self.eps as f32, schedule);
        }
        let rms = x.clone().square().mean_dim(D - 1).add_scalar(self.eps).sqrt();
        x.div(rms).mul(self.weight.val().unsqueeze())
    }
}

/// Llama's feed-forward: `down(silu(gate(x)) * up(x))`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl Mlp {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate.mul(self.up_proj.forward(x)))
    }
}
