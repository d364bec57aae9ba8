//! Time of each block kernel, under each schedule, beside Burn's own f32 matmul of the same
//! (expanded) weights, and of the fused cached attention beside the same attention as Burn tensor
//! operations, and of choosing the best logits on the device beside reading the row back and
//! choosing on the host, on one device: `cargo bench --workspace --bench kernel_timing [-- wgpu]
//! [attention | select]` (default lavapipe; Chromium's SwiftShader with
//! `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json`; `attention` or `select` times
//! only that). Prints the first call (shader compile included) and the best of five after it.

use std::time::Instant;

use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, DeviceKind, Tensor, TensorData};
use selene_gguf::codec;
use selene_kernels::{BlockFormat, BlockMatrix, Compute, Schedule, cached_attention_fused, top_candidates};

/// Waits for `t` by reading it back whole (a few MB at most here).
fn sync<const D: usize>(t: Tensor<D>) {
    let values: Vec<f32> = t.into_data().try_to_vec().unwrap();
    assert!(values.iter().all(|v| v.is_finite()));
}

fn time(mut f: impl FnMut()) -> (f64, f64) {
    let start = Instant::now();
    f();
    let first = start.elapsed().as_secs_f64();
    let best = (0..5)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    (first, best)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let device = match args.iter().any(|a| a == "wgpu") {
        true => Device::wgpu(DeviceKind::DefaultDevice),
        false => selene_kernels::software_device(),
    };
    let only = |what: &str| args.iter().any(|a| a == what);
    if !only("attention") && !only("select") {
        products(&device);
    }
    if !only("select") {
        attention(&device);
    }
    if !only("attention") {
        selection(&device);
    }
}

fn products(device: &Device) {
    let Compute::Kernels { binding_limit, .. } = Compute::of(device) else { panic!("{device:?} runs no kernels") };
    // SmolLM2-135M's projections.
    for (rows, cols) in [(576usize, 576usize), (1536, 576), (576, 1536)] {
        let values: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.04).collect();
        let dense = Tensor::<2>::from_data(TensorData::new(values.clone(), [rows, cols]), device).transpose();
        for tokens in [1usize, 64, 512] {
            let x = Tensor::<2>::from_data(TensorData::new(vec![0.01f32; tokens * cols], [tokens, cols]), device);
            let (f, b) = time(|| sync(x.clone().matmul(dense.clone())));
            println!("{rows:>5}x{cols:<5} t={tokens:<4} {:<22} first {f:>8.3} s  best {:>9.3} ms", "burn f32", b * 1e3);
            for format in BlockFormat::ALL {
                let ty = format.ggml_type();
                if cols % format.block_values() != 0 {
                    continue;
                }
                let bytes = codec::quantize_to_vec(ty, &values).unwrap();
                for schedule in Schedule::ALL {
                    let compute = Compute::Kernels { schedule, binding_limit };
                    let m = BlockMatrix::new(&bytes, ty, rows, cols, device, compute).unwrap();
                    let (f, b) = time(|| sync(m.matmul(x.clone())));
                    println!(
                        "{rows:>5}x{cols:<5} t={tokens:<4} {:<22} first {f:>8.3} s  best {:>9.3} ms",
                        format!("{ty} {schedule:?}"),
                        b * 1e3
                    );
                }
            }
        }
    }
}

/// SmolLM2-135M's attention shapes: 9 query heads over 3 cached heads of 64.
const HEADS: usize = 9;
const KV_HEADS: usize = 3;
const HEAD_DIM: usize = 64;

