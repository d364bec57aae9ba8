//! Causal grouped-query attention over a KV cache.
//!
//! One task takes one KV head and a block of consecutive queries, for all query heads that share
//! that KV head: each cached key and value is read (and widened from f16) once for all of them.
//! Keys are visited in chunks with an online softmax (a running maximum and sum per query,
//! rescaling the partial output when the maximum grows), so no task holds more scores than one
//! chunk's and the cost is the same at any context length. Every query's sum runs over keys in
//! position order, whatever the block or thread split, so results do not depend on either.

use half::f16;
use rayon::prelude::*;

use super::exp::exp;
use super::multiversion;
use crate::disjoint::DisjointOut;

/// Queries per task.
const QUERY_BLOCK: usize = 8;
/// Keys per chunk of the online softmax.
const KEY_CHUNK: usize = 64;
/// Below this many multiply-adds attention runs on the calling thread.
const PARALLEL_WORK: usize = 1 << 18;

/// How the cache stores keys and values: `f16` (half the memory, the default) or `f32`.
pub trait KvElement: Copy + Default + Send + Sync + 'static {
    fn from_f32_slice(src: &[f32], dst: &mut [Self]);
    fn to_f32_slice(src: &[Self], dst: &mut [f32]);
}

impl KvElement for f32 {
    fn from_f32_slice(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    fn to_f32_slice(src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}

impl KvElement for f16 {
    fn from_f32_slice(src: &[f32], dst: &mut [f16]) {
        use half::slice::HalfFloatSliceExt;
        dst.convert_from_f32_slice(src);
    }
    fn to_f32_slice(src: &[f16], dst: &mut [f32]) {
        use half::slice::HalfFloatSliceExt;
        src.convert_to_f32_slice(dst);
    }
}

/// Keys and values of `capacity` positions, each `[kv_heads, capacity, head_dim]`.
pub struct KvCache<E: KvElement = f16> {
    keys: Vec<E>,
    values: Vec<E>,
    kv_heads: usize,
    capacity: usize,
    head_dim: usize,
}

impl<E: KvElement> KvCache<E> {
    pub fn new(kv_heads: usize, capacity: usize, head_dim: usize) -> Self {
        let n = kv_heads * capacity * head_dim;
        KvCache { keys: vec![E::default(); n], values: vec![E::default(); n], kv_heads, capacity, head_dim }
    }

    pub fn kv_heads(&self) -> usize {
        self.kv_heads
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// Stores the keys and values of positions `start..start + seq`, converted to the cache's
    /// element type; `keys` and `values` are `[seq, kv_heads, head_dim]` (a projection's output).
    pub fn write(&mut self, start: usize, keys: &[f32], values: &[f32]) {
        let (d, per_token) = (self.head_dim, self.kv_heads * self.head_dim);
        assert!(
            keys.len() == values.len() && keys.len().is_multiple_of(per_token),
            "kv write: [seq, {}, {d}]",
            self.kv_heads
        );
        let seq = keys.len() / per_token;
        assert!(
            start + seq <= self.capacity,
            "kv write: positions up to {} beyond capacity {}",
            start + seq,
            self.capacity
        );
        for s in 0..seq {
            for g in 0..self.kv_heads {
                let from = s * per_token + g * d;
                let to = (g * self.capacity + start + s) * d;
                E::from_f32_slice(&keys[from..from + d], &mut self.keys[to..to + d]);
                E::from_f32_slice(&values[from..from + d], &mut self.values[to..to + d]);
            }
        }
    }

    /// Positions `from..to` of KV head `g`.
    fn rows(&self, g: usize, from: usize, to: usize) -> (&[E], &[E]) {
        let at = (g * self.capacity + from) * self.head_dim;
        let end = at + (to - from) * self.head_dim;
        (&self.keys[at..end], &self.values[at..end])
    }
}

/// Causal attention of the last `seq` of the first `len` cached positions.
///
/// `q` and `out` are `[heads, seq, head_dim]`; query `i` is at position `len - seq + i` and sees
/// positions `0..=len - seq + i`. Query head `h` uses KV head `h / (heads / kv_heads)`. Scores are
/// `scale * q·k`, softmax in f32.
pub fn attention<E: KvElement>(q: &[f32], heads: usize, cache: &KvCache<E>, len: usize, scale: f32, out: &mut [f32]) {
    let (d, kv_heads) = (cache.head_dim, cache.kv_heads);
    assert!(heads.is_multiple_of(kv_heads), "attention: {heads} heads do not share {kv_heads} KV heads evenly");
    assert!(
        q.len().is_multiple_of(heads * d) && out.len() == q.len(),
        "attention: q and out must be [{heads}, seq, {d}]"
    );
    let seq = q.len() / (heads * d);
    assert!(
        seq <= len && len <= cache.capacity,
        "attention: {seq} queries, {len} positions, capacity {}",
        cache.capacity
    );
    let group = heads / kv_heads;
    let blocks = seq.div_ceil(QUERY_BLOCK);
    let job = Job { q, cache, len, seq, group, scale };
    let out = DisjointOut::new(out);
    let task = |scratch: &mut Scratch, item: usize| job.run(item / blocks, item % blocks, scratch, &out);
    let work = heads * seq * len * d;
    if work < PARALLEL_WORK || rayon::current_num_threads() == 1 {
        let mut scratch = Scratch::new(group, d);
        (0..kv_heads * blocks).for_each(|item| task(&mut scratch, item));
    } else {
        (0..kv_heads * blocks).into_par_iter().for_each_init(|| Scratch::new(group, d), task);
    }
}

struct Job<'a, E: KvElement> {
    q: &'a [f32],
    cache: &'a KvCache<E>,
    len: usize,
    seq: usize,
    group: usize,
    scale: f32,
}

/// A task's working memory: one chunk of keys and values widened to f32, and the online
/// softmax state of its queries.
struct Scratch {
    keys: Vec<f32>,
    values: Vec<f32>,
    scores: Vec<f32>,
    state: Vec<Online>,
    acc: Vec<f32>,
}

#[derive(Clone, Copy)]
struct Online {
    max: f32,
    sum: f32,
}

impl Scratch {
    fn new(group: usize, d: usize) -> Scratch {
        let queries = group * QUERY_BLOCK;
        Scratch {
            keys: vec![0.0; KEY_CHUNK * d],
            values: vec![0.0; KEY_CHUNK * d],
            scores: vec![0.0; KEY_CHUNK],
            state: vec![Online { max: f32::NEG_INFINITY, sum: 0.0 }; queries],
            acc: vec![0.0; queries * d],
        }
    }
}

impl<E: KvElement> Job<'_, E> {
    /// KV head `g`, queries `QUERY_BLOCK * block..`.
    fn run(&self, g: usize, block: usize, scratch: &mut Scratch, out: &DisjointOut) {
        let d = self.cache.head_dim;
        let first = block * QUERY_BLOCK;
        let queries = QUERY_BLOCK.min(self.seq - first);
        let n = self.group * queries;
        scratch.state[..n].fill(Online { max: f32::NEG_INFINITY, sum: 0.0 });
        scratch.acc[..n * d].fill(0.0);
        // Query i sees positions 0..=offset + i.
        let offset = self.len - self.seq;
        let end = offset + first + queries;
        for from in (0..end).step_by(KEY_CHUNK) {
            let to = end.min(from + KEY_CHUNK);
            let (keys, values) = self.cache.rows(g, from, to);
            let m = (to - from) * d;
            E::to_f32_slice(keys, &mut scratch.keys[..m]);
            E::to_f32_slice(values, &mut scratch.values[..m]);
            for j in 0..n {
                let (h, i) = (g * self.group + j % self.group, first + j / self.group);
                let visible = (offset + i + 1).min(to).saturating_sub(from);
                if visible == 0 {
                    continue;
                }
                let query = &self.q[(h * self.seq + i) * d..][..d];
                let acc = &mut scratch.acc[j * d..(j + 1) * d];
                let chunk = Chunk { keys: &scratch.keys[..visible * d], values: &scratch.values[..visible * d], d };
                update(query, chunk, self.scale, &mut scratch.scores[..visible], &mut scratch.state[j], acc);
            }
        }
        for j in 0..n {
            let (h, i) = (g * self.group + j % self.group, first + j / self.group);
            // SAFETY: query (h, i) belongs to this task alone.
            let o = unsafe { out.slice((h * self.seq + i) * d, d) };
            let inv = 1.0 / scratch.state[j].sum;
            for (o, &a) in o.iter_mut().zip(&scratch.acc[j * d..(j + 1) * d]) {
                *o = a * inv;
            }
        }
    }
}

struct Chunk<'a> {
    keys: &'a [f32],
    values: &'a [f32],
    d: usize,
}

