//! BERT encoder (the all-MiniLM family) on candle, loaded from safetensors and config.json.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use crate::{ModelError, Result};

/// The fields of a Hugging Face BERT config.json that the encoder needs.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Feed-forward size.
    pub intermediate_size: usize,
    /// Longest input in tokens.
    pub max_position_embeddings: usize,
    /// Token type vocabulary.
    pub type_vocab_size: usize,
    /// Layer norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Activation; only GELU variants are supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    norm: LayerNorm,
    heads: usize,
}

struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
}

/// A BERT encoder.
pub struct Bert {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
}

fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(size, candle_nn::LayerNormConfig { eps, ..Default::default() }, vb)
}

impl Bert {
    /// Loads from safetensors bytes and a parsed config.
    pub fn load(safetensors: Vec<u8>, config: BertConfig) -> Result<Self> {
        if !config.hidden_act.starts_with("gelu") {
            return Err(ModelError::Format(format!("activation {} is not supported", config.hidden_act)));
        }
        let vb = VarBuilder::from_buffered_safetensors(safetensors, DType::F32, &Device::Cpu)?;
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let emb = vb.pp("embeddings");
        let word = candle_nn::embedding(config.vocab_size, h, emb.pp("word_embeddings"))?;
        let position =
            candle_nn::embedding(config.max_position_embeddings, h, emb.pp("position_embeddings"))?;
        let token_type = candle_nn::embedding(config.type_vocab_size, h, emb.pp("token_type_embeddings"))?;
        let norm = layer_norm(emb.pp("LayerNorm"), h, eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let vb = vb.pp(format!("encoder.layer.{i}"));
            let att = vb.pp("attention");
            layers.push(Layer {
                attention: Attention {
                    query: candle_nn::linear(h, h, att.pp("self.query"))?,
                    key: candle_nn::linear(h, h, att.pp("self.key"))?,
                    value: candle_nn::linear(h, h, att.pp("self.value"))?,
                    output: candle_nn::linear(h, h, att.pp("output.dense"))?,
                    norm: layer_norm(att.pp("output.LayerNorm"), h, eps)?,
                    heads: config.num_attention_heads,
                },
                intermediate: candle_nn::linear(h, config.intermediate_size, vb.pp("intermediate.dense"))?,
                output: candle_nn::linear(config.intermediate_size, h, vb.pp("output.dense"))?,
                norm: layer_norm(vb.pp("output.LayerNorm"), h, eps)?,
            });
        }
        Ok(Self { word, position, token_type, norm, layers })
    }

    /// Hidden states `(batch, seq, hidden)` for padded `ids` with `mask` (1 = token, 0 = pad),
    /// both `(batch, seq)` u32.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (batch, seq) = ids.dims2()?;
        let positions =
            Tensor::arange(0u32, seq as u32, ids.device())?.unsqueeze(0)?.broadcast_as((batch, seq))?;
        let types = ids.zeros_like()?;
        let x = (self.word.forward(ids)? + self.position.forward(&positions)?)?;
        let mut x = self.norm.forward(&(x + self.token_type.forward(&types)?)?)?;
        // Additive mask: 0 for tokens, a large negative number for padding.
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((batch, 1, 1, seq))?;
        for layer in &self.layers {
            x = layer.forward(&x, &bias)?;
        }
        Ok(x)
    }
}

impl Layer {
    fn forward(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let attended = self.attention.forward(x, bias)?;
        let inner = self.intermediate.forward(&attended)?.gelu_erf()?;
        Ok(self.norm.forward(&(self.output.forward(&inner)? + attended)?)?)
    }
}

impl Attention {
    fn forward(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (b, s, h) = x.dims3()?;
        let hd = h / self.heads;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((b, s, self.heads, hd))?.transpose(1, 2)?.contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, s, h))?;
        Ok(self.norm.forward(&(self.output.forward(&ctx)? + x)?)?)
    }
}
