//! Hyper-parameters of a llama-family GGUF (`llama` and `qwen2` architectures), read from its
//! metadata under the architecture's own key prefix.

use candle_core::quantized::gguf_file::{self, Content};

use crate::attention::AttentionShape;
use crate::rope::RopeStyle;
use crate::{ModelError, Result};

/// Hyper-parameters from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// `general.architecture`: `llama` or `qwen2`.
    pub architecture: String,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Hidden size.
    pub dim: usize,
    /// Feed-forward hidden size.
    pub ffn_dim: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// Which elements RoPE rotates together (adjacent for llama, halves for qwen2).
    pub rope_style: RopeStyle,
    /// RMS norm epsilon.
    pub rms_eps: f32,
    /// Context length the model was trained for.
    pub context_length: usize,
    /// Vocabulary size (rows of the output projection).
    pub vocab_size: usize,
}

pub(crate) fn get<'a>(ct: &'a Content, key: &str) -> Result<&'a gguf_file::Value> {
    ct.metadata.get(key).ok_or_else(|| ModelError::Format(format!("GGUF metadata has no `{key}`")))
}

pub(crate) fn fmt_err(e: candle_core::Error) -> ModelError {
    ModelError::Format(e.to_string())
}

impl LlamaConfig {
    pub(crate) fn from_gguf(ct: &Content) -> Result<Self> {
        let arch = get(ct, "general.architecture")?.to_string().map_err(fmt_err)?.clone();
        let rope_style = match arch.as_str() {
            "llama" => RopeStyle::Adjacent,
            "qwen2" => RopeStyle::Halves,
            _ => {
                return Err(ModelError::Format(format!(
                    "architecture `{arch}` is not supported (llama and qwen2 are)"
                )));
            }
        };
        let u = |key: &str| -> Result<usize> {
            Ok(get(ct, &format!("{arch}.{key}"))?.to_u32().map_err(fmt_err)? as usize)
        };
        let f = |key: &str, default: f32| -> Result<f32> {
            match ct.metadata.get(&format!("{arch}.{key}")) {
                Some(v) => v.to_f32().map_err(fmt_err),
                None => Ok(default),
            }
        };
        let n_heads = u("attention.head_count")?;
        let cfg = Self {
            n_layers: u("block_count")?,
            dim: u("embedding_length")?,
            ffn_dim: u("feed_forward_length")?,
            n_heads,
            n_kv_heads: u("attention.head_count_kv").unwrap_or(n_heads),
            rope_base: f("rope.freq_base", 10_000.0)?,
            rope_style,
            rms_eps: f("attention.layer_norm_rms_epsilon", 1e-5)?,
            context_length: u("context_length")?,
            vocab_size: ct
                .tensor_infos
                .get("token_embd.weight")
                .map(|t| t.shape.dims()[0])
                .ok_or_else(|| ModelError::Format("no token_embd.weight".into()))?,
            architecture: arch,
        };
        if cfg.n_heads == 0
            || cfg.n_kv_heads == 0
            || !cfg.n_heads.is_multiple_of(cfg.n_kv_heads)
            || !cfg.dim.is_multiple_of(cfg.n_heads)
            || !cfg.head_dim().is_multiple_of(2)
        {
            return Err(ModelError::Format(format!("inconsistent head counts in {cfg:?}")));
        }
        Ok(cfg)
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.n_heads
    }

    /// Width of the key and value rows.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim()
    }

    pub(crate) fn attention_shape(&self) -> AttentionShape {
        AttentionShape { n_heads: self.n_heads, n_kv_heads: self.n_kv_heads, head_dim: self.head_dim() }
    }
}
