//! Rotary position embeddings in the "rotate half" form of Hugging Face's Llama: dimension `i`
//! of a head turns together with dimension `i + d/2`. Angles are computed once on the host in
//! f64 and kept on the device as cosine and sine tables.

use burn::tensor::{Device, Tensor, TensorData};

use selene_kernels::Compute;

use crate::config::RopeConfig;
use crate::weights::upload;

#[derive(Clone, Debug)]
pub struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
    positions: usize,
    half: usize,
    compute: Compute,
}

impl Rope {
    /// Tables for positions `0..positions`.
    pub fn new(config: &RopeConfig, head_dim: usize, positions: usize, device: &Device, compute: Compute) -> Self {
        let half = head_dim / 2;
        let freqs = config.inverse_frequencies(head_dim);
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for f in &freqs {
                let angle = p as f64 * f;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Rope {
            cos: upload(TensorData::new(cos, [positions, half]), device),
            sin: upload(TensorData::new(sin, [positions, half]), device),
            positions,
            half,
            compute,
        }
    }

    /// How many positions the tables cover.
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// Rotates `x` `[batch, seq, heads, head_dim]` whose first position is `start`.
    pub fn apply(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        if self.compute.schedule().is_some() {
            return selene_kernels::rope_fused(x, self.cos.clone(), self.sin.clone(), start);
        }
        let seq = x.dims()[1];
        let table = |t: &Tensor<2>| t.clone().narrow(0, start, seq).reshape([1, seq, 1, self.half]);
        let (cos, sin) = (table(&self.cos), table(&self.sin));
        let x1 = x.clone().narrow(3, 0, self.half);
        let x2 = x.narrow(3, self.half, self.half);
        let rotated_1 = x1.clone().mul(cos.clone()).sub(x2.clone().mul(sin.clone()));
        let rotated_2 = x2.mul(cos).add(x1.mul(sin));
        Tensor::cat(vec![rotated_1, rotated_2], 3)
    }
}