/// The last `seq` of `len` positions attending causally, as Burn tensor operations.
fn tensor_attention(q: Tensor<4>, keys: Tensor<4>, values: Tensor<4>, seq: usize, len: usize) -> Tensor<4> {
    let group = HEADS / KV_HEADS;
    let used = [0..1, 0..KV_HEADS, 0..len, 0..HEAD_DIM];
    let (k, v) = (keys.slice(used.clone()), values.slice(used));
    let q = q.reshape([1, KV_HEADS, group * seq, HEAD_DIM]);
    let mut scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(1.0 / (HEAD_DIM as f64).sqrt());
    if seq > 1 {
        let start = len - seq;
        let mask: Vec<bool> = (0..group * seq).flat_map(|r| (0..len).map(move |k| k > start + r % seq)).collect();
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(mask, [group * seq, len]), &scores.device());
        scores = scores.mask_fill(mask.unsqueeze::<4>(), f32::NEG_INFINITY);
    }
    softmax(scores, 3).matmul(v).reshape([1, HEADS, seq, HEAD_DIM])
}

fn attention(device: &Device) {
    let capacity = 2128;
    let filled = |n: usize, salt: usize| -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 + salt) % 1000) as f32 / 500.0 - 1.0).collect()
    };
    let cache = |salt| {
        let shape = [1, KV_HEADS, capacity, HEAD_DIM];
        Tensor::<4>::from_data(TensorData::new(filled(KV_HEADS * capacity * HEAD_DIM, salt), shape), device)
    };
    let (keys, values) = (cache(1), cache(2));
    let scale = 1.0 / (HEAD_DIM as f32).sqrt();
    // Decoding after 512 and 2,048 positions; prompts of 64 and 512 tokens from the start.
    for (seq, len) in [(1, 512), (1, 2048), (64, 64), (512, 512)] {
        let shape = [1, HEADS, seq, HEAD_DIM];
        let q = Tensor::<4>::from_data(TensorData::new(filled(HEADS * seq * HEAD_DIM, 3), shape), device);
        let label = format!("attention {seq:>4} tokens over {len:>4}");
        let (f, b) = time(|| sync(tensor_attention(q.clone(), keys.clone(), values.clone(), seq, len)));
        println!("{label} {:<18} first {f:>8.3} s  best {:>9.3} ms", "tensor ops", b * 1e3);
        for schedule in Schedule::ALL {
            let (f, b) =
                time(|| sync(cached_attention_fused(q.clone(), keys.clone(), values.clone(), len, scale, schedule)));
            println!("{label} {:<18} first {f:>8.3} s  best {:>9.3} ms", format!("fused {schedule:?}"), b * 1e3);
        }
    }
}

/// The best `k` of a logits row (SmolLM2's and Llama 3's vocabularies) with their
/// log-normalizer: on the device, reading back `2k + 1` numbers, or on the host after reading the
/// whole row back, as the runtime does for more candidates than the kernels take.
fn selection(device: &Device) {
    for vocab in [49_152usize, 128_256] {
        let row: Vec<f32> = (0..vocab).map(|i| ((i * 7919) % 10_007) as f32 / 500.0).collect();
        let logits = Tensor::<2>::from_data(TensorData::new(row, [1, vocab]), device);
        for k in [5usize, 40, 64] {
            let label = format!("best {k:>2} of {vocab:>6} logits");
            let (f, b) = time(|| {
                let found: Vec<f32> = top_candidates(logits.clone(), k).into_data().try_to_vec().unwrap();
                assert!(found[0] >= 0.0);
            });
            println!("{label} {:<18} first {f:>8.3} s  best {:>9.3} ms", "device", b * 1e3);
            let (f, b) = time(|| {
                let row: Vec<f32> = logits.clone().into_data().try_to_vec().unwrap();
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let norm = row.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln() + f64::from(max);
                let mut ids: Vec<u32> = (0..vocab as u32).collect();
                let order = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
                ids.select_nth_unstable_by(k, order);
                ids.truncate(k);
                ids.sort_unstable_by(order);
                assert!(norm.is_finite() && ids.len() == k);
            });
            println!("{label} {:<18} first {f:>8.3} s  best {:>9.3} ms", "read back, host", b * 1e3);
        }
    }
}
