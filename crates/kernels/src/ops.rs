//! The kernels as a Burn backend extension: an operation on Burn tensors that every CubeCL
//! runtime (wgpu, WebGPU, CUDA) executes with the same kernel source, and that Burn's fusion
//! records lazily like its own operations.

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, DType, Dispatch, Shape, TensorMetadata, backend_extension};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use crate::Schedule;
use crate::decode::RUN;
use crate::format::BlockFormat;
use crate::fused::{ATTENTION_UNITS, NORM_UNITS, cached_attention, rms_norm, rope};
use crate::matmul::{LANES, ROWS_PER_CUBE, TILE_M, TILE_N, TILE_UNITS, block_dequantize, block_matmul, block_matvec};
use crate::select::{MAX_CANDIDATES, rank_candidates, slice_candidates};
use crate::serial::{
    SERIAL_TOKENS, SERIAL_UNITS, attention_scores, attention_softmax, attention_values, block_matmul_serial,
    prompt_attention_serial, rms_norm_serial,
};

#[backend_extension(Cube, Fusion)]
pub trait BlockMatmulOps: Backend {
    /// `x [tokens, cols]` times the transpose of `rows x cols` weights held as ggml blocks of
    /// `format` in the words of `blocks` ([`BlockFormat::pack`]): `[tokens, rows]`.
    #[fusion(dtype = x, shape = product_shape(x, rows))]
    fn block_matmul(
        x: FloatTensor<Self>,
        blocks: IntTensor<Self>,
        format: BlockFormat,
        rows: usize,
        schedule: Schedule,
    ) -> FloatTensor<Self>;

    /// Rows `first..first + rows` of the `chunk_rows x cols` weights in `blocks`, as f32
    /// `[rows, cols]`.
    #[fusion(dtype = DType::F32, shape = Shape::new([*rows, *cols]))]
    fn block_dequantize(
        blocks: IntTensor<Self>,
        format: BlockFormat,
        chunk_rows: usize,
        first: usize,
        rows: usize,
        cols: usize,
    ) -> FloatTensor<Self>;
}

/// The decoder's small operations as single kernels ([`crate::fused`]), and the choice of the
/// best logits ([`crate::select`]); every tensor is f32.
#[backend_extension(Cube, Fusion)]
pub trait FusedOps: Backend {
    /// RMSNorm over the last dimension of `x`, with gain `weight`.
    #[fusion(dtype = x, shape = x)]
    fn fused_rms_norm(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        eps: f32,
        schedule: Schedule,
    ) -> FloatTensor<Self>;

    /// Rotate-half rotary embeddings on `x [batch, seq, heads, head_dim]` at positions
    /// `start..start + seq`, with tables `cos, sin [positions, head_dim / 2]`.
    #[fusion(dtype = x, shape = x)]
    fn fused_rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        start: usize,
    ) -> FloatTensor<Self>;

    /// Causal attention of `q [1, heads, seq, head_dim]`, the last `seq` of the first `len`
    /// positions of the caches `[1, kv_heads, capacity, head_dim]`, over those positions.
    #[fusion(dtype = q, shape = q)]
    fn fused_cached_attention(
        q: FloatTensor<Self>,
        keys: FloatTensor<Self>,
        values: FloatTensor<Self>,
        len: usize,
        scale: f32,
        schedule: Schedule,
    ) -> FloatTensor<Self>;

    /// The best `k` (at most [`MAX_CANDIDATES`]) of the `vocab` logits in `logits`, best first,
    /// as `[2k + 1]`: token id (as f32) and logit for each, then the log-normalizer
    /// `log Σ exp(logit)`. A place left empty (fewer than `k` finite logits) has id -1.
    #[fusion(dtype = DType::F32, shape = Shape::new([2 * *k + 1]))]
    fn fused_top_candidates(logits: FloatTensor<Self>, k: usize) -> FloatTensor<Self>;
}

fn product_shape(x: &Shape, rows: &usize) -> Shape {
    Shape::new([x[0], *rows])
}

