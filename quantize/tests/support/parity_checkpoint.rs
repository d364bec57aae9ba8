//! The runtime's parity checkpoint: a Hugging Face Llama checkpoint shaped like Llama 3.1 (its
//! real tokenizer and 128256-token vocabulary, grouped-query attention 4:1 over two key/value
//! heads, head size 64 as in Llama 3.2, llama3 RoPE scaling, 4 layers of width 512, untied output)
//! with random weights laid out so that comparing two implementations' next-token distributions on
//! it means something. Made from nothing but the tokenizer fixture, deterministically, so that the
//! runtime's test (crates/model/tests/llama31_parity.rs) and the reference script
//! (tools/reference/llama31_goldens.py, through `cargo run --example make-parity-checkpoint`)
//! convert the very same bytes.
//!
//! With plain random weights a 128256-token vocabulary gives near-uniform logits whose top token
//! is the largest of many Gaussians: the top two are usually a small fraction of the spread apart,
//! and the ~1% by which llama.cpp's arithmetic differs from any other (it rounds matrix inputs to
//! 8 bits) decides the top token at a few percent of positions. Agreement would be noise.
//! So the weights carry a mechanism whose answer has a wide margin, computed by exactly the parts
//! of the architecture a parity test must check:
//!
//! * Every token embedding is random (uniform, amplitude `A_N`) plus one common component on
//!   coordinates `C` (amplitude `A_C`): after RMSNorm that component is nearly the same for every
//!   token, so the layer-0 heads below can form queries and keys that do not depend on content.
//! * Layer 0, query heads 0 and 4 (one in each key/value group) are previous-token heads: their
//!   query and their group's key are built from the common component on the fastest rotary pairs
//!   so that, after RoPE, the score peaks at a distance of exactly one position (`PREV_GAP` nats
//!   above its neighbours). Each group's key uses a different phase, which only that group's query
//!   matches: a wrong query-to-key-head mapping attends to the token itself instead.
//! * Each key/value group's values copy 64 "identity" coordinates of the token (group 0 the
//!   first 64 of `S`, group 1 the next); the output projection writes them back, `PREV_GAIN` times
//!   the token's own, so the residual stream says "the previous token" more loudly than "this one".
//! * The output head reads the identity coordinates: row `v` is token `v`'s own identity
//!   coordinates (times `ALPHA`, plus noise). So the next token predicted is the previous input
//!   token, by a margin of several nats, and the head's scale `ALPHA` makes the top token carry
//!   about 60% of the probability (peaked, with the rest spread over a structured tail).
//! * Query head 1 is a primacy head on the slowest rotary pairs, the ones llama3 scaling divides
//!   by 8 (`rope_freqs`): its score rises gently with distance (`PRIMACY` nats over
//!   `PRIMACY_SPAN` positions) and it copies the attended tokens' identities with gain
//!   `PRIMACY_GAIN`. Without the scaling the slope is 8 times steeper, the head locks onto the
//!   first token, and the distributions move by an order of magnitude more than rounding does.
//! * Everything else (the other heads, the MLPs, layers 1-3) is random at moderate scale, with
//!   more weight on the slow rotary pairs as trained Llama 3 models have; it shapes the tail of
//!   every distribution. Designed rows keep a small random part (`NOISE`).
//!
//! Each tensor is a pure function of its name (its own random stream), so tensors can be made in
//! any order. The constants were chosen on a numerical model of this design with llama.cpp's
//! 8-bit rounding of matrix inputs simulated: top-1 margins above 3.7 nats at 99% of positions,
//! KL from the rounding about 0.001, KL without `rope_freqs` about 0.09.

use std::path::Path;

use selene_gguf::codec;
use selene_safetensors::{self as safetensors, Dtype, TensorToWrite};
use serde_json::json;

/// The folder name (it becomes the GGUF's `general.name`).
pub const NAME: &str = "Llama-3.1-Selene-Parity";

const VOCAB: usize = 128256;
const HIDDEN: usize = 512;
const HEADS: usize = 8;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 64;
const FF: usize = 1536;
const LAYERS: usize = 4;
const ROPE_THETA: f64 = 500000.0;

