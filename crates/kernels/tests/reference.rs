//! Every kernel against the CPU reference: the same blocks dequantized by `selene_gguf::codec`
//! (bit-identical to ggml's `dequantize_row_*`, see crates/gguf/tests/codecs.rs), multiplied in
//! f64 on the host. Runs on lavapipe (`wgpu-cpu`), so it needs no GPU; set
//! `SELENE_KERNEL_DEVICE=wgpu` (or `cuda` in a CUDA build) to run it on a real one.
//!
//! Blocks come from three sources: random bytes (every bit pattern of scales and quants, with
//! finite f16 scales), random values quantized by ggml's algorithm, and real weights of the demo
//! model re-quantized to each type.

use std::sync::Arc;

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use selene_gguf::{GgmlType, GgufModel, codec};
use selene_kernels::{BlockFormat, BlockMatrix, Compute, Schedule};

fn device() -> Device {
    match std::env::var("SELENE_KERNEL_DEVICE").as_deref() {
        Ok("wgpu") => Device::wgpu(DeviceKind::DefaultDevice),
        #[cfg(feature = "cuda")]
        Ok("cuda") => Device::cuda(0),
        _ => selene_kernels::software_device(),
    }
}

/// xorshift64*: reproducible test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Offsets of the f16 fields of a block (scales and minimums), which random bytes would make
/// infinite or NaN.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        _ => unreachable!(),
    }
}

fn random_blocks(ty: GgmlType, blocks: usize, rng: &mut Rng) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..blocks * ty.block_bytes()).map(|_| rng.next() as u8).collect();
    for block in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in f16_fields(ty) {
            let scale = codec::f32_to_f16_bits(rng.signed() * 0.05);
            block[at..at + 2].copy_from_slice(&scale.to_le_bytes());
        }
    }
    bytes
}

fn quantized_random(ty: GgmlType, values: usize, rng: &mut Rng) -> Vec<u8> {
    // A spread of magnitudes within and across rows, as trained weights have.
    let v: Vec<f32> = (0..values).map(|i| rng.signed() * (1.0 + (i % 7) as f32) * 0.02).collect();
    codec::quantize_to_vec(ty, &v).unwrap()
}

/// `x · Wᵀ` on the host, with W decoded by the ggml-exact codecs.
fn reference(x: &[f32], tokens: usize, bytes: &[u8], ty: GgmlType, rows: usize, cols: usize) -> Vec<f64> {
    let w = codec::dequantize_to_vec(ty, bytes, rows * cols).unwrap();
    let mut out = vec![0f64; tokens * rows];
    for t in 0..tokens {
        for r in 0..rows {
            out[t * rows + r] = (0..cols).map(|k| x[t * cols + k] as f64 * w[r * cols + k] as f64).sum::<f64>();
        }
    }
    out
}

/// The largest error relative to the largest reference value.
fn relative_error(ours: &[f32], reference: &[f64]) -> f64 {
    let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    ours.iter().zip(reference).map(|(&a, &b)| (a as f64 - b).abs()).fold(0f64, f64::max) / scale
}

fn check(device: &Device, matrix: &BlockMatrix, bytes: &[u8], ty: GgmlType, tokens: usize, rng: &mut Rng) -> f64 {
    let [rows, cols] = matrix.dims();
    let x: Vec<f32> = (0..tokens * cols).map(|_| rng.signed()).collect();
    let y = matrix.matmul(Tensor::from_data(TensorData::new(x.clone(), [tokens, cols]), device));
    assert_eq!(y.dims(), [tokens, rows]);
    let ours: Vec<f32> = y.into_data().try_to_vec().unwrap();
    let err = relative_error(&ours, &reference(&x, tokens, bytes, ty, rows, cols));
    assert!(err <= 1e-3, "{ty} {rows}x{cols}, {tokens} tokens: relative error {err:e}");
    err
}

/// One token (matrix-vector), a few and a whole tile (tiled kernel), more (expanded rows).
const TOKEN_COUNTS: [usize; 5] = [1, 2, 32, 33, 70];

/// The device's compute under each schedule, its binding limit as `limit` says.
fn computes(device: &Device, limit: Option<u64>) -> impl Iterator<Item = Compute> {
    let Compute::Kernels { binding_limit, .. } = Compute::of(device) else {
        panic!("{device:?} runs no kernels");
    };
    let binding_limit = limit.unwrap_or(binding_limit);
    Schedule::ALL.into_iter().map(move |schedule| Compute::Kernels { schedule, binding_limit })
}

/// `bytes` as a matrix under each schedule.
fn matrices<'a>(
    device: &'a Device,
    bytes: &'a [u8],
    ty: GgmlType,
    [rows, cols]: [usize; 2],
) -> impl Iterator<Item = BlockMatrix> + 'a {
    computes(device, None).map(move |c| BlockMatrix::new(bytes, ty, rows, cols, device, c).unwrap())
}

