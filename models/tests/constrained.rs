//! Constrained decoding, logprobs and penalties with the real default model.

mod common;

use wick_models::constrain::ResponseFormat;
use wick_models::llama::BatchItem;
use wick_models::sampling::SamplingParams;
use wick_models::{ChatMessage, GenerationParams, TextModel};

/// Runs one sequence to the end; returns its text and every step's log probabilities.
fn run(
    model: &TextModel,
    prompt: &str,
    params: GenerationParams,
    format: &ResponseFormat,
) -> (String, Vec<wick_models::logprobs::Logprobs>) {
    let tokens = model.encode_chat(&[ChatMessage::user(prompt)]).expect("encode");
    let mut seq = model.new_sequence(tokens, params).expect("sequence");
    if let Some(c) = model.grammars().expect("grammars").compile(format).expect("compiles") {
        seq.constrain(c);
    }
    let (mut text, mut logprobs) = (String::new(), Vec::new());
    while seq.finish_reason().is_none() {
        let (cache, tokens, want_logits) = seq.next_batch_item();
        let logits =
            model.transformer().forward(&mut [BatchItem { cache, tokens, want_logits }]).expect("forward");
        if let Some(mut l) = logits.into_iter().next() {
            let step = seq.accept_logits(model, &mut l).expect("step");
            text.push_str(&step.delta);
            logprobs.extend(step.logprobs);
        }
    }
    (text, logprobs)
}

fn sampled(seed: u64, max_tokens: usize) -> GenerationParams {
    GenerationParams {
        max_tokens,
        sampling: SamplingParams { temperature: 1.0, seed, ..SamplingParams::default() },
        ..GenerationParams::default()
    }
}

#[test]
fn a_json_schema_holds_for_every_seed() {
    let model = common::chat_model();
    let schema: serde_json::Value = serde_json::from_str(
        r#"{"type":"object","properties":{"name":{"type":"string","maxLength":10},
        "age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"],"additionalProperties":false}"#,
    )
    .expect("schema");
    let format = ResponseFormat::JsonSchema(schema);
    for seed in 0..5 {
        let (text, _) = run(model, "Describe a person as JSON.", sampled(seed, 48), &format);
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("seed {seed}: {text:?}: {e}"));
        let obj = v.as_object().expect("an object");
        assert_eq!(obj.len(), 2, "{text}");
        assert!(obj["name"].as_str().is_some_and(|n| n.chars().count() <= 10), "{text}");
        assert!(obj["age"].as_u64().is_some_and(|a| a <= 120), "{text}");
    }
    let (text, _) = run(model, "Say hi.", sampled(1, 32), &ResponseFormat::JsonObject);
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.is_object()), "{text:?}");
}

#[test]
fn a_schema_that_does_not_compile_names_the_problem() {
    let model = common::chat_model();
    let bad = ResponseFormat::JsonSchema(serde_json::json!({"type": "no-such-type"}));
    let e = model.grammars().expect("grammars").compile(&bad).expect_err("refused");
    assert!(e.to_string().contains("schema"), "{e}");
    assert!(ResponseFormat::parse("yaml", "").is_err());
}

#[test]
fn logprobs_report_the_greedy_choice_first() {
    let model = common::chat_model();
    let params = GenerationParams { max_tokens: 6, logprobs: Some(3), ..GenerationParams::default() };
    let (_, logprobs) = run(model, "What is the capital of France?", params, &ResponseFormat::Text);
    assert_eq!(logprobs.len(), 6);
    for l in &logprobs {
        assert_eq!(l.top.len(), 3);
        assert_eq!(l.top[0].token, l.chosen.token, "greedy picks the most likely token");
        assert!(l.chosen.logprob <= 0.0 && l.top[0].logprob >= l.top[1].logprob);
    }
}

#[test]
fn penalties_change_the_output_deterministically() {
    let model = common::chat_model();
    let prompt = "Repeat the word apple ten times.";
    // Past the end of turn a small model repeats itself: that is where penalties bite.
    let plain = GenerationParams { max_tokens: 32, ignore_eos: true, ..GenerationParams::default() };
    let penalised = GenerationParams { frequency_penalty: 2.0, presence_penalty: 2.0, ..plain.clone() };
    let (a, _) = run(model, prompt, plain, &ResponseFormat::Text);
    let (b, _) = run(model, prompt, penalised.clone(), &ResponseFormat::Text);
    let (c, _) = run(model, prompt, penalised, &ResponseFormat::Text);
    assert_ne!(a, b);
    assert_eq!(b, c);
}