const HALF: usize = HEAD_DIM / 2;
const A_N: f32 = 0.05;
const A_C: f32 = 0.1;
/// Identity coordinates: group 0's values copy the first `HEAD_DIM` of them, group 1's the rest.
const S: std::ops::Range<usize> = 0..2 * HEAD_DIM;
/// Coordinates of the common component (in other 32- and 256-wide blocks than `S`, so that its
/// size does not coarsen the 8-bit rounding of the identity coordinates).
const C: std::ops::Range<usize> = 256..320;
const NOISE: f32 = 0.02;
const PREV_PAIRS: usize = 8;
const PREV_GAP: f64 = 6.0;
const PREV_GAIN: f32 = 5.0;
/// The first rotary pair llama3 scaling divides by the full factor, and how many the primacy head uses.
const PRIMACY_FIRST_PAIR: usize = 18;
const PRIMACY_PAIRS: usize = 6;
const PRIMACY: f64 = 4.0;
const PRIMACY_SPAN: f64 = 700.0;
const PRIMACY_GAIN: f32 = 12.0;
const LLAMA3_FACTOR: f64 = 8.0;
/// Random attention: score spread and the extra weight on the pairs llama3 scaling changes.
const RANDOM_SCORE: f32 = 1.0;
const SLOW_PAIR_BOOST: f32 = 2.0;
const SLOW_FIRST_PAIR: usize = 15;
const RANDOM_OUT: f32 = 1.0;
const RANDOM_MLP: f32 = 1.0;
const ALPHA: f32 = 0.184;
const RMS_EPS: f32 = 1e-5;

/// Writes the checkpoint into `dir` (created if needed): tokenizer files, config.json and one
/// safetensors file of bf16 weights.
pub fn make(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let fixtures = selene_fixtures::dir().join("llama3.1");
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    let rope_scaling = json!({"rope_type": "llama3", "factor": LLAMA3_FACTOR, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
    let config = json!({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB,
        "hidden_size": HIDDEN, "intermediate_size": FF, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "rms_norm_eps": 1e-5, "rope_theta": ROPE_THETA,
        "rope_scaling": rope_scaling, "max_position_embeddings": 131072, "tie_word_embeddings": false,
        "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "torch_dtype": "bfloat16"});
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config).unwrap() + "\n").unwrap();
    let mut shapes = vec![("model.embed_tokens.weight".to_string(), vec![VOCAB, HIDDEN])];
    for l in 0..LAYERS {
        let (q, kv) = (HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM);
        for (what, shape) in [
            ("input_layernorm", vec![HIDDEN]),
            ("self_attn.q_proj", vec![q, HIDDEN]),
            ("self_attn.k_proj", vec![kv, HIDDEN]),
            ("self_attn.v_proj", vec![kv, HIDDEN]),
            ("self_attn.o_proj", vec![HIDDEN, q]),
            ("post_attention_layernorm", vec![HIDDEN]),
            ("mlp.gate_proj", vec![FF, HIDDEN]),
            ("mlp.up_proj", vec![FF, HIDDEN]),
            ("mlp.down_proj", vec![HIDDEN, FF]),
        ] {
            shapes.push((format!("model.layers.{l}.{what}.weight"), shape));
        }
    }
    shapes.push(("model.norm.weight".into(), vec![HIDDEN]));
    shapes.push(("lm_head.weight".into(), vec![VOCAB, HIDDEN]));
    let shapes: Vec<(String, Vec<u64>)> =
        shapes.into_iter().map(|(n, s)| (n, s.into_iter().map(|d| d as u64).collect())).collect();
    let bytes: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(name, _)| tensor(name).into_iter().flat_map(|x| codec::f32_to_bf16_bits(x).to_le_bytes()).collect())
        .collect();
    let tensors: Vec<TensorToWrite> = shapes
        .iter()
        .zip(&bytes)
        .map(|((name, shape), bytes)| TensorToWrite { name, dtype: Dtype::BF16, shape, bytes })
        .collect();
    safetensors::write(&dir.join("model.safetensors"), &tensors).unwrap();
}

/// The values of tensor `name` (a Hugging Face Llama name), `[out, in]` row-major.
fn tensor(name: &str) -> Vec<f32> {
    let layer = name.strip_prefix("model.layers.").map(|rest| {
        let (l, what) = rest.split_once('.').unwrap();
        (l.parse::<usize>().unwrap(), what)
    });
    match (name, layer) {
        ("model.embed_tokens.weight", _) => embedding(VOCAB),
        ("lm_head.weight", _) => output_head(),
        (n, _) if n.ends_with("norm.weight") => norm(n),
        (_, Some((0, what))) => layer0(name, what),
        (_, Some((_, what))) => random_matrix(name, what),
        _ => panic!("no tensor {name} in the parity checkpoint"),
    }
}

/// `n` values uniform in `[-scale, scale)` from the tensor's own stream: SplitMix64 seeded with
/// the FNV-1a hash of its name, 24 random bits per value (exact in f32).
fn uniform(name: &str, n: usize, scale: f32) -> Vec<f32> {
    let mut state =
        name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            scale * (((z >> 40) as i32 - (1 << 23)) as f32 / (1 << 23) as f32)
        })
        .collect()
}

