//! Rotary position embeddings in the rotate-half convention of Hugging Face's Llama: dimension
//! `i < d/2` of a head turns with dimension `i + d/2` by the angle of position `p` and frequency
//! `i`, read from precomputed tables so that the model decides the frequencies (Llama 3's
//! scaled ones included) and each angle's sine and cosine are computed once.

use rayon::prelude::*;

use super::PARALLEL_VALUES;

/// `cos` and `sin` tables, `[positions, head_dim / 2]`: entry `[p][i]` is the angle
/// `p * theta^(-2i/d) / factor_i` (`factors` are GGUF's `rope_freqs`, Llama 3's scaling; none
/// means 1). Angles are computed in f64.
#[derive(Clone, Debug)]
pub struct RopeTables {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub head_dim: usize,
}

impl RopeTables {
    pub fn new(positions: usize, head_dim: usize, theta: f32, factors: Option<&[f32]>) -> RopeTables {
        assert!(head_dim.is_multiple_of(2), "rope: odd head_dim {head_dim}");
        let half = head_dim / 2;
        if let Some(f) = factors {
            assert_eq!(f.len(), half, "rope: one frequency factor per pair of dimensions");
        }
        let mut tables = RopeTables {
            cos: Vec::with_capacity(positions * half),
            sin: Vec::with_capacity(positions * half),
            head_dim,
        };
        for p in 0..positions {
            for i in 0..half {
                let freq =
                    (theta as f64).powf(-2.0 * i as f64 / head_dim as f64) / factors.map_or(1.0, |f| f[i] as f64);
                let angle = p as f64 * freq;
                tables.cos.push(angle.cos() as f32);
                tables.sin.push(angle.sin() as f32);
            }
        }
        tables
    }

    pub fn positions(&self) -> usize {
        self.cos.len() / (self.head_dim / 2)
    }
}

/// Rotates `x`, `[seq, heads, head_dim]`, in place: token `s` is at position `start + s`.
pub fn rope(x: &mut [f32], heads: usize, start: usize, tables: &RopeTables) {
    let d = tables.head_dim;
    let per_token = heads * d;
    assert!(x.len().is_multiple_of(per_token), "rope: x must be [seq, {heads}, {d}]");
    let seq = x.len() / per_token;
    assert!(start + seq <= tables.positions(), "rope: position {} beyond the tables", start + seq - 1);
    let token = |(s, x): (usize, &mut [f32])| {
        let at = (start + s) * (d / 2);
        let (cos, sin) = (&tables.cos[at..at + d / 2], &tables.sin[at..at + d / 2]);
        x.chunks_exact_mut(d).for_each(|head| rotate(head, cos, sin));
    };
    if x.len() < 2 * PARALLEL_VALUES {
        x.chunks_exact_mut(per_token).enumerate().for_each(token);
    } else {
        x.par_chunks_exact_mut(per_token).enumerate().for_each(token);
    }
}

fn rotate(head: &mut [f32], cos: &[f32], sin: &[f32]) {
    let (a, b) = head.split_at_mut(cos.len());
    for (((a, b), &c), &s) in a.iter_mut().zip(b).zip(cos).zip(sin) {
        (*a, *b) = (*a * c - *b * s, *b * c + *a * s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_half_pairs_by_position() {
        let (heads, d, seq, start) = (3, 8, 5, 7);
        let tables = RopeTables::new(16, d, 10000.0, Some(&[1.0, 2.0, 4.0, 8.0]));
        let x: Vec<f32> = (0..seq * heads * d).map(|i| (i % 11) as f32 - 5.0).collect();
        let mut y = x.clone();
        rope(&mut y, heads, start, &tables);
        for s in 0..seq {
            for h in 0..heads {
                for i in 0..d / 2 {
                    let freq = 10000f64.powf(-2.0 * i as f64 / d as f64) / [1.0, 2.0, 4.0, 8.0][i];
                    let angle = (start + s) as f64 * freq;
                    let at = (s * heads + h) * d;
                    let (a, b) = (x[at + i] as f64, x[at + i + d / 2] as f64);
                    let want = (a * angle.cos() - b * angle.sin(), b * angle.cos() + a * angle.sin());
                    assert!(
                        (y[at + i] as f64 - want.0).abs() < 1e-5 && (y[at + i + d / 2] as f64 - want.1).abs() < 1e-5
                    );
                }
            }
        }
    }
}
