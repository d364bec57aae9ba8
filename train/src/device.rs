//! The floating-point precision a run trains at, on the devices `--device` names (spelled as
//! for every other command: `selene_runtime::DeviceSpec`). A machine without the NVIDIA driver
//! gets an error that says so, never a panic.

use burn::tensor::{Device, FloatDType};
use selene_runtime::DeviceSpec;

use crate::error::{Error, Result};

/// Floating-point precision of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// bf16 where the device supports it (CUDA), else f32.
    Auto,
    F32,
    Bf16,
}

/// The (non-autodiff) devices `spec` names, main first, configured for `precision`; and the
/// precision chosen.
pub fn open(spec: &DeviceSpec, precision: Precision) -> Result<(Vec<Device>, FloatDType)> {
    let mut devices = spec.open_all().map_err(|e| Error::setting("device", e))?;
    let bf16_ok = devices.iter().all(|d| d.supports_dtype(FloatDType::BF16));
    let dtype = match precision {
        Precision::F32 => FloatDType::F32,
        Precision::Auto if matches!(spec, DeviceSpec::Cuda(_)) && bf16_ok => FloatDType::BF16,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let e = open(&"cuda".parse().unwrap(), Precision::Auto).unwrap_err();
        assert!(e.to_string().contains("feature `cuda`"), "{e}");
    }

    #[test]
    fn cpu_replicas_share_one_configured_device() {
        let (devices, dtype) = open(&"cpu:2".parse().unwrap(), Precision::Auto).unwrap();
        assert_eq!((devices.len(), dtype), (2, FloatDType::F32));
        assert_eq!(devices[0], devices[1]);
    }
}