impl BlockMatmulOps for CubeBackend {
    fn block_matmul(
        x: CubeTensor,
        blocks: CubeTensor,
        format: BlockFormat,
        rows: usize,
        schedule: Schedule,
    ) -> CubeTensor {
        assert_eq!(x.dtype, DType::F32, "block_matmul takes f32 activations");
        assert_eq!(blocks.dtype, DType::U32, "block_matmul takes its blocks as u32 words");
        let x = into_contiguous(x);
        let shape = x.shape();
        let (tokens, cols) = (shape[0], shape[1]);
        let out = empty_device_dtype(x.client.clone(), x.device.clone(), Shape::new([tokens, rows]), DType::F32);
        let runs_per_row = cols / RUN;
        let plane = scale_plane(format, rows, cols);
        let client = out.client.clone();
        // SAFETY: the kernels index `blocks` within `device_words(rows * cols / block)` words,
        // `x` within `tokens * cols` and `out` within `tokens * rows` values, which the shapes
        // checked by `BlockMatrix` guarantee.
        unsafe {
            if schedule == Schedule::Serial {
                let group = if tokens == 1 { 1 } else { SERIAL_TOKENS };
                block_matmul_serial::launch_unchecked(
                    &client,
                    CubeCount::new_2d(rows.div_ceil(SERIAL_UNITS) as u32, tokens.div_ceil(group) as u32),
                    CubeDim::new_1d(SERIAL_UNITS as u32),
                    blocks.into_buffer_arg(),
                    x.into_buffer_arg(),
                    out.clone().into_buffer_arg(),
                    tokens,
                    rows,
                    runs_per_row,
                    plane,
                    format,
                    group,
                );
            } else if tokens == 1 {
                block_matvec::launch_unchecked(
                    &client,
                    CubeCount::new_1d(rows.div_ceil(ROWS_PER_CUBE) as u32),
                    CubeDim::new_1d((LANES * ROWS_PER_CUBE) as u32),
                    blocks.into_buffer_arg(),
                    x.into_buffer_arg(),
                    out.clone().into_buffer_arg(),
                    rows,
                    runs_per_row,
                    plane,
                    format,
                    schedule == Schedule::Subgroup,
                );
            } else {
                block_matmul::launch_unchecked(
                    &client,
                    CubeCount::new_2d(rows.div_ceil(TILE_N) as u32, tokens.div_ceil(TILE_M) as u32),
                    CubeDim::new_2d((TILE_N / 4) as u32, (TILE_UNITS / (TILE_N / 4)) as u32),
                    blocks.into_buffer_arg(),
                    x.into_buffer_arg(),
                    out.clone().into_buffer_arg(),
                    tokens,
                    rows,
                    runs_per_row,
                    plane,
                    format,
                );
            }
        }
        out
    }

    fn block_dequantize(
        blocks: CubeTensor,
        format: BlockFormat,
        chunk_rows: usize,
        first: usize,
        rows: usize,
        cols: usize,
    ) -> CubeTensor {
        assert_eq!(blocks.dtype, DType::U32, "block_dequantize takes its blocks as u32 words");
        assert!(first + rows <= chunk_rows, "rows {first}..{} of a {chunk_rows}-row chunk", first + rows);
        let out =
            empty_device_dtype(blocks.client.clone(), blocks.device.clone(), Shape::new([rows, cols]), DType::F32);
        let runs = rows * cols / RUN;
        // SAFETY: unit `i < runs` reads the block of run `first * cols / RUN + i`, within the
        // chunk's `chunk_rows` rows, and writes `out[i * RUN..(i + 1) * RUN]`.
        unsafe {
            block_dequantize::launch_unchecked(
                &out.client.clone(),
                CubeCount::new_1d(runs.div_ceil(DEQUANTIZE_UNITS) as u32),
                CubeDim::new_1d(DEQUANTIZE_UNITS as u32),
                blocks.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                first,
                runs,
                cols / RUN,
                scale_plane(format, chunk_rows, cols),
                format,
            );
        }
        out
    }
}

/// Workgroups of [`SERIAL_UNITS`] for `n` independent units.
fn cubes_for(n: usize) -> CubeCount {
    CubeCount::new_1d(n.div_ceil(SERIAL_UNITS) as u32)
}

