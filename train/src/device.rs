//! Which devices train: `cpu` (Burn's Flex backend; `cpu:N` runs N data-parallel replicas on it,
//! for testing the parallel path), `wgpu` (Vulkan, Metal or software rasterizers) or `cuda`
//! (`cuda` for every GPU, `cuda:0,1` for some), the last only in builds with the `cuda` feature.
//! A machine without the NVIDIA driver gets an error that says so, never a panic.

use burn::tensor::{Device, DeviceKind, FloatDType};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    Wgpu,
    Cuda,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceChoice {
    pub backend: Backend,
    /// `cpu:N`: replicas; `cuda:i,j`: device indices; empty for the default.
    pub indices: Vec<usize>,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (name, list) = s.split_once(':').unwrap_or((s, ""));
        let backend = match name {
            "cpu" => Backend::Cpu,
            "wgpu" => Backend::Wgpu,
            "cuda" => Backend::Cuda,
            other => return Err(format!("unknown device {other:?} (cpu, cpu:N, wgpu, cuda, cuda:0,1)")),
        };
        let indices = match list {
            "" => Vec::new(),
            l => l
                .split(',')
                .map(|i| i.trim().parse::<usize>().map_err(|_| format!("{i:?} is not a number")))
                .collect::<std::result::Result<_, _>>()?,
        };
        Ok(DeviceChoice { backend, indices })
    }
}

/// Floating-point precision of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// bf16 where the device supports it (CUDA), else f32.
    Auto,
    F32,
    Bf16,
}

impl DeviceChoice {
    /// The (non-autodiff) devices, main first, configured for `precision`; and the precision
    /// chosen.
    pub fn open(&self, precision: Precision) -> Result<(Vec<Device>, FloatDType)> {
        let mut devices = match self.backend {
            Backend::Cpu => vec![Device::flex(); self.indices.first().copied().unwrap_or(1).max(1)],
            Backend::Wgpu => vec![Device::wgpu(DeviceKind::DefaultDevice)],
            Backend::Cuda => cuda_devices(&self.indices)?,
        };
        let bf16_ok = devices.iter().all(|d| d.supports_dtype(FloatDType::BF16));
        let dtype = match precision {
            Precision::F32 => FloatDType::F32,
            Precision::Auto if self.backend == Backend::Cuda && bf16_ok => FloatDType::BF16,
            Precision::Auto => FloatDType::F32,
            Precision::Bf16 if bf16_ok => FloatDType::BF16,
            Precision::Bf16 => return Err(Error::setting("precision", "the device does not support bf16")),
        };
        // `cpu:N` replicas share one device, which can be configured only once.
        let mut configured: Vec<Device> = Vec::new();
        for device in &mut devices {
            if !configured.contains(device) {
                device.configure(dtype).map_err(|e| Error::setting("device", format!("{e:?}")))?;
                configured.push(device.clone());
            }
        }
        Ok((devices, dtype))
    }

    /// Whether GGUF block-quantized weights should be expanded at load (Flex has no quantized
    /// matrix product).
    pub fn expand_quantized(&self) -> bool {
        self.backend == Backend::Cpu
    }
}

#[cfg(feature = "cuda")]
fn cuda_devices(indices: &[usize]) -> Result<Vec<Device>> {
    let found = Device::enumerate(burn::tensor::DeviceType::Cuda).into_vec();
    if found.is_empty() {
        return Err(Error::new(
            "cuda",
            "device",
            "no CUDA device found: the NVIDIA driver (libcuda.so) is not installed or no GPU is visible \
             (check nvidia-smi and CUDA_VISIBLE_DEVICES), or choose --device cpu or wgpu",
        ));
    }
    if indices.is_empty() {
        return Ok(found);
    }
    indices
        .iter()
        .map(|&i| {
            found
                .get(i)
                .cloned()
                .ok_or_else(|| Error::new("cuda", "device", format!("no CUDA device {i}: {} found", found.len())))
        })
        .collect()
}

#[cfg(not(feature = "cuda"))]
fn cuda_devices(_: &[usize]) -> Result<Vec<Device>> {
    Err(Error::new(
        "cuda",
        "device",
        "this selene-train was built without CUDA support; rebuild with `cargo build --release -p selene-train --features cuda`",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_choices() {
        assert_eq!(
            "cuda:0,2".parse::<DeviceChoice>().unwrap(),
            DeviceChoice { backend: Backend::Cuda, indices: vec![0, 2] }
        );
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap().indices, Vec::<usize>::new());
        assert!("tpu".parse::<DeviceChoice>().unwrap_err().contains("unknown device"));
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let e = "cuda".parse::<DeviceChoice>().unwrap().open(Precision::Auto).unwrap_err();
        assert!(e.to_string().contains("--features cuda"), "{e}");
    }
}
