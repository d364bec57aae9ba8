//! Where a model runs: the one spelling of `--device` for judging, benchmarking and training.
//!
//! The default is a real GPU where the machine has one and the CPU engine otherwise. A software
//! GPU adapter (lavapipe, WARP) is slower than the CPU engine on the same cores, so it runs only
//! when named (`wgpu-cpu`); wgpu itself would otherwise fall back to it silently.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, DeviceKind, DeviceType};

use crate::error::{Result, RuntimeError};

/// A `--device` value.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// A GPU through wgpu (or CUDA in a `cuda` build) if there is one, else the CPU.
    #[default]
    Auto,
    /// The best GPU wgpu finds (Vulkan, Metal, DX12; WebGPU in a browser).
    Wgpu,
    /// wgpu on a software adapter (lavapipe, WARP): no GPU needed, slow.
    WgpuCpu,
    /// The CPU. `cpu:N` makes N replicas of it, for testing data-parallel training.
    Cpu { replicas: usize },
    /// NVIDIA GPUs through Burn's CUDA backend (cargo feature `cuda`): `cuda` is the first,
    /// `cuda:1` the second, `cuda:0,1` both (for training).
    Cuda(Vec<usize>),
}

/// The device a model runs on, and why it was chosen.
#[derive(Clone, Debug)]
pub struct ChosenDevice {
    pub device: Device,
    /// `--device`'s spelling of what was chosen (`wgpu`, `cpu`, `cuda:0`, …).
    pub name: String,
    /// Why, when it was chosen rather than named.
    pub reason: Option<&'static str>,
}

impl DeviceSpec {
    /// The one device a model for inference runs on.
    pub fn open(&self) -> Result<ChosenDevice> {
        let chosen = |spec: DeviceSpec, reason| -> Result<ChosenDevice> {
            let mut devices = spec.open_all()?;
            if devices.len() != 1 {
                return Err(RuntimeError::Invalid(format!(
                    "--device {spec} names {} devices; give one",
                    devices.len()
                )));
            }
            Ok(ChosenDevice { device: devices.remove(0), name: spec.to_string(), reason })
        };
        match self {
            DeviceSpec::Auto => {
                if has_gpu_adapter() {
                    chosen(DeviceSpec::Wgpu, Some("a GPU was found"))
                } else if cfg!(feature = "cuda") && !cuda_devices().is_empty() {
                    chosen(DeviceSpec::Cuda(vec![0]), Some("a CUDA GPU was found"))
                } else {
                    chosen(
                        DeviceSpec::Cpu { replicas: 1 },
                        Some("no GPU was found; --device wgpu-cpu names the software one"),
                    )
                }
            }
            spec => chosen(spec.clone(), None),
        }
    }

    /// Every device named (training runs one replica on each).
    pub fn open_all(&self) -> Result<Vec<Device>> {
        Ok(match self {
            DeviceSpec::Auto => vec![self.open()?.device],
            DeviceSpec::Wgpu => vec![opened(Device::wgpu(DeviceKind::DefaultDevice))],
            DeviceSpec::WgpuCpu => vec![opened(selene_kernels::software_device())],
            DeviceSpec::Cpu { replicas } => vec![Device::flex(); (*replicas).max(1)],
            DeviceSpec::Cuda(indices) => {
                let found = cuda_devices();
                if found.is_empty() {
                    return Err(RuntimeError::Invalid(NO_CUDA.into()));
                }
                let pick = |&i: &usize| {
                    found.get(i).cloned().ok_or_else(|| {
                        RuntimeError::Invalid(format!("there is no CUDA device {i}: {} found", found.len()))
                    })
                };
                indices.iter().map(pick).collect::<Result<_>>()?
            }
        })
    }
}

/// `device` with its runtime started (quietly), as it otherwise would be at its first use.
fn opened(device: Device) -> Device {
    quietly(|| selene_kernels::Compute::of(&device));
    device
}

#[cfg(feature = "cuda")]
const NO_CUDA: &str = "no CUDA device found: the NVIDIA driver (libcuda.so) is not installed or no GPU is visible \
                       (check nvidia-smi and CUDA_VISIBLE_DEVICES); choose another --device";
#[cfg(not(feature = "cuda"))]
const NO_CUDA: &str = "this build has no CUDA support: rebuild with the cargo feature `cuda`";

