//! Llama 3 RoPE scaling as a tensor: `rope_freqs.weight` holds, per rotary frequency, the factor
//! by which llama.cpp divides the rotation angle. llama.cpp's converter computes it in float32
//! (PyTorch); the same operations in the same order are done here so the bytes agree. PyTorch's
//! float32 `pow` rounds the exact power once, so the power is taken in f64 and rounded.

use crate::config::Llama3Rope;

pub fn llama3_factors(rope: &Llama3Rope, theta: f64, head_dim: u32) -> Vec<f32> {
    let low_wavelen = rope.original_max_position_embeddings / rope.low_freq_factor;
    let high_wavelen = rope.original_max_position_embeddings / rope.high_freq_factor;
    let old_ctx = rope.original_max_position_embeddings as f32;
    let (low, high, factor) = (rope.low_freq_factor as f32, rope.high_freq_factor as f32, rope.factor as f32);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama31_8b_factors() {
        let rope = Llama3Rope {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192.0,
        };
        let f = llama3_factors(&rope, 500000.0, 128);
        assert_eq!(f.len(), 64);
        assert!(f[..29].iter().all(|&x| x == 1.0) && f[35..].iter().all(|&x| x == 8.0));
        // Values from llama.cpp's converter (float32), gguf_quant.md section 2.6.
        assert_eq!(&f[29..35], &[1.2074839, 1.5534146, 2.0263131, 2.69453, 3.6842532, 5.257327]);
    }
}
