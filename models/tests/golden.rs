//! Greedy outputs of the default chat model on a fixed set of prompts, pinned in
//! `tests/data/greedy_golden.json`. Kernel work must leave them unchanged; a kernel that
//! legitimately changes rounding re-pins them once (`WICK_PIN_GOLDEN=1 cargo test --test golden`)
//! with the reason in the commit.

mod common;

use std::path::PathBuf;

use wick_models::{ChatMessage, GenerationParams};

const PROMPTS: [&str; 20] = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Name three colours.",
    "Explain photosynthesis in one sentence.",
    "What is 12 times 7?",
    "Give me a synonym for happy.",
    "Translate 'good morning' into Spanish.",
    "Who wrote Romeo and Juliet?",
    "List the planets of the solar system.",
    "What does a bee make?",
    "Describe a cat in two sentences.",
    "Why is the sky blue?",
    "Write a short poem about autumn.",
    "What is the boiling point of water?",
    "Tell me a fun fact about octopuses.",
    "How many days are in a leap year?",
    "What is the largest ocean on Earth?",
    "Suggest a name for a pet dog.",
    "What is a prime number?",
    "Summarise the story of Cinderella.",
];

const TOKENS: usize = 32;

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/greedy_golden.json")
}

#[test]
fn greedy_outputs_match_the_pinned_ones() {
    let model = common::chat_model();
    let params = GenerationParams { max_tokens: TOKENS, ..GenerationParams::default() };
    let outputs: Vec<serde_json::Value> = PROMPTS
        .iter()
        .map(|prompt| {
            let out = model.generate(&[ChatMessage::user(*prompt)], &params, |_| {}).expect("generate");
            serde_json::json!({ "prompt": prompt, "token_ids": out.token_ids, "text": out.text })
        })
        .collect();
    let path = golden_path();
    if std::env::var_os("WICK_PIN_GOLDEN").is_some() {
        let lines: Vec<String> = outputs.iter().map(|o| format!("  {o}")).collect();
        let json = format!("[\n{}\n]\n", lines.join(",\n"));
        std::fs::write(&path, json).expect("writing the golden file");
        return;
    }
    let pinned: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&path).expect("golden file")).expect("golden json");
    assert_eq!(pinned.len(), outputs.len());
    for (want, got) in pinned.iter().zip(&outputs) {
        assert_eq!(want, got, "greedy output changed");
    }
}
