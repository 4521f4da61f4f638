//! The llama-family transformer read from GGUF, with a forward pass over a batch of sequences.
//!
//! Each sequence owns its [`KvCache`]; one call runs any mix of prefill chunks and single decode
//! tokens. Projections run on all rows of the batch at once (each output row depends on its own
//! input row only), attention runs per sequence over its own cache (`attention` module), so a
//! sequence's logits do not depend on what else is in the batch.

use std::io::Cursor;

use candle_core::Device;
use candle_core::quantized::gguf_file::{self, Content};
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use crate::attention::{self, AttentionShape, CacheView};
use crate::kernels::{QMatrix, matmul_group, quantize_rows};
use crate::{ModelError, Result};

/// How quantized projection weights are kept in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// As stored in the GGUF (Q4_1 and Q8_0 have kernels; other types become Q8_0).
    #[default]
    Native,
    /// Everything requantized to Q8_0 at load.
    Q8_0,
}

/// Hyper-parameters from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
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
    /// RMS norm epsilon.
    pub rms_eps: f32,
    /// Context length the model was trained for.
    pub context_length: usize,
    /// Vocabulary size (rows of the output projection).
    pub vocab_size: usize,
}

impl LlamaConfig {
    fn from_gguf(ct: &Content) -> Result<Self> {
        let arch = get(ct, "general.architecture")?.to_string().map_err(fmt_err)?.clone();
        if arch != "llama" {
            return Err(ModelError::Format(format!("architecture `{arch}` is not supported (llama only)")));
        }
        let u = |key: &str| -> Result<usize> {
            Ok(get(ct, &format!("llama.{key}"))?.to_u32().map_err(fmt_err)? as usize)
        };
        let f = |key: &str, default: f32| -> Result<f32> {
            match ct.metadata.get(&format!("llama.{key}")) {
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
            rms_eps: f("attention.layer_norm_rms_epsilon", 1e-5)?,
            context_length: u("context_length")?,
            vocab_size: ct
                .tensor_infos
                .get("token_embd.weight")
                .map(|t| t.shape.dims()[0])
                .ok_or_else(|| ModelError::Format("no token_embd.weight".into()))?,
        };
        if cfg.n_heads == 0
            || cfg.n_kv_heads == 0
            || !cfg.n_heads.is_multiple_of(cfg.n_kv_heads)
            || !cfg.dim.is_multiple_of(cfg.n_heads)
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

    fn attention_shape(&self) -> AttentionShape {
        AttentionShape { n_heads: self.n_heads, n_kv_heads: self.n_kv_heads, head_dim: self.head_dim() }
    }
}

fn get<'a>(ct: &'a Content, key: &str) -> Result<&'a gguf_file::Value> {
    ct.metadata.get(key).ok_or_else(|| ModelError::Format(format!("GGUF metadata has no `{key}`")))
}

fn fmt_err(e: candle_core::Error) -> ModelError {
    ModelError::Format(e.to_string())
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: QMatrix,
    wk: QMatrix,
    wv: QMatrix,
    wo: QMatrix,
    ffn_norm: Vec<f32>,
    w_gate: QMatrix,
    w_up: QMatrix,
    w_down: QMatrix,
}

/// A loaded llama model.
pub struct Llama {
    config: LlamaConfig,
    embeddings: QMatrix,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    /// `None` when the output projection is tied to the embeddings.
    output: Option<QMatrix>,
    rope: RopeTable,
    /// Runs the whole forward pass, so the kernels' parallel loops start from a pool thread
    /// (which joins the work) instead of handing off from the caller hundreds of times a step.
    pool: rayon::ThreadPool,
}

/// The keys and values one sequence has produced so far, per layer, `[pos][kv_head][dim]`, in
/// f16 (as llama.cpp keeps them): half the memory of f32, read back exactly as stored.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<(Vec<f16>, Vec<f16>)>,
    len: usize,
}

/// Positions a cache grows by: exact pages instead of doubling, so eight 2k-token sequences do
/// not hold room for 4k each.
const KV_PAGE: usize = 128;

/// Appends rows to a cache layer, growing it a page at a time.
fn append_f16(cache: &mut Vec<f16>, rows: &[f32], row_width: usize) {
    let needed = cache.len() + rows.len();
    if needed > cache.capacity() {
        let positions = needed / row_width;
        let target = positions.div_ceil(KV_PAGE) * KV_PAGE * row_width;
        cache.reserve_exact(target - cache.len());
    }
    let start = cache.len();
    cache.resize(needed, f16::ZERO);
    cache[start..].convert_from_f32_slice(rows);
}

impl KvCache {
    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first forward pass.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of the first `len` positions: a position's keys and values depend only on the
    /// tokens up to it, so another sequence with the same first `len` tokens can start from it
    /// and get bit-identical results.
    pub fn prefix(&self, len: usize) -> KvCache {
        let len = len.min(self.len);
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| {
                let width = k.len() / self.len.max(1);
                (k[..len * width].to_vec(), v[..len * width].to_vec())
            })
            .collect();
        KvCache { layers, len }
    }

    /// Bytes held by the cache.
    pub fn memory_bytes(&self) -> usize {
        self.layers.iter().map(|(k, v)| (k.capacity() + v.capacity()) * 2).sum()
    }
}

