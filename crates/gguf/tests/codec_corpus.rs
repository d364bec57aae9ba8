//! Quantization against ggml's own output on a corpus of about 11,000 super-blocks per type:
//! random values of several distributions and scales, real weights of the demo model, and the
//! cases a search over candidate scales gets wrong first (all-zero, constant, tiny, subnormal and
//! huge blocks, single outliers). The golden (tools/reference/codec_corpus.py, from
//! libggml-base.so) holds ggml's output only as hashes; the inputs are regenerated here with the
//! generator the script documents, so a changed generator is reported apart from a changed
//! quantizer.

use std::collections::HashMap;

use selene_gguf::codec::{dequantize_to_vec, quantize_to_vec};
use selene_gguf::{GgmlType, GgufModel};
use serde_json::Value;
use sha2::{Digest, Sha256};

const QK_K: usize = 256;
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/codec_corpus");

/// splitmix64's output function, applied to a counter: value `i` of a stream needs no others.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn draw(seed: u64, stream: u64, n: usize) -> Vec<u64> {
    let base = (seed << 8) | stream;
    (1..=n as u64).map(|i| mix(base.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))).collect()
}

fn signed(z: u64) -> f32 {
    ((z >> 40) as i64 - (1 << 23)) as f32 / (1 << 23) as f32
}

fn unit(z: u64) -> f32 {
    (z >> 40) as f32 / (1 << 24) as f32
}

fn pow2(k: i32) -> f32 {
    f32::from_bits(((127 + k) as u32) << 23)
}

/// Random sign, exponent in `emin..=emax` and mantissa.
fn log_uniform(h: u64, emin: i64, emax: i64) -> f32 {
    let exp = (127 + emin) as u64 + (h >> 32) % (emax - emin + 1) as u64;
    f32::from_bits(((h >> 63) << 31 | exp << 23 | (h & 0x7F_FFFF)) as u32)
}

/// The demo model's tensors, dequantized by selene (the golden records what ggml's decoding gave).
struct RealWeights {
    model: GgufModel,
    cache: HashMap<String, Vec<f32>>,
}

impl RealWeights {
    /// Every tensor whose name ends with `ending`, in file order, concatenated.
    fn values(&mut self, ending: &str) -> &[f32] {
        let model = &self.model;
        self.cache.entry(ending.to_string()).or_insert_with(|| {
            let mut out = Vec::new();
            for t in model.layout().tensors().iter().filter(|t| t.info.name.ends_with(ending)) {
                let bytes = model.tensor_bytes(t).unwrap();
                let n = t.info.dims.iter().product::<u64>() as usize;
                out.extend(dequantize_to_vec(t.info.ggml_type, &bytes, n).unwrap());
            }
            assert!(!out.is_empty(), "no tensor ending with {ending}");
            out
        })
    }
}

fn param(p: &Value, key: &str) -> i64 {
    p[key].as_i64().unwrap_or_else(|| panic!("parameter {key} in {p}"))
}

fn param_f32(p: &Value, key: &str) -> f32 {
    f32::from_bits(param(p, &format!("{key}_bits")) as u32)
}

