//! Products of every weight type on every instruction set this CPU runs, against ggml's math in
//! f64 and against each other.

mod common;

use common::{
    ALL_TYPES, Rng, exact_activations, exact_blocks, extreme_blocks, random_blocks, reference, rounding_steps,
};
use selene_cpu::{Error, QuantMatrix, SimdLevel};
use selene_gguf::{GgmlType, codec};

fn product(ty: GgmlType, level: SimdLevel, w: &[u8], rows: usize, cols: usize, x: &[f32], tokens: usize) -> Vec<f32> {
    let m = QuantMatrix::new(w.to_vec(), ty, rows, cols).unwrap().with_simd(level).unwrap();
    let mut out = vec![f32::NAN; tokens * rows];
    m.matmul(x, tokens, &mut out);
    out
}

/// Asserts `got` is within `steps` f32 roundings of every term's size of the f64 reference.
fn assert_close(what: &str, got: &[f32], (reference, magnitude): &(Vec<f64>, Vec<f64>), steps: f64) {
    for (i, ((&g, &r), &m)) in got.iter().zip(reference).zip(magnitude).enumerate() {
        let bound = steps * f32::EPSILON as f64 * m + f32::MIN_POSITIVE as f64;
        assert!(
            (g as f64 - r).abs() <= bound,
            "{what}: output {i}: {g} vs reference {r} (bound {bound:e}, size {m:e})"
        );
    }
}

/// Weights of two kinds per type: random valid blocks and, where the codec encodes the type,
/// real blocks quantized from Gaussian data with outliers.
fn weight_sets(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<(&'static str, Vec<u8>)> {
    let mut sets = vec![("random blocks", random_blocks(ty, n, rng))];
    if codec::can_quantize(ty) && ty.block_size() > 1 {
        sets.push(("real blocks", codec::quantize_to_vec(ty, &rng.activations(n)).unwrap()));
    }
    sets
}

#[test]
fn every_level_matches_ggml_math_in_f64() {
    let mut rng = Rng::new(1);
    // 13 rows and 9 tokens leave partial tiles at both edges; 3 tokens is below every tile;
    // multiples of 8 rows take the interleaved layouts where a level has them.
    for &(rows, cols, tokens) in &[(13, 512, 9), (8, 2048, 1), (5, 256, 3), (16, 512, 11)] {
        let x = rng.activations(tokens * cols);
        for ty in ALL_TYPES {
            for (kind, w) in weight_sets(ty, rows * cols, &mut rng) {
                let expected = reference(ty, &w, rows, cols, &x, tokens);
                for level in SimdLevel::available() {
                    let got = product(ty, level, &w, rows, cols, &x, tokens);
                    let what = format!("{ty} {kind} {level} [{rows}x{cols}] x {tokens}");
                    assert_close(&what, &got, &expected, rounding_steps(ty, cols));
                }
            }
        }
    }
}

#[test]
fn largest_quants_do_not_overflow() {
    let (rows, cols, tokens) = (16, 512, 3);
    // Every activation at the top of its block's range, with both signs.
    let x: Vec<f32> = (0..tokens * cols).map(|i| if i / cols == 1 { -1.0 } else { 1.0 }).collect();
    for ty in ALL_TYPES.into_iter().filter(|t| t.block_size() > 1) {
        let w = extreme_blocks(ty, rows * cols);
        let expected = reference(ty, &w, rows, cols, &x, tokens);
        for level in SimdLevel::available() {
            let got = product(ty, level, &w, rows, cols, &x, tokens);
            assert_close(&format!("{ty} {level} extreme"), &got, &expected, rounding_steps(ty, cols));
        }
    }
}

#[test]
fn float_rows_of_any_length() {
    let mut rng = Rng::new(7);
    let (rows, tokens) = (9, 5);
    for cols in [1, 7, 100, 263] {
        let x = rng.activations(tokens * cols);
        for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16] {
            let w = random_blocks(ty, rows * cols, &mut rng);
            let expected = reference(ty, &w, rows, cols, &x, tokens);
            for level in SimdLevel::available() {
                let got = product(ty, level, &w, rows, cols, &x, tokens);
                assert_close(&format!("{ty} {level} [{rows}x{cols}]"), &got, &expected, rounding_steps(ty, cols));
            }
        }
    }
}

#[test]
fn exact_inputs_give_identical_bits_on_every_level() {
    let mut rng = Rng::new(2);
    let (cols, tokens) = (512, 9);
    let x = exact_activations(tokens * cols, &mut rng);
    for (ty, rows) in ALL_TYPES.into_iter().flat_map(|ty| [(ty, 13), (ty, 16)]) {
        let w = exact_blocks(ty, rows * cols, &mut rng);
        let (expected, _) = reference(ty, &w, rows, cols, &x, tokens);
        assert!(expected.iter().all(|v| v.abs() < (1 << 24) as f64 && v.fract() == 0.0), "{ty}: inputs not exact");
        for level in SimdLevel::available() {
            let got = product(ty, level, &w, rows, cols, &x, tokens);
            for (i, (&g, &e)) in got.iter().zip(&expected).enumerate() {
                assert_eq!(g as f64, e, "{ty} {level}: output {i}");
            }
        }
    }
}

