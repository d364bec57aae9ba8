//! Matrix products with GGUF weights kept in their ggml blocks on the device.
//!
//! Expanding quantized weights to floats multiplies a model's memory by four to eight: an 8B
//! judge that is 4.9 GB as Q4_K_M would need 32 GB, and no browser tab could hold it. Here the
//! blocks are uploaded as they are (re-laid into whole words, [`format`]) and CubeCL kernels
//! decode them while multiplying, so the same source runs as WGSL in a browser, SPIR-V or MSL
//! natively and CUDA C++ on NVIDIA GPUs. A matrix larger than one storage-buffer binding (the
//! 8B model's output head is ~430 MB; WebGPU guarantees only 128 MiB) is split by rows.

mod decode;
mod format;
mod fused;
pub mod host;
mod matmul;
mod ops;
mod reduce;
mod select;
mod serial;

use std::sync::Arc;

use burn::backend::DispatchDevice;
use burn::tensor::{DType, Device, DeviceKind, Int, Tensor, TensorData};
use selene_gguf::GgmlType;
use serde::{Deserialize, Serialize};

pub use format::BlockFormat;
pub use host::CacheType;
use matmul::TILE_M;
pub use ops::{cached_attention_fused, rms_norm_fused, rope_fused, top_candidates};
use ops::{dequantize_blocks, matmul_blocks};
pub use select::MAX_CANDIDATES;

/// The most weights a long prompt's product expands to f32 at a time (16 MiB): Burn's matrix
/// product gets rows enough to run at full speed, and device memory stays within a few percent
/// of the blocks' size.
const EXPANDED_VALUES: usize = 1 << 22;

/// How a model computes on its device, decided once when it is loaded ([`Compute::of`]) and
/// held by every part that launches work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compute {
    /// Burn's own tensor operations only: training (autodiff devices, whose operations must be
    /// differentiable), backends without kernels of ours, and the f32 reference.
    Tensors,
    /// This crate's CubeCL kernels (wgpu, WebGPU, CUDA), with how they spread work over the
    /// device's units and the largest buffer one kernel can bind.
    Kernels { schedule: Schedule, binding_limit: u64 },
    /// The CPU engine (`selene-cpu`) on Burn's Flex backend: weights in their GGUF blocks in host
    /// memory, its own SIMD products and fused operations, its own KV cache.
    Host { cache: CacheType },
}

impl Compute {
    /// What suits `device`: the kernels where CubeCL runs them, [`Schedule::Serial`] where it
    /// finds no card behind the adapter (a CPU Vulkan driver, a browser's fallback adapter),
    /// [`Schedule::Subgroup`] where the device has subgroup operations none wider than
    /// [`ROW_UNITS`].
    pub fn of(device: &Device) -> Compute {
        let cube = match device.as_dispatch() {
            DispatchDevice::Cube(cube) => cube,
            DispatchDevice::Flex(_) => return Compute::Host { cache: CacheType::default() },
            _ => return Compute::Tensors,
        };
        let client = cube.client();
        let properties = client.properties();
        let schedule = if properties.identity.physical.is_none() {
            Schedule::Serial
        } else if properties.features.plane.contains(cubecl::features::Plane::Ops)
            && (1..=ROW_UNITS as u32).contains(&properties.hardware.plane_size_max)
        {
            Schedule::Subgroup
        } else {
            Schedule::Workgroup
        };
        Compute::Kernels { schedule, binding_limit: properties.memory.max_page_size }
    }

    /// The kernels' schedule, where kernels run.
    pub fn schedule(self) -> Option<Schedule> {
        match self {
            Compute::Kernels { schedule, .. } => Some(schedule),
            Compute::Tensors | Compute::Host { .. } => None,
        }
    }

    /// Whether matrices of `ty` are held in their blocks, not expanded to f32.
    pub fn holds_blocks(self, ty: GgmlType) -> bool {
        match self {
            Compute::Tensors => false,
            Compute::Kernels { .. } => BlockFormat::of(ty).is_some(),
            Compute::Host { .. } => selene_cpu::QuantMatrix::supports(ty),
        }
    }

    /// Whether the best logits are best chosen where they are ([`top_candidates`]): on a GPU,
    /// whose memory the host reads slowly; not on a software adapter, whose buffers are the
    /// host's memory and where choosing on the host is faster (Llama 3's row, 40 candidates:
    /// `kernel_timing select`).
    pub fn selects_on_device(self) -> bool {
        matches!(self, Compute::Kernels { schedule: Schedule::Workgroup | Schedule::Subgroup, .. })
    }
}

