//! The llama-family transformer (the `llama` and `qwen2` architectures) read from GGUF, with a
//! forward pass over a batch of sequences.
//!
//! The projections read the GGUF's quantized blocks where they lie in the memory-mapped file
//! (`kernels`). Each sequence owns its [`KvCache`]; one call runs any mix of prefill chunks and
//! single decode tokens. Projections run on all rows of the batch at once (each output row
//! depends on its own input row only), attention runs per sequence over its own cache
//! (`attention` module), so a sequence's logits do not depend on what else is in the batch.
//!
//! qwen2 differs from llama in three places, all read from the file: biases on the query, key
//! and value projections, RoPE over the two halves of a head instead of adjacent pairs, and its
//! own hyper-parameter keys (`qwen2.*`).

use std::io::Cursor;

use candle_core::Device;
use candle_core::quantized::gguf_file::Content;
use half::f16;
use rayon::prelude::*;

use crate::attention::{self, CacheView};
use crate::kernels::{QMatrix, matmul_group, quantize_rows};
use crate::rope::RopeTable;
use crate::weights::Bytes;
use crate::{ModelError, Result};

pub use crate::config::LlamaConfig;
pub use crate::kv_cache::KvCache;
pub use crate::rope::RopeStyle;

/// One transformer block's weights, whatever holds them: `M` a projection, `V` a vector (norm
/// weights, biases). The CPU kernels and the device path read the same GGUF names.
pub(crate) struct Layer<M, V> {
    pub(crate) attn_norm: V,
    pub(crate) wq: M,
    pub(crate) wk: M,
    pub(crate) wv: M,
    /// qwen2's biases of the query, key and value projections.
    pub(crate) qkv_bias: Option<[V; 3]>,
    pub(crate) wo: M,
    pub(crate) ffn_norm: V,
    pub(crate) w_gate: M,
    pub(crate) w_up: M,
    pub(crate) w_down: M,
}

/// Reads a GGUF file's tensors in the form one backend computes with.
pub(crate) trait WeightSource {
    type Matrix;
    type Vector;

    /// Whether the file has the tensor.
    fn has(&self, name: &str) -> bool;
    /// A projection matrix.
    fn matrix(&self, name: &str) -> Result<Self::Matrix>;
    /// A small tensor (norm weights, biases).
    fn vector(&self, name: &str) -> Result<Self::Vector>;

    /// Block `i`'s weights.
    fn layer(&self, i: usize) -> Result<Layer<Self::Matrix, Self::Vector>> {
        let name = |suffix: &str| format!("blk.{i}.{suffix}");
        let qkv_bias = if self.has(&name("attn_q.bias")) {
            Some([
                self.vector(&name("attn_q.bias"))?,
                self.vector(&name("attn_k.bias"))?,
                self.vector(&name("attn_v.bias"))?,
            ])
        } else {
            None
        };
        Ok(Layer {
            attn_norm: self.vector(&name("attn_norm.weight"))?,
            wq: self.matrix(&name("attn_q.weight"))?,
            wk: self.matrix(&name("attn_k.weight"))?,
            wv: self.matrix(&name("attn_v.weight"))?,
            qkv_bias,
            wo: self.matrix(&name("attn_output.weight"))?,
            ffn_norm: self.vector(&name("ffn_norm.weight"))?,
            w_gate: self.matrix(&name("ffn_gate.weight"))?,
            w_up: self.matrix(&name("ffn_up.weight"))?,
            w_down: self.matrix(&name("ffn_down.weight"))?,
        })
    }
}

/// A loaded llama-family model.
pub struct Llama {
    config: LlamaConfig,
    embeddings: QMatrix,
    layers: Vec<Layer<QMatrix, Vec<f32>>>,
    output_norm: Vec<f32>,
    /// `None` when the output projection is tied to the embeddings.
    output: Option<QMatrix>,
    rope: RopeTable,
    /// Runs the whole forward pass, so the kernels' parallel loops start from a pool thread
    /// (which joins the work) instead of handing off from the caller hundreds of times a step.
    pool: rayon::ThreadPool,
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

/// The tensors of a GGUF file held in `bytes`.
struct Tensors<'a> {
    ct: &'a Content,
    bytes: &'a Bytes,
}

