//! Rotary position embeddings in the "rotate half" form of Hugging Face's Llama: dimension `i`
//! of a head turns together with dimension `i + d/2`. Angles are computed once on the host in
//! f64 and kept as cosine and sine tables where the model computes: on its device, or in host
//! memory for the CPU engine.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use selene_kernels::Compute;
use selene_kernels::host::RopeTables;

use crate::config::RopeConfig;
use crate::weights::upload;

#[derive(Clone, Debug)]
pub struct Rope {
    tables: Tables,
    positions: usize,
    half: usize,
    compute: Compute,
}

/// `cos` and `sin`, `[positions, head_dim / 2]`.
#[derive(Clone, Debug)]
enum Tables {
    Device { cos: Tensor<2>, sin: Tensor<2> },
    Host(Arc<RopeTables>),
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
        let tables = match compute {
            Compute::Host { .. } => Tables::Host(Arc::new(RopeTables { cos, sin, head_dim })),
            Compute::Tensors | Compute::Kernels { .. } => Tables::Device {
                cos: upload(TensorData::new(cos, [positions, half]), device),
                sin: upload(TensorData::new(sin, [positions, half]), device),
            },
        };
        Rope { tables, positions, half, compute }
    }

    /// How many positions the tables cover.
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// Rotates `x` `[batch, seq, heads, head_dim]` whose first position is `start`.
    pub fn apply(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        let (cos, sin) = match (&self.tables, self.compute) {
            (Tables::Host(tables), _) => {
                let [batch, seq, heads, dim] = x.dims();
                let rows = x.reshape([batch * seq, heads, dim]);
                assert_eq!(batch, 1, "the CPU engine rotates one sequence at a time");
                return selene_kernels::host::rope(rows, tables, start).reshape([batch, seq, heads, dim]);
            }
            (Tables::Device { cos, sin }, Compute::Kernels { .. }) => {
                return selene_kernels::rope_fused(x, cos.clone(), sin.clone(), start);
            }
            (Tables::Device { cos, sin }, _) => (cos, sin),
        };
        let seq = x.dims()[1];
        let table = |t: &Tensor<2>| t.clone().narrow(0, start, seq).reshape([1, seq, 1, self.half]);
        let (cos, sin) = (table(cos), table(sin));
        let x1 = x.clone().narrow(3, 0, self.half);
        let x2 = x.narrow(3, self.half, self.half);
        let rotated_1 = x1.clone().mul(cos.clone()).sub(x2.clone().mul(sin.clone()));
        let rotated_2 = x2.mul(cos).add(x1.mul(sin));
        Tensor::cat(vec![rotated_1, rotated_2], 3)
    }
}
