//! Runs the pinned greedy prompts (`tests/data/*golden.json`, the CPU kernels' outputs) on
//! another device and reports, per prompt, whether the tokens are the same and otherwise the
//! first differing position, both tokens and the device's logit gap between them there.
//! Usage: `cargo run --release --features cuda -p wick-models --example device_golden --
//! DEVICE [MODEL]` (MODEL: the default chat model, or `qwen2.5-coder-0.5b-instruct`).
#![allow(missing_docs, clippy::unwrap_used)]

use wick_models::fetch::{FetchOptions, NoProgress};
use wick_models::generate::LoadOptions;
use wick_models::llama::BatchItem;
use wick_models::{ChatMessage, GenerationParams, ModelStore, TextModel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let device = args.next().unwrap_or_else(|| "cuda:0".into()).parse()?;
    let name = args.next().unwrap_or_else(|| wick_models::DEFAULT_CHAT_MODEL.into());
    let file =
        if name == wick_models::QWEN_CODER_05B { "qwen_greedy_golden.json" } else { "greedy_golden.json" };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(file);
    let pinned: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(path)?)?;
    let installed = ModelStore::from_env().ensure(&name, &FetchOptions::default(), &NoProgress)?;
    let model = TextModel::load(&installed, &LoadOptions { device, ..LoadOptions::default() })?;
    println!("{name} on {device} (class {}) against the CPU kernels' pinned outputs", model.numeric_class());
    let mut same = 0;
    for entry in &pinned {
        let prompt = entry["prompt"].as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(entry["token_ids"].clone())?;
        let params = GenerationParams { max_tokens: want.len().max(1), ..GenerationParams::default() };
        let got = model.generate(&[ChatMessage::user(prompt)], &params, |_| {})?.token_ids;
        match want.iter().zip(&got).position(|(a, b)| a != b) {
            None if want.len() == got.len() => {
                same += 1;
                println!("  same      {prompt}");
            }
            None => println!("  lengths   {prompt}: cpu {} tokens, device {}", want.len(), got.len()),
            Some(i) => {
                let gap = logit_gap(&model, prompt, &want[..i], got[i], want[i])?;
                println!(
                    "  differs   {prompt}: token {i}, cpu {} device {} (device logit gap {gap:.4})",
                    want[i], got[i]
                );
            }
        }
    }
    println!("{same}/{} identical", pinned.len());
    Ok(())
}

/// The device's logit of `ours` minus that of `theirs` after the prompt and `prefix`.
fn logit_gap(
    model: &TextModel,
    prompt: &str,
    prefix: &[u32],
    ours: u32,
    theirs: u32,
) -> wick_models::Result<f32> {
    let mut ids = model.encode_chat(&[ChatMessage::user(prompt)])?;
    ids.extend_from_slice(prefix);
    let t = model.transformer();
    let mut cache = t.new_cache();
    let logits = t.forward(&mut [BatchItem { cache: &mut cache, tokens: &ids, want_logits: true }])?;
    Ok(logits[0][ours as usize] - logits[0][theirs as usize])
}
