//! The llama-family forward pass on a candle device: a CUDA GPU in production (candle's
//! quantized kernels and cuBLAS), candle's CPU backend in the tests that check it against
//! Wick's own kernels.
//!
//! Within one device class the outputs must not depend on the batch, as on the CPU path. Every
//! choice below serves that:
//! - Projections run candle's quantized mat-vec kernel on exactly [`MV_ROWS`] rows per call
//!   (the last chunk padded with zeros). That kernel's launch shape, and so each output's
//!   reduction order, changes with its row count (4 warps up to 4 rows, 2 above), and above 8
//!   rows candle switches to tiled kernels whose tiles depend on the batch; a fixed row count
//!   keeps one shape. The cost: a lone decode row computes 8, which a memory-bound mat-vec
//!   mostly hides, and a long prefill re-reads the weights once per 8 rows.
//! - Attention runs per sequence and per query row, over exactly the keys up to that row's
//!   position, so its matmul shapes depend on the position only, never on the chunking of a
//!   prompt or on other sequences.
//! - Norms, RoPE and the activation are per-row kernels.

use std::io::Cursor;
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{D, DType, Device, Module, Tensor};

use crate::config::LlamaConfig;
use crate::kv_cache::{DeviceKv, KvCache};
use crate::llama::{BatchItem, WeightSource};
use crate::rope::{RopeStyle, RopeTable};
use crate::weights::Bytes;
use crate::{ModelError, Result};

/// Rows per quantized mat-vec call (candle's largest mat-vec batch).
pub const MV_ROWS: usize = 8;

type Layer = crate::llama::Layer<QMatMul, Tensor>;

/// A llama-family model whose weights, activations and KV cache live on a candle device.
pub struct DeviceLlama {
    device: Device,
    config: LlamaConfig,
    embeddings: Arc<QTensor>,
    layers: Vec<Layer>,
    output_norm: Tensor,
    output: QMatMul,
    /// RoPE cosines and sines, `(positions, head_dim / 2)`, the CPU path's table.
    cos: Tensor,
    sin: Tensor,
    positions: usize,
    class: String,
}

/// Reads tensors of a GGUF file onto a device.
struct Loader<'a> {
    ct: &'a Content,
    bytes: &'a Bytes,
    device: &'a Device,
}

impl Loader<'_> {
    fn qtensor(&self, name: &str) -> Result<QTensor> {
        let mut reader = Cursor::new(self.bytes.as_slice());
        self.ct
            .tensor(&mut reader, name, self.device)
            .map_err(|e| ModelError::Format(format!("tensor {name}: {e}")))
    }
}

impl WeightSource for Loader<'_> {
    type Matrix = QMatMul;
    type Vector = Tensor;

    /// A weight matrix: quantized on a GPU; dequantized to f32 on candle's CPU backend, whose
    /// quantized kernels round activations more coarsely than Wick's or the GPU's (that
    /// backend only checks this module's graph against the dense reference).
    fn matrix(&self, name: &str) -> Result<QMatMul> {
        let q = self.qtensor(name)?;
        Ok(if self.device.is_cpu() {
            QMatMul::Tensor(q.dequantize(self.device)?)
        } else {
            QMatMul::from_qtensor(q)?
        })
    }

    fn vector(&self, name: &str) -> Result<Tensor> {
        Ok(self.qtensor(name)?.dequantize(self.device)?.flatten_all()?.to_dtype(DType::F32)?)
    }

    fn has(&self, name: &str) -> bool {
        self.ct.tensor_infos.contains_key(name)
    }
}

