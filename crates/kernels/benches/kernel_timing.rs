//! Time of each block kernel, under each schedule and in each layout of the blocks (the planes
//! selene uses and the file's raw bytes, where they differ), beside Burn's own f32 matmul of the same
//! (expanded) weights, on one device: `cargo bench -p selene-kernels --bench kernel_timing
//! [-- wgpu]` (default lavapipe; Chromium's SwiftShader with
//! `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json`). Prints the first call (shader
//! compile included) and the best of five after it.

use std::time::Instant;

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use selene_gguf::codec;
use selene_kernels::{BlockFormat, BlockMatrix, Layout, Schedule};

/// Waits for `t` by reading it back whole (a few MB at most here).
fn sync(t: Tensor<2>) {
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
    let device = match std::env::args().nth(1).as_deref() {
        Some("wgpu") => Device::wgpu(DeviceKind::DefaultDevice),
        _ => selene_kernels::software_device(),
    };
    // SmolLM2-135M's projections.
    for (rows, cols) in [(576usize, 576usize), (1536, 576), (576, 1536)] {
        let values: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.04).collect();
        let dense = Tensor::<2>::from_data(TensorData::new(values.clone(), [rows, cols]), &device).transpose();
        for tokens in [1usize, 64, 512] {
            let x = Tensor::<2>::from_data(TensorData::new(vec![0.01f32; tokens * cols], [tokens, cols]), &device);
            let (f, b) = time(|| sync(x.clone().matmul(dense.clone())));
            println!("{rows:>5}x{cols:<5} t={tokens:<4} {:<22} first {f:>8.3} s  best {:>9.3} ms", "burn f32", b * 1e3);
            for format in BlockFormat::ALL {
                let ty = format.ggml_type();
                if cols % format.block_values() != 0 {
                    continue;
                }
                let bytes = codec::quantize_to_vec(ty, &values).unwrap();
                for layout in Layout::ALL {
                    let m = BlockMatrix::with_layout(&bytes, ty, rows, cols, &device, layout).unwrap();
                    if m.layout() != layout {
                        continue;
                    }
                    for schedule in Schedule::ALL {
                        let m = m.clone().with_schedule(schedule);
                        let (f, b) = time(|| sync(m.matmul(x.clone())));
                        println!(
                            "{rows:>5}x{cols:<5} t={tokens:<4} {:<22} first {f:>8.3} s  best {:>9.3} ms",
                            format!("{ty} {schedule:?} {layout:?}"),
                            b * 1e3
                        );
                    }
                }
            }
        }
    }
}
