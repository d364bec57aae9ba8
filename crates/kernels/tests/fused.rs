//! The fused decoder kernels and the device's choice of the best logits against their
//! definitions computed in f64 on the host, on lavapipe (`SELENE_KERNEL_DEVICE=wgpu` for a real
//! GPU).

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use selene_kernels::{MAX_CANDIDATES, Schedule, cached_attention_fused, rms_norm_fused, rope_fused, top_candidates};

fn device() -> Device {
    match std::env::var("SELENE_KERNEL_DEVICE").as_deref() {
        Ok("wgpu") => Device::wgpu(DeviceKind::DefaultDevice),
        _ => selene_kernels::software_device(),
    }
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn tensor<const D: usize>(v: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

fn assert_close(ours: &[f32], reference: &[f64], what: &str) {
    assert_eq!(ours.len(), reference.len(), "{what}");
    let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs()));
    let err = ours.iter().zip(reference).map(|(&a, &b)| (a as f64 - b).abs()).fold(0f64, f64::max) / scale;
    assert!(err <= 1e-5, "{what}: relative error {err:e}");
}

#[test]
fn rms_norm_matches_its_definition() {
    let device = device();
    // Rows longer and shorter than the kernel's 128 units.
    for (rows, dim) in [(1, 576), (5, 96), (3, 4096)] {
        let x = values(rows * dim, 1);
        let w = values(dim, 2);
        let eps = 1e-5;
        let mut reference = Vec::new();
        for row in x.chunks(dim) {
            let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / dim as f64;
            let inv = 1.0 / (ms + eps as f64).sqrt();
            reference.extend(row.iter().zip(&w).map(|(&v, &g)| v as f64 * inv * g as f64));
        }
        for schedule in Schedule::ALL {
            let ours =
                host(rms_norm_fused(tensor(&x, [rows, dim], &device), tensor(&w, [dim], &device), eps, schedule));
            assert_close(&ours, &reference, &format!("rms_norm {rows}x{dim}, {schedule:?}"));
        }
    }
}

#[test]
fn rope_matches_its_definition() {
    let device = device();
    let (batch, seq, heads, dim, positions, start) = (2, 7, 3, 64, 40, 11);
    let half = dim / 2;
    let x = values(batch * seq * heads * dim, 3);
    let angles = values(positions * half, 4);
    let cos: Vec<f32> = angles.iter().map(|a| (a * 3.0).cos()).collect();
    let sin: Vec<f32> = angles.iter().map(|a| (a * 3.0).sin()).collect();
    let ours = host(rope_fused(
        tensor(&x, [batch, seq, heads, dim], &device),
        tensor(&cos, [positions, half], &device),
        tensor(&sin, [positions, half], &device),
        start,
    ));
    let mut reference = vec![0f64; x.len()];
    for (r, row) in x.chunks(dim).enumerate() {
        let p = start + (r / heads) % seq;
        for i in 0..half {
            let (c, s) = (cos[p * half + i] as f64, sin[p * half + i] as f64);
            let (x1, x2) = (row[i] as f64, row[i + half] as f64);
            reference[r * dim + i] = x1 * c - x2 * s;
            reference[r * dim + i + half] = x2 * c + x1 * s;
        }
    }
    assert_close(&ours, &reference, "rope");
}