/// A `[rows, cols]` weight matrix held as ggml blocks: on a GPU in chunks of whole rows that
/// each fit one storage-buffer binding, or in host memory for the CPU engine.
#[derive(Clone, Debug)]
pub struct BlockMatrix {
    rows: usize,
    cols: usize,
    held: Held,
}

#[derive(Clone, Debug)]
enum Held {
    Device { chunks: Vec<Chunk>, format: BlockFormat, schedule: Schedule },
    Host(Arc<selene_cpu::QuantMatrix>),
}

/// How the work of a kernel is spread over a device's units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Schedule {
    /// A GPU: the units of a workgroup share a row and reduce it in workgroup memory.
    Workgroup,
    /// A GPU with subgroups of at most [`ROW_UNITS`] units (CUDA's warps of 32; NVIDIA, Apple
    /// and most Intel and AMD adapters under Vulkan, Metal or WebGPU): as `Workgroup`, but each
    /// subgroup reduces its part of a row in registers and one barrier joins the parts.
    Subgroup,
    /// An adapter with no card behind it (lavapipe, SwiftShader): one unit per output, no
    /// barriers (`serial.rs` says why).
    Serial,
}

impl Schedule {
    pub const ALL: [Schedule; 3] = [Schedule::Workgroup, Schedule::Subgroup, Schedule::Serial];
}

#[derive(Clone, Debug)]
struct Chunk {
    words: Tensor<1, Int>,
    rows: usize,
}

impl BlockMatrix {
    /// Holds `rows x cols` values stored as consecutive ggml blocks of type `ty` (ggml's row
    /// order, each row a whole number of blocks) as `compute` uses them on `device`: uploaded in
    /// chunks of rows that fit the binding limit, or kept in host memory for the CPU engine.
    pub fn new(
        bytes: &[u8],
        ty: GgmlType,
        rows: usize,
        cols: usize,
        device: &Device,
        compute: Compute,
    ) -> Result<Self, String> {
        let (schedule, binding_limit) = match compute {
            Compute::Kernels { schedule, binding_limit } => (schedule, binding_limit),
            Compute::Host { .. } => return Self::on_host(bytes.to_vec(), ty, rows, cols),
            Compute::Tensors => return Err(format!("{device:?} runs no CubeCL kernels")),
        };
        let format = BlockFormat::of(ty).ok_or_else(|| format!("no device kernel reads {ty} blocks"))?;
        let per_block = format.block_values();
        if cols % per_block != 0 || rows == 0 {
            return Err(format!("a {rows}x{cols} matrix is not made of whole {ty} blocks of {per_block} values"));
        }
        let row_blocks = cols / per_block;
        let row_bytes = row_blocks * ty.block_bytes();
        if bytes.len() != rows * row_bytes {
            return Err(format!(
                "{} bytes cannot hold {rows}x{cols} {ty} values ({} bytes)",
                bytes.len(),
                rows * row_bytes
            ));
        }
        let chunk_bytes = |n: usize| format.device_words(n * row_blocks) as u64 * 4;
        let mut chunk_rows = rows;
        while chunk_rows > 1 && chunk_bytes(chunk_rows) > binding_limit {
            chunk_rows = chunk_rows.div_ceil(2);
        }
        if chunk_bytes(chunk_rows) > binding_limit {
            return Err(format!(
                "one row of {cols} {ty} values is larger than the device's largest buffer ({binding_limit} bytes)"
            ));
        }
        let chunks = bytes
            .chunks(chunk_rows * row_bytes)
            .map(|part| {
                let words = format.pack(part);
                let len = words.len();
                Chunk {
                    words: device.memory_persistent_allocations(TensorData::new(words, [len]), |data| {
                        Tensor::from_data(data, (device, DType::U32))
                    }),
                    rows: part.len() / row_bytes,
                }
            })
            .collect();
        Ok(BlockMatrix { rows, cols, held: Held::Device { chunks, format, schedule } })
    }

    /// Keeps `bytes` (a tensor's ggml blocks, as in [`BlockMatrix::new`]) in host memory for the
    /// CPU engine, without copying them where its kernels read the file's layout.
    pub fn on_host(
        bytes: impl AsRef<[u8]> + Send + Sync + 'static,
        ty: GgmlType,
        rows: usize,
        cols: usize,
    ) -> Result<Self, String> {
        let matrix = selene_cpu::QuantMatrix::new(bytes, ty, rows, cols).map_err(|e| e.to_string())?;
        Ok(BlockMatrix { rows, cols, held: Held::Host(Arc::new(matrix)) })
    }

