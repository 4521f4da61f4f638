//! Where a chat model runs: Wick's own CPU kernels, or a CUDA GPU through candle.
//!
//! The device decides the numeric class of a worker's outputs. The CPU kernels give the same
//! bits on every x86-64 machine; a GPU's float order depends on its architecture and, through
//! cuBLAS's kernel choice, on its number of multiprocessors, so a GPU class names both.

use std::fmt;
use std::str::FromStr;

use crate::{ModelError, Result};

/// A device a chat model can run on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ComputeDevice {
    /// Wick's deterministic CPU kernels over the memory-mapped weights.
    #[default]
    Cpu,
    /// The CUDA GPU of this ordinal, through candle's CUDA backend.
    Cuda(usize),
    /// The GPU code path on candle's CPU backend, weights dequantized to f32: checks that path's
    /// graph (and a worker serving from it) on a machine without a GPU. Slow; its own numeric
    /// class.
    CandleCpu,
}

/// The numeric class of the GPU code path on candle's CPU backend.
pub const CANDLE_CPU_CLASS: &str = "candle-cpu-v1";

impl FromStr for ComputeDevice {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            ModelError::InvalidArgument(format!(
                "unknown device `{s}`: expected `cpu`, `cuda`, `cuda:N` or `candle-cpu`"
            ))
        };
        match s.trim() {
            "cpu" => Ok(Self::Cpu),
            "candle-cpu" => Ok(Self::CandleCpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => {
                let n = other.strip_prefix("cuda:").ok_or_else(bad)?;
                n.parse::<usize>().map(Self::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for ComputeDevice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::CandleCpu => f.write_str("candle-cpu"),
        }
    }
}

impl ComputeDevice {
    /// Opens a GPU as a candle device with its numeric class; `None` for the CPU, whose
    /// kernels are Wick's own.
    pub fn open(&self) -> Result<Option<(candle_core::Device, String)>> {
        match self {
            Self::Cpu => Ok(None),
            Self::Cuda(n) => open_cuda(*n).map(Some),
            Self::CandleCpu => Ok(Some((candle_core::Device::Cpu, CANDLE_CPU_CLASS.to_string()))),
        }
    }
}

/// The numeric class of a CUDA device: `cuda-<major>.<minor>-<multiprocessors>sm`.
pub fn cuda_class(major: i32, minor: i32, multiprocessors: i32) -> String {
    format!("cuda-{major}.{minor}-{multiprocessors}sm")
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<(candle_core::Device, String)> {
    use candle_core::cuda_backend::cudarc::driver::sys::CUdevice_attribute;
    let no_gpu = |e: &dyn fmt::Display| {
        ModelError::InvalidArgument(format!(
            "cannot open CUDA device {ordinal}: {e} (is there an NVIDIA GPU and driver? `nvidia-smi` lists them)"
        ))
    };
    let device = candle_core::Device::new_cuda(ordinal).map_err(|e| no_gpu(&e))?;
    let candle_core::Device::Cuda(cuda) = &device else {
        return Err(no_gpu(&"candle returned another device"));
    };
    let ctx = cuda.cuda_stream().context().clone();
    let (major, minor) = ctx.compute_capability().map_err(|e| no_gpu(&e))?;
    let sms = ctx
        .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .map_err(|e| no_gpu(&e))?;
    Ok((device, cuda_class(major, minor, sms)))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(ordinal: usize) -> Result<(candle_core::Device, String)> {
    Err(ModelError::InvalidArgument(format!(
        "device cuda:{ordinal} needs a build with CUDA: run `scripts/setup.sh --cuda`, then build with \
         `cargo build --release --features cuda`"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        assert_eq!("cpu".parse::<ComputeDevice>().expect("parses"), ComputeDevice::Cpu);
        assert_eq!("cuda".parse::<ComputeDevice>().expect("parses"), ComputeDevice::Cuda(0));
        assert_eq!("cuda:3".parse::<ComputeDevice>().expect("parses"), ComputeDevice::Cuda(3));
        assert_eq!("candle-cpu".parse::<ComputeDevice>().expect("parses"), ComputeDevice::CandleCpu);
        assert_eq!(ComputeDevice::Cuda(3).to_string(), "cuda:3");
        for bad in ["", "tpu", "cuda:", "cuda:x", "cuda:-1", "cuda:1:2"] {
            let e = bad.parse::<ComputeDevice>().expect_err("refused").to_string();
            assert!(e.contains("expected `cpu`"), "{bad}: {e}");
        }
    }

    #[test]
    fn classes_name_architecture_and_multiprocessors() {
        assert_eq!(cuda_class(8, 6, 82), "cuda-8.6-82sm");
        assert_eq!(crate::CPU_NUMERIC_CLASS, "cpu-v1");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_cpu_build_refuses_cuda_and_says_how_to_get_it() {
        let e = ComputeDevice::Cuda(0).open().expect_err("refused").to_string();
        assert!(e.contains("--features cuda"), "{e}");
    }
}