#[test]
fn vector_levels_stay_within_reassociation_of_scalar() {
    let mut rng = Rng::new(3);
    let (cols, tokens) = (1024, 6);
    let x = rng.activations(tokens * cols);
    for (ty, rows) in ALL_TYPES.into_iter().flat_map(|ty| [(ty, 11), (ty, 24)]) {
        for (kind, w) in weight_sets(ty, rows * cols, &mut rng) {
            let (_, magnitude) = reference(ty, &w, rows, cols, &x, tokens);
            let scalar = product(ty, SimdLevel::Scalar, &w, rows, cols, &x, tokens);
            let as_reference = (scalar.iter().map(|&v| v as f64).collect(), magnitude);
            for level in SimdLevel::available() {
                let got = product(ty, level, &w, rows, cols, &x, tokens);
                // Both sides round: twice the steps of one.
                assert_close(
                    &format!("{ty} {kind} {level} vs scalar"),
                    &got,
                    &as_reference,
                    2.0 * rounding_steps(ty, cols),
                );
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_threads_or_batch() {
    let mut rng = Rng::new(4);
    // Large enough that every type's product is split over threads (above the schedule's
    // sequential threshold).
    let (cols, tokens) = (2048, 7);
    let x = rng.activations(tokens * cols);
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    for (ty, rows) in ALL_TYPES.into_iter().flat_map(|ty| [(ty, 300), (ty, 296)]) {
        let w = random_blocks(ty, rows * cols, &mut rng);
        for level in SimdLevel::available() {
            let one = pool(1).install(|| product(ty, level, &w, rows, cols, &x, tokens));
            let two = pool(2).install(|| product(ty, level, &w, rows, cols, &x, tokens));
            assert_eq!(one, two, "{ty} {level}: 1 vs 2 threads");
            for t in 0..tokens {
                let alone = product(ty, level, &w, rows, cols, &x[t * cols..(t + 1) * cols], 1);
                assert_eq!(alone, &two[t * rows..(t + 1) * rows], "{ty} {level}: token {t} alone vs in a batch");
            }
        }
    }
}

#[test]
fn shared_input_gives_the_same_product() {
    let mut rng = Rng::new(5);
    let (cols, tokens) = (512, 3);
    let x = rng.activations(tokens * cols);
    let q = QuantMatrix::new(random_blocks(GgmlType::Q4_K, 64 * cols, &mut rng), GgmlType::Q4_K, 64, cols).unwrap();
    let v = QuantMatrix::new(random_blocks(GgmlType::Q6_K, 16 * cols, &mut rng), GgmlType::Q6_K, 16, cols).unwrap();
    let input = q.quantize_input(&x, tokens);
    for m in [&q, &v] {
        let (mut a, mut b) = (vec![0.0; tokens * m.rows()], vec![0.0; tokens * m.rows()]);
        m.matmul(&x, tokens, &mut a);
        m.matmul_input(&input, &mut b);
        assert_eq!(a, b);
    }
}

#[test]
fn empty_products() {
    for ty in ALL_TYPES {
        let block = ty.block_size();
        for (rows, cols, tokens) in [(0, block, 2), (3, block, 0), (8, 0, 2)] {
            let m = QuantMatrix::new(vec![0u8; rows * cols / block * ty.block_bytes()], ty, rows, cols).unwrap();
            let mut out = vec![f32::NAN; rows * tokens];
            m.matmul(&vec![1.0; tokens * cols], tokens, &mut out);
            assert!(out.iter().all(|&v| v == 0.0), "{ty} [{rows}x{cols}] x {tokens}");
        }
    }
}

#[test]
fn wrong_shapes_and_types_are_errors() {
    let err = QuantMatrix::new(vec![0u8; 18 * 4], GgmlType::Q4_0, 2, 64).unwrap();
    assert_eq!((err.rows(), err.cols()), (2, 64));
    assert_eq!(
        QuantMatrix::new(vec![0u8; 18 * 3], GgmlType::Q4_0, 2, 64).unwrap_err(),
        Error::Length { ty: GgmlType::Q4_0, rows: 2, cols: 64, expected: 72, actual: 54 }
    );
    assert_eq!(
        QuantMatrix::new(vec![0u8; 144], GgmlType::Q4_K, 1, 128).unwrap_err(),
        Error::PartialBlock { ty: GgmlType::Q4_K, cols: 128, block: 256 }
    );
    assert_eq!(
        QuantMatrix::new(vec![0u8; 136], GgmlType::IQ4_XS, 1, 256).unwrap_err(),
        Error::UnsupportedType(GgmlType::IQ4_XS)
    );
    for level in SimdLevel::ALL {
        let m = QuantMatrix::new(vec![0u8; 72], GgmlType::Q4_0, 2, 64).unwrap();
        assert_eq!(m.with_simd(level).is_ok(), level.is_available());
    }
}

#[test]
fn dequantized_rows_are_the_codec_values() {
    let mut rng = Rng::new(6);
    let (rows, cols) = (16, 512);
    for ty in ALL_TYPES {
        let w = random_blocks(ty, rows * cols, &mut rng);
        let row_bytes = w.len() / rows;
        for level in SimdLevel::available() {
            let m = QuantMatrix::new(w.clone(), ty, rows, cols).unwrap().with_simd(level).unwrap();
            let mut row = vec![0f32; cols];
            for r in [0, 5, 15] {
                m.dequantize_row(r, &mut row);
                let want = codec::dequantize_to_vec(ty, &w[r * row_bytes..(r + 1) * row_bytes], cols).unwrap();
                assert_eq!(
                    row.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{ty} {level} row {r}"
                );
            }
        }
    }
}
