//! The small building blocks: a bias-free linear map over `[out, in]` weights (the orientation
//! of every checkpoint format, so weights load without transposing and quantization blocks stay
//! along the input dimension), RMSNorm and the SwiGLU feed-forward.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use selene_kernels::{BlockMatrix, Compute};

/// `y = x Wᵀ` with `W` stored `[out, in]`: as a tensor (floats, trainable), or as ggml blocks
/// that the kernels of `selene-kernels` multiply without expanding them.
///
/// A tensor weight is one 2-D product over its transposed view, which no backend needs to
/// copy. Leading dimensions of `x` are folded into rows either way. The two forms are two
/// fields rather than an enum because Burn names a parameter by its field path
/// (`layers.0.self_attn.q_proj.weight`), which training checkpoints, LoRA target groups and
/// optimizer groups match, and a Burn enum would put its variant's name into that path.
#[derive(Module, Debug)]
pub struct Linear {
    /// The weight as a tensor; `None` exactly when `blocks` holds it.
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
    pub(crate) fn from_param(weight: Param<Tensor<2>>) -> Self {
        Linear { weight: Some(weight), blocks: None }
    }

    /// The weight parameter, for a layer that holds a tensor.
    pub(crate) fn into_param(self) -> Option<Param<Tensor<2>>> {
        self.weight
    }

    /// The weight tensor of a layer that has one (every layer of a model loaded for training).
    pub fn tensor(&self) -> Option<&Param<Tensor<2>>> {
        self.weight.as_ref()
    }

    /// Bytes of ggml blocks this layer holds on its device (a tensor weight counts among the
    /// model's parameters instead).
    pub(crate) fn block_bytes(&self) -> usize {
        self.blocks.as_ref().map_or(0, BlockMatrix::device_bytes)
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dims = x.dims();
        let d_in = dims[D - 1];
        let rows = x.reshape([dims.iter().product::<usize>() / d_in, d_in]);
        let y = match (&self.blocks, &self.weight) {
            (Some(blocks), _) => blocks.matmul(rows),
            (None, Some(weight)) => rows.matmul(weight.val().transpose()),
            (None, None) => unreachable!("a linear layer is made with a weight"),
        };
        let mut out = dims;
        out[D - 1] = y.dims()[1];
        y.reshape(out)
    }
}

/// Root-mean-square normalization with a learned gain, as Llama uses it.
/// Where the kernels of `selene-kernels` run, it is one kernel launch.
#[derive(Module, Debug)]
pub struct RmsNorm {
    pub weight: Param<Tensor<1>>,
    #[module(skip)]
    eps: f64,
    #[module(skip)]
    compute: Compute,
}

impl RmsNorm {
    pub fn new(weight: Tensor<1>, eps: f64, compute: Compute) -> Self {
        RmsNorm { weight: Param::from_tensor(weight), eps, compute }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self.compute {
            Compute::Kernels { schedule, .. } => {
                selene_kernels::rms_norm_fused(x, self.weight.val(), self.eps as f32, schedule)
            }
            Compute::Host { .. } => selene_kernels::host::rms_norm(x, self.weight.val(), self.eps as f32),
            Compute::Tensors => {
                let rms = x.clone().square().mean_dim(D - 1).add_scalar(self.eps).sqrt();
                x.div(rms).mul(self.weight.val().unsqueeze())
            }
        }
    }
}

/// Llama's feed-forward: `down(silu(gate(x)) * up(x))`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
    #[module(skip)]
    pub compute: Compute,
}

impl Mlp {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let (gate, up) = (self.gate_proj.forward(x.clone()), self.up_proj.forward(x));
        let hidden = match self.compute {
            Compute::Host { .. } => selene_kernels::host::silu_mul(gate, up),
            Compute::Tensors | Compute::Kernels { .. } => silu(gate).mul(up),
        };
        self.down_proj.forward(hidden)
    }
}