impl WeightSource for Tensors<'_> {
    type Matrix = QMatrix;
    type Vector = Vec<f32>;

    fn has(&self, name: &str) -> bool {
        self.ct.tensor_infos.contains_key(name)
    }

    /// A weight matrix, read in place when a kernel reads its type, else requantized to Q8_0.
    fn matrix(&self, name: &str) -> Result<QMatrix> {
        let info = self
            .ct
            .tensor_infos
            .get(name)
            .ok_or_else(|| ModelError::Format(format!("GGUF has no tensor {name}")))?;
        let (n, k) = info.shape.dims2()?;
        let dtype = info.ggml_dtype;
        let start = usize::try_from(self.ct.tensor_data_offset + info.offset)
            .map_err(|_| ModelError::Format(format!("tensor {name} lies beyond the address space")))?;
        let len = info.shape.elem_count() / dtype.block_size() * dtype.type_size();
        let bytes = self.bytes.slice(start, len)?;
        match QMatrix::from_bytes(bytes, dtype, n, k) {
            Ok(Some(q)) => Ok(q),
            Ok(None) => QMatrix::from_qtensor(&self.read(name)?),
            Err(e) => Err(ModelError::Format(format!("tensor {name}: {e}"))),
        }
    }

    /// A small tensor (norm weights, biases) as f32.
    fn vector(&self, name: &str) -> Result<Vec<f32>> {
        Ok(self.read(name)?.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1()?)
    }
}

impl Tensors<'_> {
    fn read(&self, name: &str) -> Result<candle_core::quantized::QTensor> {
        let mut reader = Cursor::new(self.bytes.as_slice());
        self.ct
            .tensor(&mut reader, name, &Device::Cpu)
            .map_err(|e| ModelError::Format(format!("tensor {name}: {e}")))
    }
}

impl Llama {
    /// Loads the model from a GGUF file's bytes (usually its memory map, which the weights keep
    /// reading); `max_context` bounds positions.
    pub fn from_gguf(bytes: &Bytes, max_context: usize) -> Result<(Self, Content)> {
        let mut reader = Cursor::new(bytes.as_slice());
        let ct = Content::read(&mut reader).map_err(|e| ModelError::Format(format!("reading GGUF: {e}")))?;
        let config = LlamaConfig::from_gguf(&ct)?;
        let t = Tensors { ct: &ct, bytes };
        let layers = (0..config.n_layers).map(|i| t.layer(i)).collect::<Result<Vec<_>>>()?;
        // Tied embeddings when the file has no separate output matrix.
        // Checked by name: a failed lookup builds an error, and with RUST_BACKTRACE set that
        // symbolises a backtrace, which maps the binary's debug info into memory for good.
        let output = if t.has("output.weight") { Some(t.matrix("output.weight")?) } else { None };
        let positions = max_context.min(config.context_length).max(1);
        let rope = RopeTable::new(config.head_dim(), config.rope_base, positions, config.rope_style);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("wick-compute-{i}"))
            .build()
            .map_err(|e| ModelError::Format(format!("starting compute threads: {e}")))?;
        let model = Self {
            embeddings: t.matrix("token_embd.weight")?,
            output_norm: t.vector("output_norm.weight")?,
            config,
            layers,
            output,
            rope,
            pool,
        };
        Ok((model, ct))
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Longest sequence (prompt plus output) this instance accepts.
    pub fn max_context(&self) -> usize {
        self.rope.positions()
    }

