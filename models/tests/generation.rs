//! Text generation with the real default model: answers, determinism, limits, bad input.

mod common;

use wick_models::sampling::SamplingParams;
use wick_models::{ChatMessage, FinishReason, GenerationParams, TextModel};

fn ask(prompt: &str, params: &GenerationParams) -> wick_models::GenerationOutput {
    let mut streamed = String::new();
    let out = common::chat_model()
        .generate(&[ChatMessage::user(prompt)], params, |d| streamed.push_str(d))
        .expect("generate");
    assert_eq!(streamed, out.text, "streamed deltas add up to the text");
    out
}

fn greedy(max_tokens: usize) -> GenerationParams {
    GenerationParams { max_tokens, ..GenerationParams::default() }
}

fn seeded(seed: u64) -> GenerationParams {
    GenerationParams {
        max_tokens: 40,
        sampling: SamplingParams {
            temperature: 0.9,
            top_p: 0.95,
            top_k: 50,
            seed,
            ..SamplingParams::default()
        },
        ..GenerationParams::default()
    }
}

#[test]
fn answers_the_capital_of_france() {
    let out = ask("What is the capital of France?", &greedy(64));
    assert!(out.text.contains("Paris"), "{:?}", out.text);
    assert_eq!(out.finish_reason, FinishReason::Stop);
    assert!(out.usage.prompt_tokens > 10);
    assert_eq!(out.usage.completion_tokens, out.token_ids.len());
}

#[test]
fn greedy_is_deterministic() {
    let a = ask("Write a haiku about the sea.", &greedy(40));
    let b = ask("Write a haiku about the sea.", &greedy(40));
    assert_eq!(a.token_ids, b.token_ids);
}

#[test]
fn qwen_greedy_and_seeded_are_deterministic() {
    let model = common::qwen_model();
    let run = |params: &GenerationParams| {
        model.generate(
            &[ChatMessage::user("Write a Python function that reverses a string.")],
            params,
            |_| {},
        )
    };
    let (a, b) = (run(&greedy(24)).expect("generate"), run(&greedy(24)).expect("generate"));
    assert_eq!(a.token_ids, b.token_ids);
    let (c, d) = (run(&seeded(7)).expect("generate"), run(&seeded(7)).expect("generate"));
    assert_eq!(c.token_ids, d.token_ids);
}

#[test]
fn qwen_writes_a_correct_string_reversal() {
    let out = common::qwen_model()
        .generate(
            &[ChatMessage::user("Write a Python function that reverses a string.")],
            &greedy(200),
            |_| {},
        )
        .expect("generate");
    assert!(out.text.contains("def ") && out.text.contains("return"), "{}", out.text);
    assert!(out.text.contains("[::-1]") || out.text.contains("reversed("), "{}", out.text);
}

#[test]
fn seeded_sampling_is_deterministic_and_depends_on_the_seed() {
    let prompt = "Tell me a short story about a fox.";
    let a = ask(prompt, &seeded(42));
    let b = ask(prompt, &seeded(42));
    let c = ask(prompt, &seeded(43));
    assert_eq!(a.token_ids, b.token_ids);
    assert_ne!(a.token_ids, c.token_ids);
}

#[test]
fn max_tokens_ends_with_length() {
    let out = ask("Count from one to one hundred in words.", &greedy(5));
    assert_eq!(out.finish_reason, FinishReason::Length);
    assert_eq!(out.token_ids.len(), 5);
}

#[test]
fn stop_sequence_cuts_the_text() {
    let full = ask("What is the capital of France?", &greedy(64));
    let at = full.text.find("Paris").expect("Paris in the answer");
    let params = GenerationParams { stop: vec!["Paris".into()], ..greedy(64) };
    let out = ask("What is the capital of France?", &params);
    assert_eq!(out.text, full.text[..at]);
    assert_eq!(out.finish_reason, FinishReason::Stop);
}

#[test]
fn chunked_prefill_matches_one_token_at_a_time() {
    chunked_prefill_is_bit_identical(common::chat_model(), "Name three colours.");
}

#[test]
fn qwen_chunked_prefill_matches_one_token_at_a_time() {
    chunked_prefill_is_bit_identical(common::qwen_model(), "Write a Python function that adds two numbers.");
}