/// The values of one class, as tools/reference/codec_corpus.py's docstring defines them.
fn class_values(class: &Value, real: &mut RealWeights) -> Vec<f32> {
    let (kind, p) = (class["kind"].as_str().unwrap(), &class["params"]);
    let seed = class["seed"].as_u64().unwrap();
    let blocks = class["super_blocks"].as_u64().unwrap() as usize;
    let n = blocks * QK_K;
    let w = draw(seed, 0, n);
    let grouped = |group: usize| -> Vec<u64> {
        let h = draw(seed, 1, n / group);
        (0..n).map(|i| h[i / group]).collect()
    };
    match kind {
        "uniform" => w.iter().map(|&z| signed(z) * param_f32(p, "scale")).collect(),
        "offset_uniform" => {
            let (offset, scale) = (param_f32(p, "offset"), param_f32(p, "scale"));
            w.iter().map(|&z| offset + signed(z) * scale).collect()
        }
        "log_uniform" => {
            let (emin, emax) = (param(p, "emin"), param(p, "emax"));
            grouped(param(p, "group") as usize).iter().map(|&h| log_uniform(h, emin, emax)).collect()
        }
        "gaussian" => {
            let (scale, factor) = (param_f32(p, "scale"), param_f32(p, "factor"));
            draw(seed, 0, 5 * n)
                .chunks_exact(5)
                .map(|d| {
                    let x = (((signed(d[0]) + signed(d[1])) + signed(d[2])) + signed(d[3])) * scale;
                    if d[4] >> 55 == 0 { x * factor } else { x }
                })
                .collect()
        }
        "sparse" => {
            let v = draw(seed, 1, n);
            w.iter().zip(v).map(|(&z, v)| if z >> 60 != 0 { 0.0 } else { signed(v) * param_f32(p, "scale") }).collect()
        }
        "subblock_scales" => {
            let h = grouped(param(p, "group") as usize);
            w.iter().zip(h).map(|(&z, h)| signed(z) * pow2(-((h >> 60) as i32))).collect()
        }
        "zero_groups" => {
            let h = grouped(param(p, "group") as usize);
            w.iter().zip(h).map(|(&z, h)| if h >> 63 == 1 { 0.0 } else { signed(z) * param_f32(p, "scale") }).collect()
        }
        "mirrored" => {
            let group = param(p, "group") as usize;
            let scale = param_f32(p, "scale");
            (0..n)
                .map(|i| if i / group % 2 == 0 { signed(w[i]) * scale } else { -(signed(w[i - group]) * scale) })
                .collect()
        }
        "grid" => w.iter().map(|&z| ((z >> 60) as i32 - 8) as f32 * 0.125).collect(),
        "two_level" => {
            let h = draw(seed, 1, 2 * blocks);
            let level = |i: usize, z: u64| signed(h[2 * (i / QK_K) + if z >> 63 == 1 { 0 } else { 1 }]);
            w.iter().enumerate().map(|(i, &z)| level(i, z)).collect()
        }
        "outlier" => {
            let mut x: Vec<f32> = w.iter().map(|&z| signed(z) * param_f32(p, "scale")).collect();
            for (s, h) in draw(seed, 1, blocks).into_iter().enumerate() {
                let out = (1.0 + unit(h)) * param_f32(p, "outlier");
                x[s * QK_K + (h & 255) as usize] = if h >> 63 == 1 { -out } else { out };
            }
            x
        }
        "subnormal" => w.iter().map(|&z| f32::from_bits(((z >> 63) << 31 | (z & 0x7F_FFFF)) as u32)).collect(),
        "constants" => {
            let values: Vec<f32> = p["values_bits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| f32::from_bits(v.as_u64().unwrap() as u32))
                .collect();
            (0..n).map(|i| values[i / QK_K % values.len()]).collect()
        }
        "tensor" => {
            let offset = param(p, "offset") as usize;
            real.values(p["tensors_ending"].as_str().unwrap())[offset..offset + n].to_vec()
        }
        _ => panic!("class {}: unknown kind {kind}", class["name"]),
    }
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a K-type's output differs from ggml's: the first block whose 2-byte fingerprint differs
/// (a differing block has a 1 in 65536 chance of an equal fingerprint, then a later one is named).
fn first_differing_block(ours: &[u8], block_bytes: usize, fingerprints: &[u8]) -> Option<usize> {
    ours.chunks_exact(block_bytes).zip(fingerprints.chunks_exact(2)).position(|(b, f)| Sha256::digest(b)[..2] != *f)
}

#[test]
fn quantization_matches_ggml_on_the_corpus() {
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(format!("{GOLDEN}.json")).unwrap()).unwrap();
    let fingerprints = std::fs::read(format!("{GOLDEN}.fingerprints")).unwrap();
    let total = golden["super_blocks"].as_u64().unwrap() as usize;
    assert!(total >= 10_000, "the corpus has {total} super-blocks");
    let k_types: Vec<&str> =
        golden["fingerprint_types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(fingerprints.len(), k_types.len() * total * 2, "fingerprints file size");

    let mut real = RealWeights { model: GgufModel::open(selene_fixtures::smollm2()).unwrap(), cache: HashMap::new() };
    let mut failures = Vec::new();
    let (mut first_block, mut checked) = (0, 0);
    for class in golden["classes"].as_array().unwrap() {
        let name = class["name"].as_str().unwrap();
        let x = class_values(class, &mut real);
        let blocks = x.len() / QK_K;
        if sha256(&f32_bytes(&x)) != class["input_sha256"].as_str().unwrap() {
            failures.push(format!("{name}: the input differs from the script's (generator or fixture changed)"));
            first_block += blocks;
            continue;
        }
        for (ty_name, expected) in class["outputs"].as_object().unwrap() {
            let ty = GgmlType::from_name(ty_name).unwrap();
            let out = quantize_to_vec(ty, &x).unwrap();
            checked += blocks;
            if sha256(&out) != expected["sha256"].as_str().unwrap() {
                let Some(k) = k_types.iter().position(|t| t == ty_name) else {
                    failures.push(format!("{ty_name} {name}: quantized bytes differ from ggml's"));
                    continue;
                };
                let at = (k * total + first_block) * 2;
                let block = first_differing_block(&out, ty.block_bytes(), &fingerprints[at..at + blocks * 2]);
                let detail = match block {
                    Some(b) => {
                        let ours = &out[b * ty.block_bytes()..(b + 1) * ty.block_bytes()];
                        let theirs =
                            if b == 0 { expected["first_block_hex"].as_str().unwrap() } else { "(not stored)" };
                        format!(
                            "first differing block {b} (input starts {:?});\n  selene {}\n  ggml   {theirs}\n  \
                             ggml's bytes: python tools/reference/codec_corpus.py --show {ty_name} {name} {b}",
                            &x[b * QK_K..b * QK_K + 4],
                            hex(ours)
                        )
                    }
                    None => "no block's fingerprint differs".to_string(),
                };
                failures.push(format!("{ty_name} {name}: quantized bytes differ from ggml's; {detail}"));
                continue;
            }
            let back = dequantize_to_vec(ty, &out, x.len()).unwrap();
            if sha256(&f32_bytes(&back)) != expected["dequantized_sha256"].as_str().unwrap() {
                failures.push(format!("{ty_name} {name}: decoding ggml's blocks differs from ggml's"));
            }
        }
        first_block += blocks;
    }
    assert_eq!(first_block, total, "the classes add up to the corpus");
    assert!(failures.is_empty(), "{} of the corpus' checks failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, 10 * total, "every type checked on every class");
}