/// Units per workgroup of the expanding kernel.
const DEQUANTIZE_UNITS: usize = 256;

/// The word where the scale plane of a `rows x cols` chunk starts (after all block bodies).
fn scale_plane(format: BlockFormat, rows: usize, cols: usize) -> usize {
    rows * cols / format.block_values() * format.body_words()
}

/// An output like `like`, and `like` itself made contiguous, for the kernels' flat indexing.
fn output_like(like: CubeTensor) -> (CubeTensor, CubeTensor) {
    let like = into_contiguous(like);
    assert_eq!(like.dtype, DType::F32, "the fused kernels take f32 tensors");
    let out = empty_device_dtype(like.client.clone(), like.device.clone(), like.shape(), DType::F32);
    (like, out)
}

impl FusedOps for CubeBackend {
    fn fused_rms_norm(x: CubeTensor, weight: CubeTensor, eps: f32, schedule: Schedule) -> CubeTensor {
        let (x, out) = output_like(x);
        let dim = weight.meta.num_elements();
        let rows = x.meta.num_elements() / dim;
        // SAFETY: row `r` of `x` and `out` is `r * dim..(r + 1) * dim`, within both.
        unsafe {
            if schedule == Schedule::Serial {
                rms_norm_serial::launch_unchecked(
                    &out.client.clone(),
                    cubes_for(rows),
                    CubeDim::new_1d(SERIAL_UNITS as u32),
                    x.into_buffer_arg(),
                    into_contiguous(weight).into_buffer_arg(),
                    out.clone().into_buffer_arg(),
                    rows,
                    dim,
                    eps,
                );
                return out;
            }
            rms_norm::launch_unchecked(
                &out.client.clone(),
                CubeCount::new_1d(rows as u32),
                CubeDim::new_1d(NORM_UNITS as u32),
                x.into_buffer_arg(),
                into_contiguous(weight).into_buffer_arg(),
                out.clone().into_buffer_arg(),
                dim,
                eps,
                schedule == Schedule::Subgroup,
            );
        }
        out
    }

    fn fused_rope(x: CubeTensor, cos: CubeTensor, sin: CubeTensor, start: usize) -> CubeTensor {
        let (x, out) = output_like(x);
        let shape = x.shape();
        let (seq, heads, half) = (shape[1], shape[2], shape[3] / 2);
        let pairs = x.meta.num_elements() / 2;
        // SAFETY: one unit per pair below `pairs`; positions below `start + seq`, which the
        // tables cover (the model checks the context before running).
        unsafe {
            rope::launch_unchecked(
                &out.client.clone(),
                CubeCount::new_1d(pairs.div_ceil(256) as u32),
                CubeDim::new_1d(256),
                x.into_buffer_arg(),
                into_contiguous(cos).into_buffer_arg(),
                into_contiguous(sin).into_buffer_arg(),
                out.clone().into_buffer_arg(),
                pairs,
                seq,
                heads,
                start,
                half,
            );
        }
        out
    }

    fn fused_cached_attention(
        q: CubeTensor,
        keys: CubeTensor,
        values: CubeTensor,
        len: usize,
        scale: f32,
        schedule: Schedule,
    ) -> CubeTensor {
        let (q, out) = output_like(q);
        let (keys, values) = (into_contiguous(keys), into_contiguous(values));
        let (heads, seq, dim) = (q.shape()[1], q.shape()[2], q.shape()[3]);
        let cache = keys.shape();
        let (kv_heads, capacity) = (cache[1], cache[2]);
        assert!(
            (1..=len).contains(&seq) && len <= capacity && q.shape()[0] == 1,
            "attention of {seq} tokens over {len} cached positions of {capacity}"
        );
        if schedule == Schedule::Serial && seq == 1 {
            return serial_attention(q, keys, values, out, len, scale);
        }
        let client = out.client.clone();
        // SAFETY: query `h, t` reads cache rows `(h / group) * capacity + 0..len - seq + 1 + t`,
        // all below `len <= capacity`; `q` and `out` are `heads x seq x dim`.
        unsafe {
            match schedule {
                Schedule::Serial => prompt_attention_serial::launch_unchecked(
                    &client,
                    cubes_for(kv_heads * seq),
                    CubeDim::new_1d(SERIAL_UNITS as u32),
                    q.into_buffer_arg(),
                    keys.into_buffer_arg(),
                    values.into_buffer_arg(),
                    out.clone().into_buffer_arg(),
                    kv_heads,
                    seq,
                    len,
                    capacity,
                    scale,
                    heads / kv_heads,
                    dim,
                ),
                Schedule::Workgroup | Schedule::Subgroup => cached_attention::launch_unchecked(
                    &client,
                    CubeCount::new_1d((heads * seq) as u32),
                    CubeDim::new_1d(ATTENTION_UNITS as u32),
                    q.into_buffer_arg(),
                    keys.into_buffer_arg(),
                    values.into_buffer_arg(),
                    out.clone().into_buffer_arg(),
                    seq,
                    len,
                    capacity,
                    heads / kv_heads,
                    scale,
                    dim,
                    schedule == Schedule::Subgroup,
                ),
            }
        }
        out
    }