/// One sequence's share of a batched forward pass.
pub struct BatchItem<'a> {
    /// The sequence's cache; the new tokens are appended to it.
    pub cache: &'a mut KvCache,
    /// New tokens, at positions `cache.len()..`.
    pub tokens: &'a [u32],
    /// Whether to return logits for the last token.
    pub want_logits: bool,
}

struct RopeTable {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl RopeTable {
    fn new(head_dim: usize, base: f32, positions: usize) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for pos in 0..positions {
            for i in 0..half {
                let freq = 1.0 / base.powf((2 * i) as f32 / head_dim as f32);
                let angle = pos as f32 * freq;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Self { cos, sin, half }
    }

    /// Rotates adjacent pairs of every head of `row` (GGML's "normal" RoPE, which GGUF llama
    /// weights are permuted for).
    fn apply(&self, row: &mut [f32], pos: usize, head_dim: usize) {
        let cos = &self.cos[pos * self.half..][..self.half];
        let sin = &self.sin[pos * self.half..][..self.half];
        for head in row.chunks_exact_mut(head_dim) {
            for i in 0..self.half {
                let (x0, x1) = (head[2 * i], head[2 * i + 1]);
                head[2 * i] = x0 * cos[i] - x1 * sin[i];
                head[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}

impl Llama {
    /// Loads the model from the bytes of a GGUF file; `max_context` bounds positions.
    pub fn from_gguf(bytes: &[u8], format: WeightFormat, max_context: usize) -> Result<(Self, Content)> {
        let device = Device::Cpu;
        let mut reader = Cursor::new(bytes);
        let ct = Content::read(&mut reader).map_err(|e| ModelError::Format(format!("reading GGUF: {e}")))?;
        let config = LlamaConfig::from_gguf(&ct)?;
        let mut tensor = |name: &str| -> Result<QTensor> {
            ct.tensor(&mut reader, name, &device)
                .map_err(|e| ModelError::Format(format!("tensor {name}: {e}")))
        };
        let vector =
            |t: QTensor| -> Result<Vec<f32>> { Ok(t.dequantize(&device)?.flatten_all()?.to_vec1()?) };
        let matmul = |t: QTensor| -> Result<QMatrix> {
            let t = match (format, t.dtype()) {
                (WeightFormat::Q8_0, dtype) if dtype != GgmlDType::Q8_0 => {
                    QTensor::quantize(&t.dequantize(&device)?, GgmlDType::Q8_0)?
                }
                _ => t,
            };
            QMatrix::from_qtensor(&t)
        };
        let embeddings = matmul(tensor("token_embd.weight")?)?;
        let mut layers = Vec::with_capacity(config.n_layers);
        for i in 0..config.n_layers {
            let mut t = |suffix: &str| tensor(&format!("blk.{i}.{suffix}.weight"));
            layers.push(Layer {
                attn_norm: vector(t("attn_norm")?)?,
                wq: matmul(t("attn_q")?)?,
                wk: matmul(t("attn_k")?)?,
                wv: matmul(t("attn_v")?)?,
                wo: matmul(t("attn_output")?)?,
                ffn_norm: vector(t("ffn_norm")?)?,
                w_gate: matmul(t("ffn_gate")?)?,
                w_up: matmul(t("ffn_up")?)?,
                w_down: matmul(t("ffn_down")?)?,
            });
        }
        let output_norm = vector(tensor("output_norm.weight")?)?;
        // Tied embeddings when the file has no separate output matrix.
        // Checked by name: a failed lookup builds an error, and with RUST_BACKTRACE set that
        // symbolises a backtrace, which maps the binary's debug info into memory for good.
        let output = if ct.tensor_infos.contains_key("output.weight") {
            Some(matmul(tensor("output.weight")?)?)
        } else {
            None
        };
        let positions = max_context.min(config.context_length).max(1);
        let rope = RopeTable::new(config.head_dim(), config.rope_base, positions);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("wick-compute-{i}"))
            .build()
            .map_err(|e| ModelError::Format(format!("starting compute threads: {e}")))?;
        let model = Self { config, embeddings, layers, output_norm, output, rope, pool };
        Ok((model, ct))
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Longest sequence (prompt plus output) this instance accepts.
    pub fn max_context(&self) -> usize {
        self.rope.cos.len() / self.rope.half
    }

    /// A fresh cache for a new sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache { layers: vec![(Vec::new(), Vec::new()); self.config.n_layers], len: 0 }
    }

    fn project(&self, w: &QMatrix, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        Ok(w.matmul(x, rows))
    }

    /// Runs the new tokens of every item through the model, appending to their caches, and
    /// returns the last-token logits of the items that asked for them (in item order).
    pub fn forward(&self, items: &mut [BatchItem<'_>]) -> Result<Vec<Vec<f32>>> {
        self.pool.install(|| self.forward_on_pool(items))
    }

    fn forward_on_pool(&self, items: &mut [BatchItem<'_>]) -> Result<Vec<Vec<f32>>> {
        let cfg = &self.config;
        let (dim, kv_dim, hd) = (cfg.dim, cfg.kv_dim(), cfg.head_dim());
        // (item, position) of every row.
        let mut rows: Vec<(usize, usize)> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for (i, item) in items.iter_mut().enumerate() {
            let start = item.cache.len;
            if start + item.tokens.len() > self.max_context() {
                return Err(ModelError::InvalidArgument(format!(
                    "sequence of {} tokens exceeds the context limit of {}",
                    start + item.tokens.len(),
                    self.max_context()
                )));
            }
            if let Some(&bad) = item.tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
                return Err(ModelError::InvalidArgument(format!("token id {bad} is outside the vocabulary")));
            }
            rows.extend((0..item.tokens.len()).map(|t| (i, start + t)));
            ids.extend_from_slice(item.tokens);
            if item.cache.layers.len() != cfg.n_layers {
                *item.cache = self.new_cache();
            }
        }
        let n = rows.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut x: Vec<f32> = ids.iter().flat_map(|&id| self.embeddings.row(id as usize)).collect();
        let mut h = vec![0f32; n * dim];
        let mut attn = vec![0f32; n * dim];
        for (l, layer) in self.layers.iter().enumerate() {
            attention::rms_norm(&x, &layer.attn_norm, cfg.rms_eps, &mut h);
            let hq = quantize_rows(&h, dim);
            let [mut q, mut k, v]: [Vec<f32>; 3] = matmul_group(&[&layer.wq, &layer.wk, &layer.wv], &hq, n)
                .try_into()
                .map_err(|_| ModelError::Format("projection group".into()))?;
            for (r, &(_, pos)) in rows.iter().enumerate() {
                self.rope.apply(&mut q[r * dim..][..dim], pos, hd);
                self.rope.apply(&mut k[r * kv_dim..][..kv_dim], pos, hd);
            }
            let mut offset = 0;
            for item in items.iter_mut() {
                let t = item.tokens.len();
                let (kc, vc) = &mut item.cache.layers[l];
                append_f16(kc, &k[offset * kv_dim..(offset + t) * kv_dim], kv_dim);
                append_f16(vc, &v[offset * kv_dim..(offset + t) * kv_dim], kv_dim);
                offset += t;
            }
            let caches: Vec<(&[f16], &[f16])> = items
                .iter()
                .map(|it| (it.cache.layers[l].0.as_slice(), it.cache.layers[l].1.as_slice()))
                .collect();
            let shape = cfg.attention_shape();
            attn.par_chunks_mut(hd).enumerate().for_each_init(Vec::new, |scores, (idx, out)| {
                let (row, head) = (idx / cfg.n_heads, idx % cfg.n_heads);
                let (item, pos) = rows[row];
                let (kc, vc) = caches[item];
                let q_head = &q[row * dim + head * hd..][..hd];
                attention::attend_head(
                    shape,
                    q_head,
                    head,
                    CacheView { k: kc, v: vc, len: pos + 1 },
                    scores,
                    out,
                );
            });
            let o = self.project(&layer.wo, &attn, n)?;
            add_assign(&mut x, &o);
            attention::rms_norm(&x, &layer.ffn_norm, cfg.rms_eps, &mut h);
            let hq = quantize_rows(&h, dim);
            let [mut gate, up]: [Vec<f32>; 2] = matmul_group(&[&layer.w_gate, &layer.w_up], &hq, n)
                .try_into()
                .map_err(|_| ModelError::Format("projection group".into()))?;
            for (g, u) in gate.iter_mut().zip(&up) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
            let down = self.project(&layer.w_down, &gate, n)?;
            add_assign(&mut x, &down);
        }
        for item in items.iter_mut() {
            item.cache.len += item.tokens.len();
        }
        // Logits only for the last row of the items that want them.
        let mut last_rows = Vec::new();
        let mut end = 0;
        for item in items.iter() {
            end += item.tokens.len();
            if item.want_logits && !item.tokens.is_empty() {
                last_rows.extend_from_slice(&x[(end - 1) * dim..end * dim]);
            }
        }
        if last_rows.is_empty() {
            return Ok(Vec::new());
        }
        let m = last_rows.len() / dim;
        let mut normed = vec![0f32; last_rows.len()];
        attention::rms_norm(&last_rows, &self.output_norm, cfg.rms_eps, &mut normed);
        let logits = self.project(self.output.as_ref().unwrap_or(&self.embeddings), &normed, m)?;
        Ok(logits.chunks_exact(cfg.vocab_size).map(<[f32]>::to_vec).collect())
    }
}

fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
