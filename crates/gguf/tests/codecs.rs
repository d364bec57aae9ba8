//! ggml block codecs against ggml's own C reference (llama.cpp's libggml-base, through
//! tools/reference/codec_goldens.py): quantized bytes and dequantized values must be bit-identical.
//! Inputs are regenerated here with the generator the script documents.

use selene_gguf::GgmlType;
use selene_gguf::codec::{dequantize_to_vec, quantize_to_vec};
use serde_json::Value;
use sha2::{Digest, Sha256};

struct Rng(u64);

impl Rng {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }

    fn uniform(&mut self) -> f32 {
        ((self.next_u32() >> 8) as i32 - 8388608) as f32 / 8388608.0
    }
}

fn quant_input(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            let x = match r % 8 {
                k @ 0..=3 => rng.uniform() * 2f32.powi(-2 * k as i32),
                4 => {
                    let u = rng.uniform();
                    (u * u) * u
                }
                5 => f32::from_bits((rng.uniform() * 8.0).to_bits() & 0xFFFF_0000),
                6 => 0.0,
                _ => {
                    let x = rng.uniform() * 2f32.powi(-10);
                    if c == 0 { 3.0 } else { x }
                }
            };
            out.push(x);
        }
    }
    out
}

/// Random blocks whose f16 scale fields are made finite, as the golden script does.
fn dequant_input(ty: GgmlType, n_blocks: usize, seed: u64, scale_offsets: &[usize]) -> Vec<u8> {
    let mut rng = Rng(seed);
    if ty == GgmlType::F32 {
        return (0..2048).flat_map(|_| rng.uniform().to_le_bytes()).collect();
    }
    let len = n_blocks * ty.block_bytes();
    let mut bytes: Vec<u8> = (0..len.div_ceil(4)).flat_map(|_| rng.next_u32().to_le_bytes()).collect();
    bytes.truncate(len);
    let sanitize = |b: &mut [u8], at: usize, keep: u16, set: u16| {
        let h = (u16::from_le_bytes([b[at], b[at + 1]]) & keep) | set;
        b[at..at + 2].copy_from_slice(&h.to_le_bytes());
    };
    match ty {
        GgmlType::F16 => (0..len).step_by(2).for_each(|at| sanitize(&mut bytes, at, 0x83FF, 0x3000)),
        GgmlType::BF16 => (0..len).step_by(2).for_each(|at| sanitize(&mut bytes, at, 0x807F, 0x3F00)),
        _ => {
            for block in bytes.chunks_exact_mut(ty.block_bytes()) {
                for &at in scale_offsets {
                    sanitize(block, at, 0x83FF, 0x3000);
                }
            }
        }
    }
    bytes
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn golden() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/codecs.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ggml_type(case: &Value) -> GgmlType {
    GgmlType::from_id(case["ggml_type"].as_u64().unwrap() as u32).unwrap()
}

#[test]
fn generator_matches_the_scripts() {
    let check = &golden()["rng_check"];
    let mut rng = Rng(check["seed"].as_u64().unwrap());
    let words: Vec<u64> = (0..4).map(|_| rng.next_u32() as u64).collect();
    let expected: Vec<u64> = check["next_u32"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(words, expected);
}

#[test]
fn quantization_is_bit_identical_to_ggml() {
    let mut checked = Vec::new();
    for case in golden()["quantize"].as_array().unwrap() {
        let ty = ggml_type(case);
        let (rows, cols) = (case["rows"].as_u64().unwrap() as usize, case["cols"].as_u64().unwrap() as usize);
        let input = quant_input(rows, cols, case["seed"].as_u64().unwrap());
        assert_eq!(sha256(&f32_bytes(&input)), case["input_sha256"].as_str().unwrap(), "{ty} input");
        if !selene_gguf::codec::can_quantize(ty) {
            continue;
        }
        let out = quantize_to_vec(ty, &input).unwrap();
        assert_eq!(sha256(&out), case["output_sha256"].as_str().unwrap(), "{ty} quantized bytes");
        let back = dequantize_to_vec(ty, &out, input.len()).unwrap();
        assert_eq!(sha256(&f32_bytes(&back)), case["dequantized_sha256"].as_str().unwrap(), "{ty} round trip");
        checked.push(ty);
    }
    use GgmlType::*;
    assert_eq!(checked, [F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K]);
}

#[test]
fn dequantization_is_bit_identical_to_ggml() {
    let mut checked = Vec::new();
    for case in golden()["dequantize"].as_array().unwrap() {
        let ty = ggml_type(case);
        let offsets: Vec<usize> =
            case["f16_scale_offsets"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let input =
            dequant_input(ty, case["n_blocks"].as_u64().unwrap() as usize, case["seed"].as_u64().unwrap(), &offsets);
        assert_eq!(sha256(&input), case["input_sha256"].as_str().unwrap(), "{ty} input");
        let values = case["output_len"].as_u64().unwrap() as usize / 4;
        let out = dequantize_to_vec(ty, &input, values).unwrap();
        assert_eq!(sha256(&f32_bytes(&out)), case["output_sha256"].as_str().unwrap(), "{ty} values");
        checked.push(ty);
    }
    assert_eq!(checked.len(), 13);
}

#[test]
fn parallel_and_serial_coding_agree() {
    let input = quant_input(64, 4096, 7);
    for ty in [GgmlType::Q4_K, GgmlType::Q8_0] {
        let whole = quantize_to_vec(ty, &input).unwrap();
        let by_row: Vec<u8> = input.chunks(4096).flat_map(|row| quantize_to_vec(ty, row).unwrap()).collect();
        assert_eq!(whole, by_row, "{ty}");
    }
}

#[test]
fn bad_lengths_are_errors() {
    use selene_gguf::codec::{CodecError, dequantize, quantize};
    assert!(matches!(quantize(GgmlType::Q4_0, &[0.0; 33], &mut [0; 18]), Err(CodecError::PartialBlock { .. })));
    assert!(matches!(dequantize(GgmlType::Q4_0, &[0; 17], &mut [0.0; 32]), Err(CodecError::Length { .. })));
    assert!(matches!(quantize(GgmlType::Q2_K, &[0.0; 256], &mut [0; 84]), Err(CodecError::Unsupported(..))));
}