    fn fused_top_candidates(logits: CubeTensor, k: usize) -> CubeTensor {
        let logits = into_contiguous(logits);
        assert_eq!(logits.dtype, DType::F32, "top candidates of f32 logits");
        let vocab = logits.meta.num_elements();
        assert!(
            (1..=MAX_CANDIDATES.min(vocab)).contains(&k) && vocab < 1 << 24,
            "the best {k} of {vocab} logits (at most {MAX_CANDIDATES}, ids below 2^24)"
        );
        let slice = vocab.div_ceil(MAX_SLICES).max(MIN_SLICE);
        let slices = vocab.div_ceil(slice);
        let (client, device) = (logits.client.clone(), logits.device.clone());
        let buffer = |len: usize, dtype| empty_device_dtype(client.clone(), device.clone(), Shape::new([len]), dtype);
        let (ids, values, stats) =
            (buffer(slices * k, DType::U32), buffer(slices * k, DType::F32), buffer(2 * slices, DType::F32));
        let out = buffer(2 * k + 1, DType::F32);
        // SAFETY: slice `s < slices` reads `logits[s * slice..]` below `vocab` and writes its
        // `k` places of `ids` and `values` and two of `stats`; candidate `u < slices * k` reads
        // those and writes `out` below `2k + 1`.
        unsafe {
            slice_candidates::launch_unchecked(
                &client,
                cubes_for(slices),
                CubeDim::new_1d(SERIAL_UNITS as u32),
                logits.into_buffer_arg(),
                ids.clone().into_buffer_arg(),
                values.clone().into_buffer_arg(),
                stats.clone().into_buffer_arg(),
                out.clone().into_buffer_arg(),
                vocab,
                slices,
                slice,
                k,
            );
            rank_candidates::launch_unchecked(
                &client,
                cubes_for(slices * k),
                CubeDim::new_1d(SERIAL_UNITS as u32),
                ids.into_buffer_arg(),
                values.into_buffer_arg(),
                stats.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                slices,
                k,
            );
        }
        out
    }
}

/// Logits one unit of [`slice_candidates`] scans at least, and the most slices a row is cut
/// into: Llama 3's 128,256 logits make 501 slices, SmolLM2's 49,152 make 192.
const MIN_SLICE: usize = 256;
const MAX_SLICES: usize = 1024;

