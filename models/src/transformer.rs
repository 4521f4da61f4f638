//! A loaded chat transformer on its device: Wick's CPU kernels or a candle device.

use crate::Result;
use crate::config::LlamaConfig;
use crate::device_llama::DeviceLlama;
use crate::generate::CPU_NUMERIC_CLASS;
use crate::kv_cache::KvCache;
use crate::llama::{BatchItem, Llama};

/// The forward pass of a chat model, wherever it runs.
pub enum Transformer {
    /// Wick's own kernels over the memory-mapped weights.
    Cpu(Llama),
    /// Weights, activations and caches on a candle device (a GPU).
    Device(DeviceLlama),
}

impl Transformer {
    /// Runs the new tokens of every item through the model, appending to their caches, and
    /// returns the last-token logits of the items that asked for them (in item order).
    pub fn forward(&self, items: &mut [BatchItem<'_>]) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Cpu(m) => m.forward(items),
            Self::Device(m) => m.forward(items),
        }
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        match self {
            Self::Cpu(m) => m.config(),
            Self::Device(m) => m.config(),
        }
    }

    /// Longest sequence (prompt plus output) this instance accepts.
    pub fn max_context(&self) -> usize {
        match self {
            Self::Cpu(m) => m.max_context(),
            Self::Device(m) => m.max_context(),
        }
    }

    /// A fresh cache for a new sequence (a device cache is allocated at its first append).
    pub fn new_cache(&self) -> KvCache {
        match self {
            Self::Cpu(m) => m.new_cache(),
            Self::Device(_) => KvCache::default(),
        }
    }

    /// The numeric class of the outputs.
    pub fn numeric_class(&self) -> &str {
        match self {
            Self::Cpu(_) => CPU_NUMERIC_CLASS,
            Self::Device(m) => m.numeric_class(),
        }
    }
}
