//! Checks the quantized llama forward pass against a dense f32 re-implementation written with
//! plain candle tensor ops: prints both argmaxes and the largest logit difference for one chat
//! prompt. Usage: `cargo run -p wick-models --example dense_reference -- PATH.gguf`
#![allow(missing_docs, clippy::unwrap_used)]

use candle_core::quantized::gguf_file;
use candle_core::{D, Device, Tensor};
use wick_models::generate::LoadOptions;
use wick_models::llama::BatchItem;

fn main() -> candle_core::Result<()> {
    let path = std::env::args().nth(1).expect("usage: dense_reference PATH.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let model = wick_models::TextModel::from_gguf_bytes(&bytes, &LoadOptions::default()).unwrap();
    let ids = model.encode_chat(&[wick_models::ChatMessage::user("What is the capital of France?")]).unwrap();
    let mut cache = model.llama().new_cache();
    let ours = model
        .llama()
        .forward(&mut [BatchItem { cache: &mut cache, tokens: &ids, want_logits: true }])
        .unwrap();
    // Dense f32 reference.
    let dev = Device::Cpu;
    let mut f = std::io::Cursor::new(&bytes);
    let ct = gguf_file::Content::read(&mut f)?;
    let mut w = |n: &str| ct.tensor(&mut f, n, &dev).and_then(|t| t.dequantize(&dev));
    let emb = w("token_embd.weight")?;
    let t = ids.len();
    let idt = Tensor::from_vec(ids.clone(), t, &dev)?;
    let mut x = emb.index_select(&idt, 0)?;
    let rms = |x: &Tensor, g: &Tensor| -> candle_core::Result<Tensor> {
        let m = x.sqr()?.mean_keepdim(D::Minus1)?;
        x.broadcast_div(&(m + 1e-5)?.sqrt()?)?.broadcast_mul(g)
    };
    let (hd, nh, nkv) = (64usize, 9usize, 3usize);
    let rope = |x: &Tensor, heads: usize| -> candle_core::Result<Tensor> {
        let mut v: Vec<f32> = x.flatten_all()?.to_vec1()?;
        for p in 0..t {
            for h in 0..heads {
                for i in 0..hd / 2 {
                    let th = p as f32 / 100000f32.powf((2 * i) as f32 / hd as f32);
                    let o = p * heads * hd + h * hd + 2 * i;
                    let (a, b) = (v[o], v[o + 1]);
                    v[o] = a * th.cos() - b * th.sin();
                    v[o + 1] = a * th.sin() + b * th.cos();
                }
            }
        }
        Tensor::from_vec(v, (t, heads * hd), &dev)
    };
    for l in 0..30 {
        let p = |s: &str| format!("blk.{l}.{s}.weight");
        let h = rms(&x, &w(&p("attn_norm"))?)?;
        let q = rope(&h.matmul(&w(&p("attn_q"))?.t()?)?, nh)?;
        let k = rope(&h.matmul(&w(&p("attn_k"))?.t()?)?, nkv)?;
        let v = h.matmul(&w(&p("attn_v"))?.t()?)?;
        let mut outs = Vec::new();
        for head in 0..nh {
            let kv = head / 3;
            let qh = q.narrow(1, head * hd, hd)?;
            let kh = k.narrow(1, kv * hd, hd)?;
            let vh = v.narrow(1, kv * hd, hd)?;
            let s = (qh.matmul(&kh.t()?)? / 8.0)?;
            let mask: Vec<f32> =
                (0..t * t).map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 }).collect();
            let s = s.broadcast_add(&Tensor::from_vec(mask, (t, t), &dev)?)?;
            let a = candle_nn_softmax(&s)?;
            outs.push(a.matmul(&vh)?);
        }
        let o = Tensor::cat(&outs, 1)?.matmul(&w(&p("attn_output"))?.t()?)?;
        x = (x + o)?;
        let h = rms(&x, &w(&p("ffn_norm"))?)?;
        let g = h.matmul(&w(&p("ffn_gate"))?.t()?)?;
        let u = h.matmul(&w(&p("ffn_up"))?.t()?)?;
        let silu = (&g * (g.neg()?.exp()? + 1.0)?.recip()?)?;
        x = (x + (silu * u)?.matmul(&w(&p("ffn_down"))?.t()?)?)?;
    }
    let h = rms(&x.narrow(0, t - 1, 1)?, &w("output_norm.weight")?)?;
    let logits: Vec<f32> = h.matmul(&emb.t()?)?.flatten_all()?.to_vec1()?;
    let am = |v: &[f32]| v.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0).unwrap();
    let err = ours[0].iter().zip(&logits).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!(
        "argmax ours {} ref {}; max abs diff {err}; ours[..4] {:?} ref {:?}",
        am(&ours[0]),
        am(&logits),
        &ours[0][..4],
        &logits[..4]
    );
    Ok(())
}

fn candle_nn_softmax(s: &Tensor) -> candle_core::Result<Tensor> {
    let m = s.max_keepdim(D::Minus1)?;
    let e = s.broadcast_sub(&m)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}