/// The same sequence fed as one long prefill or token by token gives bit-identical logits: the
/// forward pass does not depend on how rows are grouped.
fn chunked_prefill_is_bit_identical(model: &TextModel, question: &str) {
    use wick_models::llama::BatchItem;
    use wick_models::sampling::argmax;
    let prompt = model.encode_chat(&[ChatMessage::user(question)]).expect("encode");
    let llama = model.transformer();
    let mut whole = llama.new_cache();
    let a = llama
        .forward(&mut [BatchItem { cache: &mut whole, tokens: &prompt, want_logits: true }])
        .expect("fwd");
    let mut stepwise = llama.new_cache();
    let mut last = Vec::new();
    for t in &prompt {
        last = llama
            .forward(&mut [BatchItem { cache: &mut stepwise, tokens: &[*t], want_logits: true }])
            .expect("fwd");
    }
    assert_eq!(a[0], last[0], "logits are bit-identical");
    assert_eq!(argmax(&a[0]), argmax(&last[0]));
}

#[test]
fn batched_forward_matches_alone() {
    batching_is_bit_identical(common::chat_model());
}

#[test]
fn qwen_batched_forward_matches_alone() {
    batching_is_bit_identical(common::qwen_model());
}

fn batching_is_bit_identical(model: &TextModel) {
    use wick_models::llama::BatchItem;
    let llama = model.transformer();
    let p1 = model.encode_chat(&[ChatMessage::user("Hello!")]).expect("encode");
    let p2 = model
        .encode_chat(&[ChatMessage::user("A much longer question about the history of Rome?")])
        .expect("encode");
    let mut alone = llama.new_cache();
    let solo =
        llama.forward(&mut [BatchItem { cache: &mut alone, tokens: &p1, want_logits: true }]).expect("fwd");
    let (mut c1, mut c2) = (llama.new_cache(), llama.new_cache());
    let both = llama
        .forward(&mut [
            BatchItem { cache: &mut c2, tokens: &p2, want_logits: true },
            BatchItem { cache: &mut c1, tokens: &p1, want_logits: true },
        ])
        .expect("fwd");
    assert_eq!(solo[0], both[1]);
    // Three more sequences decode one token each beside it: still the same logits.
    let next = [wick_models::sampling::argmax(&solo[0])];
    let mut alone_next = alone.prefix(alone.len()).expect("copy");
    let solo_next = llama
        .forward(&mut [BatchItem { cache: &mut alone_next, tokens: &next, want_logits: true }])
        .expect("fwd");
    let mut others: Vec<_> = (0..3).map(|_| c2.prefix(c2.len()).expect("copy")).collect();
    let mut batch: Vec<BatchItem<'_>> =
        others.iter_mut().map(|cache| BatchItem { cache, tokens: &next, want_logits: true }).collect();
    batch.insert(1, BatchItem { cache: &mut c1, tokens: &next, want_logits: true });
    let batched = llama.forward(&mut batch).expect("fwd");
    assert_eq!(solo_next[0], batched[1]);
}

#[test]
fn bad_parameters_are_rejected_with_the_limit() {
    let model = common::chat_model();
    let msgs = [ChatMessage::user("hi")];
    let check = |params: GenerationParams, needle: &str| {
        let err = model.generate(&msgs, &params, |_| {}).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(needle), "{err}");
    };
    check(greedy(0), "max_tokens must be at least 1");
    let hot = SamplingParams { temperature: 5.0, ..SamplingParams::default() };
    check(GenerationParams { sampling: hot, ..greedy(5) }, "temperature must be between 0 and 2");
    let top_p = SamplingParams { top_p: 0.0, ..SamplingParams::default() };
    check(GenerationParams { sampling: top_p, ..greedy(5) }, "top_p must be in (0, 1]");
    let long = "word ".repeat(9000);
    let err = model.generate(&[ChatMessage::user(long)], &greedy(5), |_| {}).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("does not fit the context")));
}

#[test]
fn resumed_sequence_continues_exactly() {
    use wick_models::llama::BatchItem;
    let model = common::chat_model();
    let prompt = model.encode_chat(&[ChatMessage::user("Tell me about volcanoes.")]).expect("encode");
    let full = ask("Tell me about volcanoes.", &seeded(11));
    assert!(full.token_ids.len() > 20, "needs a long enough answer");
    let cut = 13;
    let mut seq = model.new_sequence(prompt, seeded(11)).expect("sequence");
    seq.replay(model, &full.token_ids[..cut]).expect("replay");
    let mut rest = String::new();
    while seq.finish_reason().is_none() {
        let (cache, tokens, want_logits) = seq.next_batch_item();
        let logits =
            model.transformer().forward(&mut [BatchItem { cache, tokens, want_logits }]).expect("fwd");
        if let Some(mut l) = logits.into_iter().next() {
            rest.push_str(&seq.accept_logits(model, &mut l).expect("step").delta);
        }
    }
    assert_eq!(seq.generated(), &full.token_ids[..]);
    let sent = model.tokenizer().decode(&full.token_ids[..cut]);
    assert!(full.text.starts_with(&sent[..sent.len().saturating_sub(4)]));
    assert!(full.text.ends_with(&rest), "the continuation's text is the tail of the full text");
}