#[test]
fn cached_attention_matches_its_definition() {
    let device = device();
    let (heads, kv_heads, dim, capacity) = (6, 2, 64, 2500);
    let group = heads / kv_heads;
    let keys = values(kv_heads * capacity * dim, 6);
    let vals = values(kv_heads * capacity * dim, 7);
    let scale = 1.0 / (dim as f32).sqrt();
    // One token over one key, a few, and more than one chunk of the workgroup kernel's shared
    // memory; prompts from the start of the cache and after earlier positions.
    for (seq, len) in [(1, 1), (1, 5), (1, 1500), (1, 2500), (7, 7), (7, 40), (33, 1500)] {
        let q = values(heads * seq * dim, 5 + seq as u64);
        let mut reference = Vec::new();
        for h in 0..heads {
            let cache = (h / group) * capacity * dim;
            for t in 0..seq {
                let query = &q[(h * seq + t) * dim..][..dim];
                let visible = len - seq + 1 + t;
                let scores: Vec<f64> = (0..visible)
                    .map(|j| {
                        (0..dim).map(|i| query[i] as f64 * keys[cache + j * dim + i] as f64).sum::<f64>() * scale as f64
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::MIN, f64::max);
                let p: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = p.iter().sum();
                for i in 0..dim {
                    reference.push((0..visible).map(|j| p[j] * vals[cache + j * dim + i] as f64).sum::<f64>() / total);
                }
            }
        }
        for schedule in Schedule::ALL {
            let ours = host(cached_attention_fused(
                tensor(&q, [1, heads, seq, dim], &device),
                tensor(&keys, [1, kv_heads, capacity, dim], &device),
                tensor(&vals, [1, kv_heads, capacity, dim], &device),
                len,
                scale,
                schedule,
            ));
            assert_close(&ours, &reference, &format!("{seq} tokens over {len} keys, {schedule:?}"));
        }
    }
}

#[test]
fn top_candidates_are_the_best_logits_and_their_normalizer() {
    let device = device();
    let spread = |n: usize, seed: u64| values(n, seed).into_iter().map(|v| v * 20.0).collect::<Vec<f32>>();
    // Llama 3's and SmolLM2's vocabularies; logits rounded to a few levels, so that ties cross
    // slices; masked logits; rows no longer than the candidates, or with fewer finite logits
    // (the places left are empty); the best at the row's ends.
    let mut rounded = spread(49_152, 12);
    rounded.iter_mut().for_each(|v| *v = v.round());
    let mut masked = spread(5_000, 13);
    masked.iter_mut().step_by(3).for_each(|v| *v = f32::NEG_INFINITY);
    let mut sparse = vec![f32::NEG_INFINITY; 30];
    sparse[..10].copy_from_slice(&spread(10, 16));
    let mut ends = spread(70_001, 14);
    (ends[0], ends[70_000]) = (50.0, 50.0);
    let rows = [
        (spread(128_256, 11), [1, 5, 40, 64]),
        (rounded, [1, 7, 40, 64]),
        (masked, [3, 64, 64, 64]),
        (spread(20, 15), [1, 19, 20, 20]),
        (sparse, [1, 10, 11, 30]),
        (ends, [1, 2, 3, 64]),
    ];
    for (row, ks) in rows {
        let finite: Vec<usize> = (0..row.len()).filter(|&i| row[i].is_finite()).collect();
        let mut order = finite.clone();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        let max = finite.iter().map(|&i| row[i] as f64).fold(f64::MIN, f64::max);
        let log_norm = max + finite.iter().map(|&i| (row[i] as f64 - max).exp()).sum::<f64>().ln();
        for k in ks {
            assert!(k <= MAX_CANDIDATES);
            let found = host(top_candidates(tensor(&row, [1, row.len()], &device), k));
            let what = format!("best {k} of {} logits", row.len());
            assert_eq!(found.len(), 2 * k + 1, "{what}");
            let ids: Vec<i64> = found[..2 * k].chunks(2).map(|c| c[0] as i64).collect();
            let expected: Vec<i64> = (0..k).map(|r| order.get(r).map_or(-1, |&i| i as i64)).collect();
            assert_eq!(ids, expected, "{what}");
            for (c, &id) in found[..2 * k].chunks(2).zip(&ids) {
                if id >= 0 {
                    assert_eq!(c[1], row[id as usize], "{what}: the logit of token {id}");
                }
            }
            let err = (found[2 * k] as f64 - log_norm).abs() / log_norm.abs().max(1.0);
            assert!(err <= 1e-6, "{what}: log-normalizer {} against {log_norm}", found[2 * k]);
        }
    }
}