#[test]
fn random_blocks_match_the_reference() {
    let device = device();
    let mut rng = Rng(0x5e1e_e0de);
    for format in BlockFormat::ALL {
        let ty = format.ggml_type();
        let per_block = format.block_values();
        // Rows that fill neither a matrix-vector workgroup nor a tile; several blocks per row.
        for (rows, blocks_per_row) in [(1, 1), (67, 3), (130, 2)] {
            let cols = blocks_per_row * per_block;
            for bytes in
                [random_blocks(ty, rows * blocks_per_row, &mut rng), quantized_random(ty, rows * cols, &mut rng)]
            {
                for matrix in matrices(&device, &bytes, ty, [rows, cols]) {
                    for tokens in TOKEN_COUNTS {
                        check(&device, &matrix, &bytes, ty, tokens, &mut rng);
                    }
                }
            }
        }
    }
}

#[test]
fn real_weights_match_the_reference() {
    let device = device();
    let model = Arc::new(GgufModel::open(selene_fixtures::smollm2()).unwrap());
    let mut rng = Rng(7);
    // The demo model's own blocks, and its feed-forward weights re-quantized to each type
    // (its 1536-wide rows are whole K-quant blocks).
    for name in ["blk.0.attn_q.weight", "blk.3.ffn_down.weight"] {
        let t = model.tensor(name).unwrap();
        let (rows, cols) = (t.info.shape()[0] as usize, t.info.shape()[1] as usize);
        let bytes = model.tensor_bytes(t).unwrap();
        let values = codec::dequantize_to_vec(t.info.ggml_type, &bytes, rows * cols).unwrap();
        let mut cases = vec![(t.info.ggml_type, bytes.to_vec())];
        if cols % 256 == 0 {
            for format in BlockFormat::ALL {
                cases.push((format.ggml_type(), codec::quantize_to_vec(format.ggml_type(), &values).unwrap()));
            }
        }
        for (ty, bytes) in cases {
            for matrix in matrices(&device, &bytes, ty, [rows, cols]) {
                for tokens in [1, 7, 40] {
                    check(&device, &matrix, &bytes, ty, tokens, &mut rng);
                }
            }
        }
    }
}

#[test]
fn matrices_split_by_rows_give_the_same_product() {
    let device = device();
    let mut rng = Rng(99);
    for format in [BlockFormat::Q4_0, BlockFormat::Q6_K] {
        let ty = format.ggml_type();
        let (rows, cols) = (45, 2 * format.block_values());
        let bytes = quantized_random(ty, rows * cols, &mut rng);
        // Room for about ten rows per buffer: five chunks, the last one short.
        let limit = (format.device_words(10 * 2) * 4) as u64;
        for compute in computes(&device, Some(limit)) {
            let matrix = BlockMatrix::new(&bytes, ty, rows, cols, &device, compute).unwrap();
            assert!(matrix.chunks() >= 4, "{} chunks", matrix.chunks());
            for tokens in [1, 9, 33] {
                check(&device, &matrix, &bytes, ty, tokens, &mut rng);
            }
        }
    }
}

/// A long prompt expands at most 4M weights at a time: a matrix of more rows than that is
/// multiplied in row pieces, and the pieces hold the codec's values exactly (the identity as
/// the prompt reads them out: `I · Wᵀ = Wᵀ`).
#[test]
fn long_prompts_through_large_matrices_expand_rows_in_pieces() {
    let device = device();
    let mut rng = Rng(2024);
    let ty = GgmlType::Q4_K;
    let (rows, cols) = (16_500, 256);
    let bytes = quantized_random(ty, rows * cols, &mut rng);
    let matrix = BlockMatrix::new(&bytes, ty, rows, cols, &device, Compute::of(&device)).unwrap();
    check(&device, &matrix, &bytes, ty, 33, &mut rng);
    let identity: Vec<f32> = (0..cols * cols).map(|i| f32::from(i / cols == i % cols)).collect();
    let transposed = matrix.matmul(Tensor::from_data(TensorData::new(identity, [cols, cols]), &device));
    let expanded: Vec<f32> = transposed.into_data().try_to_vec().unwrap();
    let want = codec::dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
    let worst = (0..rows * cols)
        .map(|i| (expanded[(i % cols) * rows + i / cols] - want[i]).abs() / want[i].abs().max(1e-6))
        .fold(0f32, f32::max);
    assert!(worst <= 1e-6, "expanded blocks differ from the codec's values by {worst:e} (relative)");
}

#[test]
fn malformed_matrices_are_refused() {
    let device = device();
    let compute = Compute::of(&device);
    let bytes = vec![0u8; 18 * 4];
    let short = BlockMatrix::new(&bytes[..70], GgmlType::Q4_0, 2, 64, &device, compute).unwrap_err();
    assert!(short.contains("70 bytes"), "{short}");
    let partial = BlockMatrix::new(&bytes, GgmlType::Q4_0, 4, 40, &device, compute).unwrap_err();
    assert!(partial.contains("whole Q4_0 blocks"), "{partial}");
    let unknown = BlockMatrix::new(&bytes, GgmlType::Q2_K, 1, 256, &device, compute).unwrap_err();
    assert!(unknown.contains("Q2_K"), "{unknown}");
    let reference = BlockMatrix::new(&bytes, GgmlType::Q4_0, 4, 32, &Device::flex(), Compute::Tensors).unwrap_err();
    assert!(reference.contains("CubeCL"), "{reference}");
    let tiny = computes(&device, Some(16)).next().unwrap();
    let tiny = BlockMatrix::new(&bytes, GgmlType::Q4_0, 2, 64, &device, tiny).unwrap_err();
    assert!(tiny.contains("largest buffer"), "{tiny}");
}