fn norm(name: &str) -> Vec<f32> {
    uniform(name, HIDDEN, 0.25).into_iter().map(|x| 1.0 + x).collect()
}

/// The first `rows` rows of the token embedding.
fn embedding(rows: usize) -> Vec<f32> {
    let mut e = uniform("model.embed_tokens.weight", rows * HIDDEN, A_N);
    for row in e.chunks_exact_mut(HIDDEN) {
        row[C].iter_mut().for_each(|x| *x += A_C);
    }
    e
}

fn output_head() -> Vec<f32> {
    let e = embedding(VOCAB);
    let mut head = uniform("lm_head.weight", VOCAB * HIDDEN, NOISE * ALPHA);
    for (row, emb) in head.chunks_exact_mut(HIDDEN).zip(e.chunks_exact(HIDDEN)) {
        for i in S {
            row[i] += ALPHA * emb[i] / A_N;
        }
    }
    head
}

/// The root mean square of the embedding's values, the residual stream's scale at the input.
fn residual_scale() -> f32 {
    let var = A_N * A_N / 3.0;
    let frac = C.len() as f32 / HIDDEN as f32;
    (var + frac * A_C * A_C).sqrt()
}

/// The slow rotary pairs (those llama3 scaling changes) get `SLOW_PAIR_BOOST` times the weight,
/// at the same total.
fn pair_weights() -> Vec<f32> {
    let w: Vec<f32> = (0..HEAD_DIM).map(|d| if d % HALF >= SLOW_FIRST_PAIR { SLOW_PAIR_BOOST } else { 1.0 }).collect();
    let rms = (w.iter().map(|x| x * x).sum::<f32>() / HEAD_DIM as f32).sqrt();
    w.into_iter().map(|x| x / rms).collect()
}

/// A random matrix of layer role `what`, scaled as a layer of the random part of the model.
fn random_matrix(name: &str, what: &str) -> Vec<f32> {
    let sc = (3.0 / HIDDEN as f32).sqrt();
    let qk = sc * RANDOM_SCORE.sqrt() * (HEAD_DIM as f32).powf(0.25);
    let residual = residual_scale();
    let (rows, cols, scale) = match what {
        "self_attn.q_proj.weight" => (HEADS * HEAD_DIM, HIDDEN, qk),
        "self_attn.k_proj.weight" => (KV_HEADS * HEAD_DIM, HIDDEN, qk),
        "self_attn.v_proj.weight" => (KV_HEADS * HEAD_DIM, HIDDEN, sc),
        "self_attn.o_proj.weight" => (HIDDEN, HEADS * HEAD_DIM, sc * RANDOM_OUT * residual),
        "mlp.gate_proj.weight" | "mlp.up_proj.weight" => (FF, HIDDEN, sc),
        "mlp.down_proj.weight" => (HIDDEN, FF, (3.0 / FF as f32).sqrt() * RANDOM_MLP * residual * 2.0),
        _ => panic!("no tensor {name} in the parity checkpoint"),
    };
    let mut m = uniform(name, rows * cols, scale);
    if what == "self_attn.q_proj.weight" || what == "self_attn.k_proj.weight" {
        // Random heads ignore the common component (which would give them content-free
        // positional patterns) and lean on the slow rotary pairs.
        let w = pair_weights();
        for (r, row) in m.chunks_exact_mut(cols).enumerate() {
            row.iter_mut().for_each(|x| *x *= w[r % HEAD_DIM]);
            row[C].iter_mut().for_each(|x| *x *= NOISE);
        }
    }
    m
}

/// Rotation of rotary pair `i` per position, before llama3 scaling.
fn theta(i: usize) -> f64 {
    ROPE_THETA.powf(-2.0 * i as f64 / HEAD_DIM as f64)
}

/// How much of a normalized embedding lies on the common component, on average (the sum of its
/// `C` coordinates after layer 0's RMSNorm), so that designed queries and keys can be scaled in
/// score units.
fn common_projection() -> f32 {
    let rows = 4000;
    let g = norm("model.layers.0.input_layernorm.weight");
    let total: f32 = embedding(rows)
        .chunks_exact(HIDDEN)
        .map(|row| {
            let rms = (row.iter().map(|x| x * x).sum::<f32>() / HIDDEN as f32 + RMS_EPS).sqrt();
            C.map(|i| row[i] / rms * g[i]).sum::<f32>()
        })
        .sum();
    total / rows as f32
}