impl DeviceLlama {
    /// Loads the model from a GGUF file's bytes onto `device`; `class` is the numeric class its
    /// outputs belong to.
    pub fn from_gguf(
        bytes: &Bytes,
        max_context: usize,
        device: Device,
        class: String,
    ) -> Result<(Self, Content)> {
        let mut reader = Cursor::new(bytes.as_slice());
        let ct = Content::read(&mut reader).map_err(|e| ModelError::Format(format!("reading GGUF: {e}")))?;
        let config = LlamaConfig::from_gguf(&ct)?;
        let load = Loader { ct: &ct, bytes, device: &device };
        let layers = (0..config.n_layers).map(|i| load.layer(i)).collect::<Result<Vec<_>>>()?;
        let embeddings = Arc::new(load.qtensor("token_embd.weight")?);
        let output = if load.has("output.weight") {
            load.matrix("output.weight")?
        } else if device.is_cpu() {
            QMatMul::Tensor(embeddings.dequantize(&device)?)
        } else {
            QMatMul::from_arc(embeddings.clone())?
        };
        let positions = max_context.min(config.context_length).max(1);
        let table = RopeTable::new(config.head_dim(), config.rope_base, positions, config.rope_style);
        let (cos, sin) = table.tables();
        let half = config.head_dim() / 2;
        let model = Self {
            cos: Tensor::from_slice(cos, (positions, half), &device)?,
            sin: Tensor::from_slice(sin, (positions, half), &device)?,
            output_norm: load.vector("output_norm.weight")?,
            embeddings,
            layers,
            output,
            positions,
            config,
            device,
            class,
        };
        Ok((model, ct))
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Longest sequence (prompt plus output) this instance accepts.
    pub fn max_context(&self) -> usize {
        self.positions
    }

    /// The numeric class of its outputs.
    pub fn numeric_class(&self) -> &str {
        &self.class
    }

    /// Runs the new tokens of every item through the model, appending to their caches, and
    /// returns the last-token logits of the items that asked for them (in item order).
    pub fn forward(&self, items: &mut [BatchItem<'_>]) -> Result<Vec<Vec<f32>>> {
        let (positions, ids) = crate::llama::check_batch(&self.config, self.positions, items)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        for item in items.iter_mut() {
            if item.cache.on_device.len() != self.config.n_layers {
                *item.cache =
                    KvCache::new_on_device(self.config.n_layers, self.config.kv_dim(), &self.device)?;
            }
        }
        let n = ids.len();
        let ids = Tensor::from_vec(ids, n, &self.device)?;
        let pos =
            Tensor::from_vec(positions.iter().map(|&(_, p)| p as u32).collect::<Vec<_>>(), n, &self.device)?;
        let (cos, sin) = (self.cos.index_select(&pos, 0)?, self.sin.index_select(&pos, 0)?);
        let mut x = self.embeddings.embedding(&ids)?;
        for (l, layer) in self.layers.iter().enumerate() {
            x = self.attention(l, layer, items, &positions, &x, (&cos, &sin))?;
            x = self.feed_forward(layer, &x)?;
        }
        for item in items.iter_mut() {
            item.cache.len += item.tokens.len();
        }
        self.logits(items, &x)
    }

    /// Layer `l`'s attention block; returns `x + wo * attention(rope(q), rope(k), v)`.
    fn attention(
        &self,
        l: usize,
        layer: &Layer,
        items: &mut [BatchItem<'_>],
        positions: &[(usize, usize)],
        x: &Tensor,
        (cos, sin): (&Tensor, &Tensor),
    ) -> Result<Tensor> {
        let cfg = &self.config;
        let (n, hd) = (positions.len(), cfg.head_dim());
        let h = candle_nn::ops::rms_norm(x, &layer.attn_norm, cfg.rms_eps)?;
        let mut q = project(&layer.wq, &h)?;
        let mut k = project(&layer.wk, &h)?;
        let mut v = project(&layer.wv, &h)?;
        if let Some([bq, bk, bv]) = &layer.qkv_bias {
            q = q.broadcast_add(bq)?;
            k = k.broadcast_add(bk)?;
            v = v.broadcast_add(bv)?;
        }
        let q = rope(&q.reshape((n, cfg.n_heads, 1, hd))?, cos, sin, cfg.rope_style)?;
        let k = rope(&k.reshape((n, cfg.n_kv_heads, 1, hd))?, cos, sin, cfg.rope_style)?;
        let k = k.reshape((n, cfg.kv_dim()))?;
        let mut rows = Vec::with_capacity(n);
        let mut offset = 0;
        for item in items.iter_mut() {
            let t = item.tokens.len();
            if t == 0 {
                continue;
            }
            let start = item.cache.len;
            let kv = &mut item.cache.on_device[l];
            kv.append(&k.narrow(0, offset, t)?, &v.narrow(0, offset, t)?)?;
            let (keys, values) = kv.as_f32(start + t, cfg.n_kv_heads, hd)?;
            for r in 0..t {
                let q_row = q.get(offset + r)?.reshape((cfg.n_kv_heads, cfg.n_heads / cfg.n_kv_heads, hd))?;
                rows.push(attend(&q_row, &keys, &values, start + r + 1)?.reshape((1, cfg.dim))?);
            }
            offset += t;
        }
        let attn = Tensor::cat(&rows, 0)?;
        Ok((x + project(&layer.wo, &attn)?)?)
    }

    /// The feed-forward block: `x + down(silu(gate(h)) * up(h))` with `h = rms_norm(x)`.
    fn feed_forward(&self, layer: &Layer, x: &Tensor) -> Result<Tensor> {
        let h = candle_nn::ops::rms_norm(x, &layer.ffn_norm, self.config.rms_eps)?;
        let gate = project(&layer.w_gate, &h)?;
        let up = project(&layer.w_up, &h)?;
        let act = (candle_nn::ops::silu(&gate)? * up)?;
        Ok((x + project(&layer.w_down, &act)?)?)
    }

    /// Logits of the last row of every item that wants them.
    fn logits(&self, items: &[BatchItem<'_>], x: &Tensor) -> Result<Vec<Vec<f32>>> {
        let mut last = Vec::new();
        let mut end = 0;
        for item in items {
            end += item.tokens.len();
            if item.want_logits && !item.tokens.is_empty() {
                last.push(x.narrow(0, end - 1, 1)?);
            }
        }
        if last.is_empty() {
            return Ok(Vec::new());
        }
        let rows = Tensor::cat(&last, 0)?;
        let normed = candle_nn::ops::rms_norm(&rows, &self.output_norm, self.config.rms_eps)?;
        Ok(project(&self.output, &normed)?.to_vec2::<f32>()?)
    }
}

/// `x * w^T` through the quantized mat-vec kernel, [`MV_ROWS`] rows per call.
fn project(w: &QMatMul, x: &Tensor) -> Result<Tensor> {
    let (n, k) = x.dims2()?;
    let mut out = Vec::with_capacity(n.div_ceil(MV_ROWS));
    for start in (0..n).step_by(MV_ROWS) {
        let rows = (n - start).min(MV_ROWS);
        let mut chunk = x.narrow(0, start, rows)?;
        if rows < MV_ROWS {
            let pad = Tensor::zeros((MV_ROWS - rows, k), DType::F32, x.device())?;
            chunk = Tensor::cat(&[&chunk, &pad], 0)?;
        }
        out.push(w.forward(&chunk.contiguous()?)?.narrow(0, 0, rows)?);
    }
    Ok(Tensor::cat(&out, 0)?)
}

/// RoPE over `(rows, heads, 1, head_dim)`, each row at its own position (`cos`, `sin`:
/// `(rows, head_dim / 2)`).
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, style: RopeStyle) -> Result<Tensor> {
    let (rows, half) = cos.dims2()?;
    let cos = cos.reshape((rows, 1, half))?;
    let sin = sin.reshape((rows, 1, half))?;
    let x = x.contiguous()?;
    Ok(match style {
        RopeStyle::Adjacent => candle_nn::rotary_emb::rope_i(&x, &cos, &sin)?,
        RopeStyle::Halves => candle_nn::rotary_emb::rope(&x, &cos, &sin)?,
    })
}

/// One query row's attention over the first `len` cached positions: `q` is
/// `(kv_heads, group, head_dim)`, `keys` and `values` `(kv_heads, positions, head_dim)`.
fn attend(q: &Tensor, keys: &Tensor, values: &Tensor, len: usize) -> Result<Tensor> {
    let hd = q.dim(D::Minus1)?;
    let keys = keys.narrow(1, 0, len)?;
    let values = values.narrow(1, 0, len)?;
    let scores = (q.matmul(&keys.t()?)? * (1.0 / (hd as f64).sqrt()))?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    Ok(probs.matmul(&values)?)
}

impl DeviceKv {
    /// The first `len` positions as f32 `(kv_heads, len, head_dim)` keys and values.
    fn as_f32(&self, len: usize, kv_heads: usize, hd: usize) -> Result<(Tensor, Tensor)> {
        let view = |t: &Tensor| -> Result<Tensor> {
            Ok(t.narrow(0, 0, len)?
                .reshape((len, kv_heads, hd))?
                .transpose(0, 1)?
                .to_dtype(DType::F32)?
                .contiguous()?)
        };
        Ok((view(&self.k)?, view(&self.v)?))
    }
}