multiversion! {
    /// Folds one chunk of keys and values into a query's online softmax.
    fn update(query: &[f32], chunk: Chunk, scale: f32, scores: &mut [f32], state: &mut Online, acc: &mut [f32]) {
        let mut max = state.max;
        for (s, k) in scores.iter_mut().zip(chunk.keys.chunks_exact(chunk.d)) {
            *s = scale * dot(query, k);
            max = max.max(*s);
        }
        let rescale = exp(state.max - max);
        let mut sum = state.sum * rescale;
        for a in acc.iter_mut() {
            *a *= rescale;
        }
        for (s, v) in scores.iter().zip(chunk.values.chunks_exact(chunk.d)) {
            let p = exp(s - max);
            sum += p;
            for (a, &v) in acc.iter_mut().zip(v) {
                *a += p * v;
            }
        }
        *state = Online { max, sum };
    }
}

/// `Σ a_i b_i` with eight running sums, so that it vectorizes; a fixed order for any length.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (a, b) in a8.zip(b8) {
        for k in 0..8 {
            sums[k] += a[k] * b[k];
        }
    }
    ((sums[0] + sums[4]) + (sums[1] + sums[5])) + ((sums[2] + sums[6]) + (sums[3] + sums[7])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn reference(
        q: &[f32],
        heads: usize,
        keys: &[f32],
        values: &[f32],
        kv_heads: usize,
        len: usize,
        d: usize,
        scale: f32,
    ) -> Vec<f64> {
        // keys/values here are [len, kv_heads, d] as written.
        let seq = q.len() / (heads * d);
        let mut out = vec![0f64; q.len()];
        for h in 0..heads {
            let g = h / (heads / kv_heads);
            for i in 0..seq {
                let pos = len - seq + i;
                let qv = &q[(h * seq + i) * d..][..d];
                let scores: Vec<f64> = (0..=pos)
                    .map(|p| {
                        scale as f64
                            * (0..d).map(|c| qv[c] as f64 * keys[(p * kv_heads + g) * d + c] as f64).sum::<f64>()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..d {
                    out[(h * seq + i) * d + c] =
                        (0..=pos).map(|p| weights[p] * values[(p * kv_heads + g) * d + c] as f64).sum::<f64>() / total;
                }
            }
        }
        out
    }

    fn check<E: KvElement>(heads: usize, kv_heads: usize, d: usize, len: usize, seq: usize, rounding: fn(f32) -> f32) {
        let per = kv_heads * d;
        let keys: Vec<f32> = (0..len * per).map(|i| rounding(((i * 7919) % 1000) as f32 * 0.004 - 2.0)).collect();
        let values: Vec<f32> = (0..len * per).map(|i| rounding(((i * 104729) % 1000) as f32 * 0.002 - 1.0)).collect();
        let q: Vec<f32> = (0..heads * seq * d).map(|i| ((i * 31) % 97) as f32 * 0.02 - 1.0).collect();
        let mut cache = KvCache::<E>::new(kv_heads, len + 3, d);
        // Written in two pieces, as a prompt and then a token would be.
        cache.write(0, &keys[..(len - 1) * per], &values[..(len - 1) * per]);
        cache.write(len - 1, &keys[(len - 1) * per..], &values[(len - 1) * per..]);
        let scale = 1.0 / (d as f32).sqrt();
        let mut out = vec![0f32; q.len()];
        attention(&q, heads, &cache, len, scale, &mut out);
        let want = reference(&q, heads, &keys, &values, kv_heads, len, d, scale);
        for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
            assert!((o as f64 - w).abs() < 2e-5, "output {i}: {o} vs {w}");
        }
    }

    #[test]
    fn matches_f64_softmax_attention() {
        let f16_round = |v: f32| f16::from_f32(v).to_f32();
        // Decoding, a prompt spanning several key chunks and query blocks, and a prompt that
        // continues a cache; grouped (4 heads per KV head) and plain.
        for (heads, kv_heads, d, len, seq) in
            [(8, 2, 64, 150, 1), (8, 2, 64, 150, 150), (4, 4, 32, 200, 37), (6, 1, 16, 5, 3)]
        {
            check::<f32>(heads, kv_heads, d, len, seq, |v| v);
            check::<f16>(heads, kv_heads, d, len, seq, f16_round);
        }
    }

    #[test]
    fn threads_do_not_change_results() {
        let (heads, kv_heads, d, len) = (8, 2, 64, 300);
        let mut cache = KvCache::<f16>::new(kv_heads, len, d);
        let kv: Vec<f32> = (0..len * kv_heads * d).map(|i| ((i * 7919) % 1000) as f32 * 0.004 - 2.0).collect();
        cache.write(0, &kv, &kv);
        let q: Vec<f32> = (0..heads * 20 * d).map(|i| ((i * 31) % 97) as f32 * 0.02 - 1.0).collect();
        let run = |threads| {
            let mut out = vec![0f32; q.len()];
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| attention(&q, heads, &cache, len, 0.125, &mut out));
            out
        };
        assert_eq!(run(1), run(2));
    }
}
