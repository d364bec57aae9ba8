//! SwiGLU's gate: `silu(gate) * up`, with `silu(g) = g / (1 + e^-g)`.

use rayon::prelude::*;

use super::exp::exp;
use super::{PARALLEL_VALUES, multiversion};

/// `out[i] = silu(gate[i]) * up[i]`; all three the same length.
pub fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(gate.len() == up.len() && up.len() == out.len(), "silu_mul: lengths differ");
    if out.len() < 2 * PARALLEL_VALUES {
        return silu_mul_run(gate, up, out);
    }
    out.par_chunks_mut(PARALLEL_VALUES)
        .zip(gate.par_chunks(PARALLEL_VALUES).zip(up.par_chunks(PARALLEL_VALUES)))
        .for_each(|(out, (gate, up))| silu_mul_run(gate, up, out));
}

multiversion! {
    fn silu_mul_run(gate: &[f32], up: &[f32], out: &mut [f32]) {
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g / (1.0 + exp(-g)) * u;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_f64() {
        let n = 3 * PARALLEL_VALUES + 5;
        let gate: Vec<f32> = (0..n).map(|i| ((i * 7919) % 2001) as f32 * 0.01 - 10.0).collect();
        let up: Vec<f32> = (0..n).map(|i| ((i * 104729) % 997) as f32 * 0.003 - 1.5).collect();
        let mut out = vec![0f32; n];
        silu_mul(&gate, &up, &mut out);
        for i in 0..n {
            let (g, u) = (gate[i] as f64, up[i] as f64);
            let want = g / (1.0 + (-g).exp()) * u;
            assert!(
                (out[i] as f64 - want).abs() <= 8.0 * f32::EPSILON as f64 * want.abs() + 1e-30,
                "{i}: {} vs {want}",
                out[i]
            );
        }
    }
}
