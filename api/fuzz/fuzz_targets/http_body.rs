//! Arbitrary bytes as the body of each OpenAI route: parsing and translating into `wick.v1`
//! requests never panics, and whatever it accepts respects the API's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wick_api::openai::{ChatRequest, CompletionRequest, EmbeddingsRequest, MAX_CHOICES, MAX_STOPS, MAX_TOP_LOGPROBS};

fn check(req: &wick_proto::v1::GenerateRequest, d: &wick_api::openai::Delivery) {
    let p = req.params.as_ref().expect("params are always set");
    assert!((1..=MAX_CHOICES).contains(&p.n) && d.n == p.n);
    assert!(p.stop.len() <= MAX_STOPS);
    assert!(p.top_logprobs <= MAX_TOP_LOGPROBS);
    assert!(p.max_tokens != Some(0));
    assert!((0.0..=2.0).contains(&p.temperature) && (-2.0..=2.0).contains(&p.presence_penalty));
    assert!(req.messages.is_empty() != req.prompt.is_empty());
    // The request hash covers every accepted request without panicking.
    let _ = wick_proto::signing::request_hash("m", &req.messages, &req.prompt, Some(p));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<ChatRequest>(data)
        && let Ok((req, d)) = r.into_generate()
    {
        check(&req, &d);
    }
    if let Ok(r) = serde_json::from_slice::<CompletionRequest>(data)
        && let Ok((req, d)) = r.into_generate()
    {
        check(&req, &d);
    }
    if let Ok(r) = serde_json::from_slice::<EmbeddingsRequest>(data)
        && let Ok((req, _)) = r.into_embed()
    {
        assert!(wick_api::limits::check_embed(&req).is_ok());
    }
});