/// [`Schedule::Serial`] attention of one token: scores, their softmax, the weighted values.
fn serial_attention(
    q: CubeTensor,
    keys: CubeTensor,
    values: CubeTensor,
    out: CubeTensor,
    len: usize,
    scale: f32,
) -> CubeTensor {
    let (heads, dim) = (q.shape()[1], q.shape()[3]);
    let cache = keys.shape();
    let (capacity, group) = (cache[2], heads / cache[1]);
    let client = out.client.clone();
    let scores = empty_device_dtype(client.clone(), out.device.clone(), Shape::new([heads, len]), DType::F32);
    // SAFETY: `scores` is `heads x len`; head `h` reads cache rows `(h / group) * capacity +
    // 0..len` of `keys` and `values`, `len <= capacity`; `q` and `out` are `heads x dim`.
    unsafe {
        attention_scores::launch_unchecked(
            &client,
            cubes_for(heads * len),
            CubeDim::new_1d(SERIAL_UNITS as u32),
            q.into_buffer_arg(),
            keys.into_buffer_arg(),
            scores.clone().into_buffer_arg(),
            heads,
            len,
            capacity,
            group,
            scale,
            dim,
        );
        attention_softmax::launch_unchecked(
            &client,
            cubes_for(heads),
            CubeDim::new_1d(SERIAL_UNITS as u32),
            scores.clone().into_buffer_arg(),
            heads,
            len,
        );
        attention_values::launch_unchecked(
            &client,
            cubes_for(heads * dim),
            CubeDim::new_1d(SERIAL_UNITS as u32),
            scores.into_buffer_arg(),
            values.into_buffer_arg(),
            out.clone().into_buffer_arg(),
            heads,
            len,
            capacity,
            group,
            dim,
        );
    }
    out
}

/// [`BlockMatmulOps::block_matmul`] on Burn tensors.
pub fn matmul_blocks(
    x: burn::tensor::Tensor<2>,
    blocks: burn::tensor::Tensor<1, burn::tensor::Int>,
    format: BlockFormat,
    rows: usize,
    schedule: Schedule,
) -> burn::tensor::Tensor<2> {
    burn::tensor::Tensor::from_dispatch(Dispatch::block_matmul(
        x.into_dispatch(),
        blocks.into_dispatch(),
        format,
        rows,
        schedule,
    ))
}

/// [`BlockMatmulOps::block_dequantize`] on Burn tensors.
pub fn dequantize_blocks(
    blocks: burn::tensor::Tensor<1, burn::tensor::Int>,
    format: BlockFormat,
    chunk_rows: usize,
    first: usize,
    rows: usize,
    cols: usize,
) -> burn::tensor::Tensor<2> {
    burn::tensor::Tensor::from_dispatch(Dispatch::block_dequantize(
        blocks.into_dispatch(),
        format,
        chunk_rows,
        first,
        rows,
        cols,
    ))
}

/// [`FusedOps::fused_rms_norm`] on Burn tensors.
pub fn rms_norm_fused<const D: usize>(
    x: burn::tensor::Tensor<D>,
    weight: burn::tensor::Tensor<1>,
    eps: f32,
    schedule: Schedule,
) -> burn::tensor::Tensor<D> {
    burn::tensor::Tensor::from_dispatch(Dispatch::fused_rms_norm(
        x.into_dispatch(),
        weight.into_dispatch(),
        eps,
        schedule,
    ))
}

/// [`FusedOps::fused_rope`] on Burn tensors.
pub fn rope_fused(
    x: burn::tensor::Tensor<4>,
    cos: burn::tensor::Tensor<2>,
    sin: burn::tensor::Tensor<2>,
    start: usize,
) -> burn::tensor::Tensor<4> {
    burn::tensor::Tensor::from_dispatch(Dispatch::fused_rope(
        x.into_dispatch(),
        cos.into_dispatch(),
        sin.into_dispatch(),
        start,
    ))
}

/// [`FusedOps::fused_cached_attention`] on Burn tensors.
pub fn cached_attention_fused(
    q: burn::tensor::Tensor<4>,
    keys: burn::tensor::Tensor<4>,
    values: burn::tensor::Tensor<4>,
    len: usize,
    scale: f32,
    schedule: Schedule,
) -> burn::tensor::Tensor<4> {
    burn::tensor::Tensor::from_dispatch(Dispatch::fused_cached_attention(
        q.into_dispatch(),
        keys.into_dispatch(),
        values.into_dispatch(),
        len,
        scale,
        schedule,
    ))
}

/// [`FusedOps::fused_top_candidates`] on Burn tensors.
pub fn top_candidates<const D: usize>(logits: burn::tensor::Tensor<D>, k: usize) -> burn::tensor::Tensor<1> {
    burn::tensor::Tensor::from_dispatch(Dispatch::fused_top_candidates(logits.into_dispatch(), k))
}
