//! Sentence embeddings: BERT, mean pooling over real tokens, L2 normalisation.

use candle_core::{DType, Device, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{Bert, BertConfig};
use crate::store::{InstalledModel, ModelId};
use crate::{ModelError, Result};

/// Longest input the sentence-transformers model was trained with; longer inputs are truncated.
pub const MAX_INPUT_TOKENS: usize = 256;

/// An embedding model ready to encode text.
pub struct Embedder {
    id: ModelId,
    name: String,
    bert: Bert,
    tokenizer: Tokenizer,
}

impl Embedder {
    /// Loads an installed BERT model, verifying its files first.
    pub fn load(model: &InstalledModel) -> Result<Self> {
        let weights = model.read_verified("model.safetensors")?;
        let config: BertConfig = serde_json::from_slice(&model.read_verified("config.json")?)
            .map_err(|e| ModelError::Format(format!("config.json: {e}")))?;
        let mut tokenizer = Tokenizer::from_bytes(model.read_verified("tokenizer.json")?)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let max = MAX_INPUT_TOKENS.min(config.max_position_embeddings);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max, ..Default::default() }))
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let bert = Bert::load(weights, config)?;
        Ok(Self { id: model.id(), name: model.entry.name.to_string(), bert, tokenizer })
    }

    /// The network id (sha256 of the weights).
    pub fn id(&self) -> &ModelId {
        &self.id
    }

    /// The catalog name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counts the tokens of `text` as the model sees it (after truncation).
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.tokenizer.encode(text, true).map_err(|e| ModelError::Tokenizer(e.to_string()))?.len())
    }

    /// Unit-length embeddings of `texts`, one per input, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let seq = encodings.iter().map(|e| e.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(texts.len() * seq);
        let mut mask = Vec::with_capacity(texts.len() * seq);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            ids.resize(ids.len() + seq - e.len(), 0);
            mask.extend(std::iter::repeat_n(1u32, e.len()));
            mask.resize(mask.len() + seq - e.len(), 0);
        }
        let device = Device::Cpu;
        let ids = Tensor::from_vec(ids, (texts.len(), seq), &device)?;
        let mask = Tensor::from_vec(mask, (texts.len(), seq), &device)?;
        let hidden = self.bert.forward(&ids, &mask)?;
        let maskf = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&maskf)?.sum(1)?;
        let counts = maskf.sum(1)?.clamp(1.0, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norm)?.to_vec2()?)
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
