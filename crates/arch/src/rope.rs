//! Rotary position embeddings: the base frequency, how a checkpoint stretches them to longer
//! contexts, and the per-frequency divisors of Llama 3, which GGUF stores as the
//! `rope_freqs.weight` tensor rather than as metadata.
//!
//! The divisors are computed as llama.cpp's converter computes them, in float32 (PyTorch), with
//! the same operations in the same order, so that the tensor written is byte-identical to the
//! converter's and the model that reads the checkpoint directly turns by the same angles.
//! PyTorch's float32 `pow` rounds the exact power once, so the power is taken in f64 and rounded.

/// Rotary embedding parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeConfig {
    pub theta: f64,
    pub scaling: RopeScaling,
    /// Per-pair divisors of the rotation frequencies, `head_dim / 2` long: computed from
    /// [`RopeScaling::Llama3`], or read from a GGUF file's `rope_freqs.weight`.
    pub freq_factors: Option<Vec<f32>>,
}

/// How a checkpoint scales rotary embeddings, as llama.cpp records it.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions are divided by this factor (`{arch}.rope.scaling.type = linear`, `.factor`).
    Linear(f64),
    /// Llama 3's frequency-dependent scaling, written as the `rope_freqs` tensor, no metadata.
    Llama3(Llama3Rope),
}

/// The parameters of Llama 3 scaling (`rope_scaling.rope_type == "llama3"`).
#[derive(Clone, Debug, PartialEq)]
pub struct Llama3Rope {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: f64,
}

impl RopeConfig {
    /// The rotation frequency of each of the `head_dim / 2` pairs, in radians per position.
    pub fn inverse_frequencies(&self, head_dim: usize) -> Vec<f64> {
        let position_scale = match self.scaling {
            RopeScaling::Linear(factor) => factor,
            RopeScaling::None | RopeScaling::Llama3(_) => 1.0,
        };
        (0..head_dim / 2)
            .map(|i| {
                let base = self.theta.powf(-2.0 * i as f64 / head_dim as f64);
                let factor = self.freq_factors.as_ref().map_or(1.0, |f| f64::from(f[i]));
                base / factor / position_scale
            })
            .collect()
    }
}

impl Llama3Rope {
    /// The divisor of each of the `head_dim / 2` rotation frequencies (`rope_freqs.weight`).
    pub fn freq_factors(&self, theta: f64, head_dim: usize) -> Vec<f32> {
        let low_wavelen = self.original_max_position_embeddings / self.low_freq_factor;
        let high_wavelen = self.original_max_position_embeddings / self.high_freq_factor;
        let old_ctx = self.original_max_position_embeddings as f32;
        let (low, high, factor) = (self.low_freq_factor as f32, self.high_freq_factor as f32, self.factor as f32);
        (0..head_dim)
            .step_by(2)
            .map(|i| {
                let exponent = i as f32 / head_dim as f32;
                let freq = 1.0f32 / theta.powf(f64::from(exponent)) as f32;
                let wavelen = std::f64::consts::TAU as f32 / freq;
                if f64::from(wavelen) < high_wavelen {
                    1.0
                } else if f64::from(wavelen) > low_wavelen {
                    factor
                } else {
                    let smooth = (old_ctx / wavelen - low) / (high - low);
                    1.0 / ((1.0 - smooth) / factor + smooth)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama31_8b_factors_are_the_converters() {
        let rope = Llama3Rope {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192.0,
        };
        let f = rope.freq_factors(500000.0, 128);
        assert_eq!(f.len(), 64);
        assert!(f[..29].iter().all(|&x| x == 1.0) && f[35..].iter().all(|&x| x == 8.0));
        // Values from llama.cpp's converter (float32), gguf_quant.md section 2.6.
        assert_eq!(&f[29..35], &[1.2074839, 1.5534146, 2.0263131, 2.69453, 3.6842532, 5.257327]);
    }

    #[test]
    fn linear_scaling_and_factors_divide_the_frequencies() {
        let plain = RopeConfig { theta: 10000.0, scaling: RopeScaling::None, freq_factors: None };
        let scaled =
            RopeConfig { scaling: RopeScaling::Linear(2.0), freq_factors: Some(vec![1.0, 4.0]), ..plain.clone() };
        let (a, b) = (plain.inverse_frequencies(4), scaled.inverse_frequencies(4));
        assert_eq!(a, [1.0, 0.01]);
        assert_eq!(b, [a[0] / 2.0, a[1] / 8.0]);
    }
}