    /// `[rows, cols]`.
    pub fn dims(&self) -> [usize; 2] {
        [self.rows, self.cols]
    }

    /// Bytes this matrix takes where it is held.
    pub fn device_bytes(&self) -> usize {
        match &self.held {
            Held::Device { chunks, .. } => chunks.iter().map(|c| c.words.dims()[0] * 4).sum(),
            Held::Host(matrix) => matrix.bytes(),
        }
    }

    /// How many buffers the rows are split over.
    pub fn chunks(&self) -> usize {
        match &self.held {
            Held::Device { chunks, .. } => chunks.len(),
            Held::Host(_) => 1,
        }
    }

    /// `x [tokens, cols] · Wᵀ`: `[tokens, rows]`. Up to [`TILE_M`] tokens (on a browser's
    /// software adapter, any number) the kernels multiply with the blocks; more tokens multiply
    /// with a few rows at a time expanded to f32 (`matmul.rs` says why).
    pub fn matmul(&self, x: Tensor<2>) -> Tensor<2> {
        let [tokens, cols] = x.dims();
        debug_assert_eq!(cols, self.cols);
        let (chunks, format, schedule) = match &self.held {
            Held::Device { chunks, format, schedule } => (chunks, *format, *schedule),
            Held::Host(matrix) => return host::matmul(matrix, x),
        };
        let mut parts = Vec::new();
        for chunk in chunks {
            if multiplies_blocks(schedule, tokens) {
                parts.push(matmul_blocks(x.clone(), chunk.words.clone(), format, chunk.rows, schedule));
                continue;
            }
            let step = (EXPANDED_VALUES / cols).max(1);
            for first in (0..chunk.rows).step_by(step) {
                let rows = step.min(chunk.rows - first);
                let w = dequantize_blocks(chunk.words.clone(), format, chunk.rows, first, rows, cols);
                parts.push(x.clone().matmul(w.transpose()));
            }
        }
        match parts.len() {
            1 => parts.pop().expect("one part"),
            _ => Tensor::cat(parts, 1),
        }
    }
}

/// Whether `tokens` tokens are multiplied with the blocks themselves, not with rows expanded to
/// f32 for the device's own matrix product.
fn multiplies_blocks(schedule: Schedule, tokens: usize) -> bool {
    match schedule {
        Schedule::Workgroup | Schedule::Subgroup => tokens <= TILE_M,
        // A browser's software adapter is SwiftShader, whose barriers make the tiled product
        // slower than the serial kernel at any length; natively it is lavapipe, where the tiled
        // product wins on long prompts (tools/bench/results/kernel_timing_*.txt).
        Schedule::Serial => tokens <= TILE_M || cfg!(target_family = "wasm"),
    }
}

/// Makes Burn's kernel tuning brief: for each matrix shape it times its candidate kernels, ten
/// runs each, which on a software adapter (lavapipe, SwiftShader in a browser) takes seconds to
/// minutes per shape, longer than the products it tunes. One run each among the fewest
/// candidates still picks a kernel that compiles and runs there. Call it before the first device
/// is used; it changes nothing once CubeCL's configuration is set or read (a `cubecl.toml`, a
/// device already in use).
pub fn tune_briefly() {
    use burn::cubecl::config::autotune::AutotuneLevel;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
    let mut config = CubeClRuntimeConfig::default();
    config.autotune.level = AutotuneLevel::Minimal;
    config.autotune.bench.min_samples = 1;
    config.autotune.bench.max_samples = 1;
    let _ = CubeClRuntimeConfig::try_set(config);
}

/// The fewest units that share a row in any reduction of the workgroup kernels (the
/// matrix-vector kernel's lanes): the largest subgroup [`Schedule::Subgroup`] can use.
const ROW_UNITS: usize = matmul::LANES;

/// The CPU's software Vulkan adapter (lavapipe where Mesa is installed), with Burn's tuning kept
/// brief ([`tune_briefly`]): what `--device wgpu-cpu` and the tests without a GPU run on.
pub fn software_device() -> Device {
    tune_briefly();
    Device::wgpu(DeviceKind::Cpu)
}