/// Layer 0: the random matrix with the designed heads written into it.
fn layer0(name: &str, what: &str) -> Vec<f32> {
    let mut m = random_matrix(name, what);
    let cols = if what == "self_attn.o_proj.weight" { HEADS * HEAD_DIM } else { HIDDEN };
    let proj = common_projection();
    // Previous-token pattern: query (1, 0) per pair and key R(theta)(1, 0) for group 0, query
    // (0, 1) and key R(theta)(0, 1) for group 1; score(distance) = amp^2 sum cos(theta (distance - 1)).
    let near: f64 = (0..PREV_PAIRS).map(|i| 1.0 - theta(i).cos()).sum();
    let amp = ((PREV_GAP * (HEAD_DIM as f64).sqrt() / near).sqrt() as f32) / proj;
    let prev_query = |group: usize| -> Vec<f32> {
        let mut q = vec![0f32; HEAD_DIM];
        (0..PREV_PAIRS).for_each(|i| q[i + group * HALF] = amp);
        q
    };
    let prev_key = |group: usize| -> Vec<f32> {
        let mut k = vec![0f32; HEAD_DIM];
        for i in 0..PREV_PAIRS {
            let (s, c) = (theta(i).sin() as f32, theta(i).cos() as f32);
            let (a, b) = if group == 0 { (c, s) } else { (-s, c) };
            k[i] = amp * a;
            k[i + HALF] = amp * b;
        }
        k
    };
    // Primacy pattern on the fully scaled pairs: query (a, 0), key (0, a), score a^2 sin(theta' d).
    let pairs = PRIMACY_FIRST_PAIR..PRIMACY_FIRST_PAIR + PRIMACY_PAIRS;
    assert!(2.0 * std::f64::consts::PI / theta(PRIMACY_FIRST_PAIR) > 8192.0, "primacy pairs must be fully scaled");
    let slope: f64 =
        pairs.clone().map(|i| theta(i) / LLAMA3_FACTOR).sum::<f64>() * (PRIMACY_SPAN - 1.0) / (HEAD_DIM as f64).sqrt();
    let pa = ((PRIMACY / slope).sqrt() as f32) / proj;
    // Keeps only a small random part of the rows of `head`.
    let quiet = |m: &mut [f32], head: usize| {
        m[head * HEAD_DIM * cols..(head + 1) * HEAD_DIM * cols].iter_mut().for_each(|x| *x *= NOISE);
    };
    // Adds `pattern` (per head dimension) along the common component to the rows of `head`.
    let add_common = |m: &mut [f32], head: usize, pattern: &[f32]| {
        for (d, &p) in pattern.iter().enumerate() {
            let row = &mut m[(head * HEAD_DIM + d) * cols..][..cols];
            C.for_each(|i| row[i] += p);
        }
    };
    match what {
        "self_attn.q_proj.weight" => {
            for (head, pattern) in [(0, prev_query(0)), (4, prev_query(1))] {
                quiet(&mut m, head);
                add_common(&mut m, head, &pattern);
            }
            quiet(&mut m, 1);
            let mut primacy = vec![0f32; HEAD_DIM];
            pairs.clone().for_each(|i| primacy[i] = pa);
            add_common(&mut m, 1, &primacy);
            // The random heads stay off the dimensions the designed heads use.
            let reserved: Vec<usize> = (0..PREV_PAIRS).chain(pairs.clone()).flat_map(|i| [i, i + HALF]).collect();
            for head in [2, 3, 5, 6, 7] {
                for &d in &reserved {
                    m[(head * HEAD_DIM + d) * cols..][..cols].iter_mut().for_each(|x| *x *= NOISE);
                }
            }
        }
        "self_attn.k_proj.weight" => {
            m.iter_mut().for_each(|x| *x *= NOISE);
            let mut key0 = prev_key(0);
            pairs.clone().for_each(|i| key0[i + HALF] = pa);
            add_common(&mut m, 0, &key0);
            add_common(&mut m, 1, &prev_key(1));
        }
        "self_attn.v_proj.weight" => {
            m.iter_mut().for_each(|x| *x *= NOISE);
            for (r, i) in S.enumerate() {
                m[r * cols + i] += 1.0;
            }
        }
        "self_attn.o_proj.weight" => {
            for head in [0, 1, 4] {
                for row in m.chunks_exact_mut(cols) {
                    row[head * HEAD_DIM..(head + 1) * HEAD_DIM].iter_mut().for_each(|x| *x *= NOISE);
                }
            }
            for d in 0..HEAD_DIM {
                m[(S.start + d) * cols + d] += PREV_GAIN * A_N;
                m[(S.start + HEAD_DIM + d) * cols + 4 * HEAD_DIM + d] += PREV_GAIN * A_N;
                m[(S.start + d) * cols + HEAD_DIM + d] += PRIMACY_GAIN * A_N;
            }
        }
        _ => {}
    }
    m
}
