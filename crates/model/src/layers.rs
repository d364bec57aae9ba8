//! The small building blocks: a bias-free linear map over `[out, in]` weights (the orientation
//! of every checkpoint format, so weights load without transposing and quantization blocks stay
//! along the input dimension), RMSNorm and the SwiGLU feed-forward.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::silu;

/// `y = x Wᵀ` with `W` stored `[out, in]`. A quantized `W` stays quantized through the product.
/// Leading dimensions are folded into rows so that every call is one 2-D product over the
/// transposed view of `W`, which no backend needs to copy.
#[derive(Module, Debug)]
pub struct Linear {
    pub weight: Param<Tensor<2>>,
}

impl Linear {
    pub fn new(weight: Tensor<2>) -> Self {
        Linear { weight: Param::from_tensor(weight) }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dims = x.dims();
        let d_in = dims[D - 1];
        let y = x.reshape([dims.iter().product::<usize>() / d_in, d_in]).matmul(self.weight.val().transpose());
        let mut out = dims;
        out[D - 1] = y.dims()[1];
        y.reshape(out)
    }
}

/// Root-mean-square normalization with a learned gain, as Llama uses it.
#[derive(Module, Debug)]
pub struct RmsNorm {
    pub weight: Param<Tensor<1>>,
    #[module(skip)]
    eps: f64,
}

impl RmsNorm {
    pub fn new(weight: Tensor<1>, eps: f64) -> Self {
        RmsNorm { weight: Param::from_tensor(weight), eps }
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
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