    /// A fresh cache for a new sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.config.n_layers)
    }

    /// Runs the new tokens of every item through the model, appending to their caches, and
    /// returns the last-token logits of the items that asked for them (in item order).
    pub fn forward(&self, items: &mut [BatchItem<'_>]) -> Result<Vec<Vec<f32>>> {
        self.pool.install(|| self.forward_on_pool(items))
    }

    fn forward_on_pool(&self, items: &mut [BatchItem<'_>]) -> Result<Vec<Vec<f32>>> {
        let (rows, ids) = check_batch(&self.config, self.max_context(), items)?;
        for item in items.iter_mut() {
            if item.cache.layers.len() != self.config.n_layers {
                *item.cache = self.new_cache();
            }
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut x: Vec<f32> = ids.iter().flat_map(|&id| self.embeddings.row(id as usize)).collect();
        for (l, layer) in self.layers.iter().enumerate() {
            self.attention(l, layer, items, &rows, &mut x)?;
            self.feed_forward(layer, rows.len(), &mut x)?;
        }
        for item in items.iter_mut() {
            item.cache.len += item.tokens.len();
        }
        self.logits(items, &x)
    }

    /// Layer `l`'s attention block: `x += wo * attention(rope(q), rope(k), v)`, the new keys and
    /// values appended to each item's cache.
    fn attention(
        &self,
        l: usize,
        layer: &Layer<QMatrix, Vec<f32>>,
        items: &mut [BatchItem<'_>],
        rows: &[(usize, usize)],
        x: &mut [f32],
    ) -> Result<()> {
        let cfg = &self.config;
        let (dim, kv_dim, hd, n) = (cfg.dim, cfg.kv_dim(), cfg.head_dim(), rows.len());
        let mut h = vec![0f32; n * dim];
        attention::rms_norm(x, &layer.attn_norm, cfg.rms_eps, &mut h);
        let hq = quantize_rows(&h, dim);
        let [mut q, mut k, mut v]: [Vec<f32>; 3] = matmul_group(&[&layer.wq, &layer.wk, &layer.wv], &hq, n)
            .try_into()
            .map_err(|_| ModelError::Format("projection group".into()))?;
        if let Some([bq, bk, bv]) = &layer.qkv_bias {
            add_rows(&mut q, bq);
            add_rows(&mut k, bk);
            add_rows(&mut v, bv);
        }
        for (r, &(_, pos)) in rows.iter().enumerate() {
            self.rope.apply(&mut q[r * dim..][..dim], pos, hd);
            self.rope.apply(&mut k[r * kv_dim..][..kv_dim], pos, hd);
        }
        let mut offset = 0;
        for item in items.iter_mut() {
            let t = item.tokens.len();
            let (kc, vc) = &mut item.cache.layers[l];
            crate::kv_cache::append_f16(kc, &k[offset * kv_dim..(offset + t) * kv_dim], kv_dim);
            crate::kv_cache::append_f16(vc, &v[offset * kv_dim..(offset + t) * kv_dim], kv_dim);
            offset += t;
        }
        let caches: Vec<(&[f16], &[f16])> = items
            .iter()
            .map(|it| (it.cache.layers[l].0.as_slice(), it.cache.layers[l].1.as_slice()))
            .collect();
        let shape = cfg.attention_shape();
        let mut attn = h;
        attn.par_chunks_mut(hd).enumerate().for_each_init(Vec::new, |scores, (idx, out)| {
            let (row, head) = (idx / cfg.n_heads, idx % cfg.n_heads);
            let (item, pos) = rows[row];
            let (kc, vc) = caches[item];
            let q_head = &q[row * dim + head * hd..][..hd];
            let cache = CacheView { k: kc, v: vc, len: pos + 1 };
            attention::attend_head(shape, q_head, head, cache, scores, out);
        });
        add_rows(x, &layer.wo.matmul(&attn, n));
        Ok(())
    }

    /// The feed-forward block: `x += down(silu(gate(h)) * up(h))` with `h = rms_norm(x)`.
    fn feed_forward(&self, layer: &Layer<QMatrix, Vec<f32>>, n: usize, x: &mut [f32]) -> Result<()> {
        let cfg = &self.config;
        let mut h = vec![0f32; n * cfg.dim];
        attention::rms_norm(x, &layer.ffn_norm, cfg.rms_eps, &mut h);
        let hq = quantize_rows(&h, cfg.dim);
        let [mut gate, up]: [Vec<f32>; 2] = matmul_group(&[&layer.w_gate, &layer.w_up], &hq, n)
            .try_into()
            .map_err(|_| ModelError::Format("projection group".into()))?;
        for (g, u) in gate.iter_mut().zip(&up) {
            *g = *g / (1.0 + (-*g).exp()) * u;
        }
        add_rows(x, &layer.w_down.matmul(&gate, n));
        Ok(())
    }

    /// Logits of the last row of every item that wants them.
    fn logits(&self, items: &[BatchItem<'_>], x: &[f32]) -> Result<Vec<Vec<f32>>> {
        let cfg = &self.config;
        let dim = cfg.dim;
        let mut last_rows = Vec::new();
        let mut end = 0;
        for item in items {
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
        let logits = self.output.as_ref().unwrap_or(&self.embeddings).matmul(&normed, m);
        Ok(logits.chunks_exact(cfg.vocab_size).map(<[f32]>::to_vec).collect())
    }
}

/// The (item, position) of every new row of a batch and its token id, after checking the
/// context limit and the vocabulary.
#[allow(clippy::type_complexity)] // two parallel lists, named at the call site
pub(crate) fn check_batch(
    cfg: &LlamaConfig,
    max_context: usize,
    items: &[BatchItem<'_>],
) -> Result<(Vec<(usize, usize)>, Vec<u32>)> {
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let start = item.cache.len;
        if start + item.tokens.len() > max_context {
            return Err(ModelError::InvalidArgument(format!(
                "sequence of {} tokens exceeds the context limit of {max_context}",
                start + item.tokens.len(),
            )));
        }
        if let Some(&bad) = item.tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(ModelError::InvalidArgument(format!("token id {bad} is outside the vocabulary")));
        }
        rows.extend((0..item.tokens.len()).map(|t| (i, start + t)));
        ids.extend_from_slice(item.tokens);
    }
    Ok((rows, ids))
}

/// Adds `y` to `x`, or to each of `x`'s rows when `y` is one row.
fn add_rows(x: &mut [f32], y: &[f32]) {
    for row in x.chunks_exact_mut(y.len()) {
        for (a, b) in row.iter_mut().zip(y) {
            *a += b;
        }
    }
}
