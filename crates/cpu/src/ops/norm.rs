//! RMSNorm: `x / sqrt(mean(x²) + eps) * w` per row. The sum of squares is accumulated in f64, as
//! ggml does, so that long rows with large values lose nothing; the rest is f32.

use rayon::prelude::*;

use super::PARALLEL_VALUES;

/// Normalizes each row of `x` (`[rows, weight.len()]`) into `out`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    assert!(
        dim > 0 && x.len().is_multiple_of(dim) && out.len() == x.len(),
        "rms_norm: x and out must be [rows, {dim}]"
    );
    let row = |(x, out): (&[f32], &mut [f32])| normalize(x, weight, eps, out);
    if x.len() < 2 * PARALLEL_VALUES {
        x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)).for_each(row);
    } else {
        x.par_chunks_exact(dim).zip(out.par_chunks_exact_mut(dim)).for_each(row);
    }
}

fn normalize(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    // Four running sums so that the loop vectorizes.
    let mut sums = [0f64; 4];
    for (i, &v) in x.iter().enumerate() {
        sums[i % 4] += (v as f64) * (v as f64);
    }
    let mean = (sums.iter().sum::<f64>() / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_f64() {
        let (rows, dim) = (40, 4096);
        let x: Vec<f32> = (0..rows * dim).map(|i| ((i * 7919) % 1999) as f32 * 0.01 - 10.0).collect();
        let w: Vec<f32> = (0..dim).map(|i| 0.5 + (i % 7) as f32 * 0.1).collect();
        let mut out = vec![0f32; rows * dim];
        rms_norm(&x, &w, 1e-5, &mut out);
        for r in 0..rows {
            let row = &x[r * dim..(r + 1) * dim];
            let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / dim as f64;
            let scale = 1.0 / (ms + 1e-5).sqrt();
            for c in 0..dim {
                let want = row[c] as f64 * scale * w[c] as f64;
                assert!((out[r * dim + c] as f64 - want).abs() <= 4.0 * f32::EPSILON as f64 * want.abs());
            }
        }
    }
}
