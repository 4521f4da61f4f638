//! Greedy outputs of the chat models on fixed sets of prompts, pinned in `tests/data/`: the
//! default model's in `greedy_golden.json`, the qwen2 model's in `qwen_greedy_golden.json`.
//! Kernel work must leave them unchanged; a kernel that legitimately changes rounding re-pins
//! them once (`WICK_PIN_GOLDEN=1 cargo test --test golden`) with the reason in the commit.

mod common;

use std::path::PathBuf;

use wick_models::{ChatMessage, GenerationParams, TextModel};

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

const QWEN_PROMPTS: [&str; 20] = [
    "Write a Python function that reverses a string.",
    "Write a Rust function that returns the largest element of a slice.",
    "What does `git rebase` do?",
    "Explain what a hash map is in one sentence.",
    "Write a SQL query that counts the rows of a table named users.",
    "Write a JavaScript function that checks whether a number is even.",
    "What is the time complexity of binary search?",
    "Write a bash command that counts the lines of every .rs file in a folder.",
    "Fix this Python code: `for i in range(10) print(i)`",
    "Write a C function that swaps two integers.",
    "What is the difference between a process and a thread?",
    "Write a Python class for a stack with push and pop.",
    "Explain recursion to a beginner.",
    "Write a regular expression that matches an email address.",
    "What does the HTTP status code 404 mean?",
    "Write a Go function that sums a slice of ints.",
    "Convert this JSON to YAML: {\"name\": \"wick\", \"port\": 8080}",
    "Write a haiku about compilers.",
    "What is a race condition?",
    "Write a Python one-liner that squares the numbers 1 to 10.",
];

const TOKENS: usize = 32;

fn golden_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(file)
}

#[test]
fn greedy_outputs_match_the_pinned_ones() {
    check_pinned(common::chat_model(), &PROMPTS, "greedy_golden.json");
}

#[test]
fn qwen_greedy_outputs_match_the_pinned_ones() {
    check_pinned(common::qwen_model(), &QWEN_PROMPTS, "qwen_greedy_golden.json");
}

fn check_pinned(model: &TextModel, prompts: &[&str], file: &str) {
    let params = GenerationParams { max_tokens: TOKENS, ..GenerationParams::default() };
    let outputs: Vec<serde_json::Value> = prompts
        .iter()
        .map(|prompt| {
            let out = model.generate(&[ChatMessage::user(*prompt)], &params, |_| {}).expect("generate");
            serde_json::json!({ "prompt": prompt, "token_ids": out.token_ids, "text": out.text })
        })
        .collect();
    let path = golden_path(file);
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