fn cuda_devices() -> Vec<Device> {
    #[cfg(feature = "cuda")]
    return Device::enumerate(DeviceType::Cuda).into_vec();
    #[cfg(not(feature = "cuda"))]
    Vec::new()
}

/// Whether wgpu finds an adapter with a card behind it. Listing adapters opens none of them.
fn has_gpu_adapter() -> bool {
    let software = Device::wgpu(DeviceKind::Cpu);
    quietly(|| Device::enumerate(DeviceType::Wgpu).into_vec().iter().any(|d| *d != software))
}

/// Runs `f` with the process's stderr sent to /dev/null: graphics drivers print what is no error
/// of ours while adapters are listed and opened (Mesa's `XDG_RUNTIME_DIR is invalid or not set`
/// where no display server runs), which would reach the user's terminal on every judgment.
#[cfg(unix)]
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
    // SAFETY: dup and dup2 on the process's own stderr (fd 2) and a file this function holds
    // open; the saved descriptor is restored and closed before returning.
    let saved = match &null {
        Ok(null) => unsafe {
            let saved = libc::dup(2);
            if saved >= 0 {
                libc::dup2(null.as_raw_fd(), 2);
            }
            saved
        },
        Err(_) => -1,
    };
    let out = f();
    if saved >= 0 {
        // SAFETY: `saved` is the descriptor dup() returned above.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
    }
    out
}

#[cfg(not(unix))]
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    f()
}

impl FromStr for DeviceSpec {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            RuntimeError::Invalid(format!(
                "unknown device {s:?}: use auto, wgpu, wgpu-cpu, cpu, cpu:N, cuda, cuda:N or cuda:N,M"
            ))
        };
        let (name, list) = s.split_once(':').map_or((s, None), |(n, l)| (n, Some(l)));
        let numbers = |list: &str| -> Result<Vec<usize>> {
            list.split(',').map(|n| n.trim().parse::<usize>().map_err(|_| bad())).collect()
        };
        match (name, list) {
            ("auto", None) => Ok(DeviceSpec::Auto),
            ("wgpu", None) => Ok(DeviceSpec::Wgpu),
            ("wgpu-cpu", None) => Ok(DeviceSpec::WgpuCpu),
            ("cpu", None) => Ok(DeviceSpec::Cpu { replicas: 1 }),
            ("cpu", Some(n)) => match numbers(n)?.as_slice() {
                [n] if *n > 0 => Ok(DeviceSpec::Cpu { replicas: *n }),
                _ => Err(bad()),
            },
            ("cuda", None) => Ok(DeviceSpec::Cuda(vec![0])),
            ("cuda", Some(list)) => Ok(DeviceSpec::Cuda(numbers(list)?)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Wgpu => f.write_str("wgpu"),
            DeviceSpec::WgpuCpu => f.write_str("wgpu-cpu"),
            DeviceSpec::Cpu { replicas: 1 } => f.write_str("cpu"),
            DeviceSpec::Cpu { replicas } => write!(f, "cpu:{replicas}"),
            DeviceSpec::Cuda(indices) => {
                let list: Vec<String> = indices.iter().map(usize::to_string).collect();
                write!(f, "cuda:{}", list.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for s in ["auto", "wgpu", "wgpu-cpu", "cpu", "cpu:3", "cuda:0", "cuda:0,2"] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap().to_string(), s);
        }
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(vec![0]));
        for bad in ["tpu", "cuda:x", "cpu:0", "wgpu:1", "cpu:1,2", ""] {
            assert!(bad.parse::<DeviceSpec>().unwrap_err().to_string().contains("unknown device"), "{bad}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let e = DeviceSpec::Cuda(vec![0]).open().unwrap_err();
        assert!(e.to_string().contains("feature `cuda`"), "{e}");
    }

    /// On a machine whose only wgpu adapter is software (CI, this project's machines), the
    /// default is the CPU, and it says why.
    #[test]
    fn auto_passes_over_a_software_adapter() {
        if has_gpu_adapter() {
            return;
        }
        let chosen = DeviceSpec::Auto.open().unwrap();
        assert_eq!(chosen.name, "cpu");
        assert!(chosen.reason.unwrap().contains("no GPU"));
    }
}
