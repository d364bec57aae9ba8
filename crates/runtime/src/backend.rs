//! Which device a model runs on.
//!
//! wgpu is the default (Vulkan, Metal or DX12 natively, WebGPU in a browser); CUDA is a cargo
//! feature; Burn's Flex CPU backend is the reference. On a machine with no GPU, `wgpu-cpu` names
//! the software Vulkan driver (lavapipe), which wgpu otherwise passes over.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, DeviceKind};

use crate::error::{Result, RuntimeError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The best GPU wgpu finds.
    Wgpu,
    /// wgpu on a software adapter (lavapipe, WARP): slow, but no GPU needed.
    WgpuCpu,
    /// Burn's Flex backend on the CPU: the reference implementation.
    Cpu,
    /// NVIDIA GPU `n` through Burn's CUDA backend (cargo feature `cuda`).
    Cuda(usize),
}

impl Backend {
    pub fn device(self) -> Result<Device> {
        Ok(match self {
            Backend::Wgpu => Device::wgpu(DeviceKind::DefaultDevice),
            Backend::WgpuCpu => selene_kernels::software_device(),
            Backend::Cpu => Device::flex(),
            #[cfg(feature = "cuda")]
            Backend::Cuda(n) => Device::cuda(n),
            #[cfg(not(feature = "cuda"))]
            Backend::Cuda(_) => {
                return Err(RuntimeError::Invalid("this build has no CUDA support (cargo feature `cuda`)".into()));
            }
        })
    }
}

impl FromStr for Backend {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "wgpu" => Ok(Backend::Wgpu),
            "wgpu-cpu" => Ok(Backend::WgpuCpu),
            "cpu" => Ok(Backend::Cpu),
            "cuda" => Ok(Backend::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(n)) => Ok(Backend::Cuda(n)),
                _ => {
                    Err(RuntimeError::Invalid(format!("unknown device {s:?}: use wgpu, wgpu-cpu, cpu, cuda or cuda:N")))
                }
            },
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Wgpu => f.write_str("wgpu"),
            Backend::WgpuCpu => f.write_str("wgpu-cpu"),
            Backend::Cpu => f.write_str("cpu"),
            Backend::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}
