//! Checks the quantized forward pass (llama or qwen2) against a dense f32 re-implementation
//! written with plain candle tensor ops: prints both argmaxes and the largest logit difference
//! for one chat prompt. Usage: `cargo run -p wick-models --example dense_reference -- PATH.gguf
//! [DEVICE]`, DEVICE `cpu` (Wick's kernels, the default), `cuda:N` or `candle-cpu` (the GPU code
//! path on candle's CPU backend).
#![allow(missing_docs, clippy::unwrap_used)]

use candle_core::quantized::gguf_file;
use candle_core::{D, Device, Result, Tensor};
use wick_models::generate::LoadOptions;
use wick_models::llama::{BatchItem, LlamaConfig, RopeStyle};

fn main() -> Result<()> {
    let path = std::env::args().nth(1).expect("usage: dense_reference PATH.gguf [DEVICE]");
    let device = std::env::args().nth(2).map_or(Ok(Default::default()), |d| d.parse()).unwrap();
    let options = LoadOptions { device, ..LoadOptions::default() };
    let model = wick_models::TextModel::from_gguf_file(path.as_ref(), &options).unwrap();
    let ids = model.encode_chat(&[wick_models::ChatMessage::user("What is the capital of France?")]).unwrap();
    let mut cache = model.transformer().new_cache();
    let ours = model
        .transformer()
        .forward(&mut [BatchItem { cache: &mut cache, tokens: &ids, want_logits: true }])
        .unwrap();
    let mut file = std::fs::File::open(&path)?;
    let reference = Dense { cfg: model.transformer().config().clone() }.logits(&mut file, &ids)?;
    let am = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0).unwrap();
    let err = ours[0].iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!(
        "argmax ours {} ref {}; max abs diff {err}; ours[..4] {:?} ref {:?}",
        am(&ours[0]),
        am(&reference),
        &ours[0][..4],
        &reference[..4]
    );
    Ok(())
}

/// The same model with every weight dequantized to f32.
struct Dense {
    cfg: LlamaConfig,
}

impl Dense {
    fn logits(&self, file: &mut std::fs::File, ids: &[u32]) -> Result<Vec<f32>> {
        let dev = Device::Cpu;
        let ct = gguf_file::Content::read(file)?;
        let mut w = |n: &str| ct.tensor(file, n, &dev).and_then(|t| t.dequantize(&dev));
        let emb = w("token_embd.weight")?;
        let t = ids.len();
        let mut x = emb.index_select(&Tensor::from_vec(ids.to_vec(), t, &dev)?, 0)?;
        for l in 0..self.cfg.n_layers {
            let mut p = |s: &str| w(&format!("blk.{l}.{s}"));
            let h = self.rms(&x, &p("attn_norm.weight")?)?;
            let proj = |h: &Tensor, wt: Tensor, bias: Option<Tensor>| -> Result<Tensor> {
                let y = h.matmul(&wt.t()?)?;
                match bias {
                    Some(b) => y.broadcast_add(&b),
                    None => Ok(y),
                }
            };
            let has_bias = ct.tensor_infos.contains_key(&format!("blk.{l}.attn_q.bias"));
            let mut bias = |s: &str| if has_bias { p(s).map(Some) } else { Ok(None) };
            let (bq, bk, bv) = (bias("attn_q.bias")?, bias("attn_k.bias")?, bias("attn_v.bias")?);
            let q = self.rope(&proj(&h, p("attn_q.weight")?, bq)?, self.cfg.n_heads)?;
            let k = self.rope(&proj(&h, p("attn_k.weight")?, bk)?, self.cfg.n_kv_heads)?;
            let v = proj(&h, p("attn_v.weight")?, bv)?;
            let o = self.attention(&q, &k, &v)?.matmul(&p("attn_output.weight")?.t()?)?;
            x = (x + o)?;
            let h = self.rms(&x, &p("ffn_norm.weight")?)?;
            let g = h.matmul(&p("ffn_gate.weight")?.t()?)?;
            let u = h.matmul(&p("ffn_up.weight")?.t()?)?;
            let silu = (&g * (g.neg()?.exp()? + 1.0)?.recip()?)?;
            x = (x + (silu * u)?.matmul(&p("ffn_down.weight")?.t()?)?)?;
        }
        let h = self.rms(&x.narrow(0, t - 1, 1)?, &w("output_norm.weight")?)?;
        let out = if ct.tensor_infos.contains_key("output.weight") { w("output.weight")? } else { emb };
        h.matmul(&out.t()?)?.flatten_all()?.to_vec1()
    }

    fn rms(&self, x: &Tensor, g: &Tensor) -> Result<Tensor> {
        let m = x.sqr()?.mean_keepdim(D::Minus1)?;
        x.broadcast_div(&(m + f64::from(self.cfg.rms_eps))?.sqrt()?)?.broadcast_mul(g)
    }

    fn rope(&self, x: &Tensor, heads: usize) -> Result<Tensor> {
        let (t, hd) = (x.dim(0)?, self.cfg.head_dim());
        let mut v: Vec<f32> = x.flatten_all()?.to_vec1()?;
        for p in 0..t {
            for h in 0..heads {
                for i in 0..hd / 2 {
                    let th = p as f32 / self.cfg.rope_base.powf((2 * i) as f32 / hd as f32);
                    let o = p * heads * hd + h * hd;
                    let (a, b) = match self.cfg.rope_style {
                        RopeStyle::Adjacent => (o + 2 * i, o + 2 * i + 1),
                        RopeStyle::Halves => (o + i, o + i + hd / 2),
                    };
                    let (x0, x1) = (v[a], v[b]);
                    v[a] = x0 * th.cos() - x1 * th.sin();
                    v[b] = x0 * th.sin() + x1 * th.cos();
                }
            }
        }
        Tensor::from_vec(v, (t, heads * hd), x.device())
    }

    /// Causal attention of every query head over its key/value head.
    fn attention(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (t, hd) = (q.dim(0)?, self.cfg.head_dim());
        let group = self.cfg.n_heads / self.cfg.n_kv_heads;
        let mask: Vec<f32> =
            (0..t * t).map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 }).collect();
        let mask = Tensor::from_vec(mask, (t, t), q.device())?;
        let mut outs = Vec::new();
        for head in 0..self.cfg.n_heads {
            let kv = head / group;
            let qh = q.narrow(1, head * hd, hd)?;
            let (kh, vh) = (k.narrow(1, kv * hd, hd)?, v.narrow(1, kv * hd, hd)?);
            let s = (qh.matmul(&kh.t()?)? / (hd as f64).sqrt())?.broadcast_add(&mask)?;
            let m = s.max_keepdim(D::Minus1)?;
            let e = s.broadcast_sub(&m)?.exp()?;
            outs.push(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?.matmul(&vh)?);
        }
        Tensor::cat(&outs, 1)
    }
}
