use super::*;

fn chat(body: &str) -> Result<(GenerateRequest, Delivery), RequestError> {
    serde_json::from_str::<ChatRequest>(body).expect("parses").into_generate()
}

fn completion(body: &str) -> Result<(GenerateRequest, Delivery), RequestError> {
    serde_json::from_str::<CompletionRequest>(body).expect("parses").into_generate()
}

fn param(r: Result<(GenerateRequest, Delivery), RequestError>) -> Option<String> {
    r.err().and_then(|e| e.param)
}

#[test]
fn chat_bodies_become_generate_requests() {
    let body = r#"{"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"a"},
        {"type":"text","text":"b"}]},{"role":"user"}],"stop":"x","max_tokens":3,"max_completion_tokens":5,
        "stream":true,"stream_options":{"include_usage":true},"user":"u","tools":[],"logit_bias":null}"#;
    let (grpc, delivery) = chat(body).expect("valid");
    assert_eq!(grpc.messages[0], ChatMessage { role: "system".into(), content: "ab".into() });
    assert_eq!(grpc.messages[1].content, "");
    let params = grpc.params.expect("params");
    assert_eq!((params.max_tokens, params.stop, params.temperature), (Some(5), vec!["x".to_string()], 1.0));
    assert!(delivery.stream && delivery.include_usage);
    assert_eq!((delivery.n, delivery.logprobs), (1, None));
}

#[test]
fn every_served_parameter_reaches_the_wire() {
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"n":3,"seed":9,
        "presence_penalty":0.5,"frequency_penalty":-0.5,"logprobs":true,"top_logprobs":4,
        "response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,
        "schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}}"#;
    let (grpc, delivery) = chat(body).expect("valid");
    let p = grpc.params.expect("params");
    assert_eq!((p.n, p.seed, p.presence_penalty, p.frequency_penalty), (3, 9, 0.5, -0.5));
    assert!(p.logprobs);
    assert_eq!(p.top_logprobs, 4);
    let f = p.response_format.expect("format");
    assert_eq!((f.r#type.as_str(), f.strict), ("json_schema", true));
    assert!(f.schema.contains("\"integer\""));
    assert_eq!((delivery.n, delivery.logprobs), (3, Some(4)));
    let (grpc, delivery) =
        completion(r#"{"model":"m","prompt":"Once","logprobs":2,"echo":false}"#).expect("ok");
    assert_eq!(grpc.prompt, "Once");
    assert!(grpc.messages.is_empty());
    assert_eq!(delivery.logprobs, Some(2));
}

#[test]
fn unsupported_parameters_are_refused_by_name() {
    let m = r#""model":"m","messages":[{"role":"user","content":"hi"}]"#;
    let with = |extra: &str| chat(&format!("{{{m},{extra}}}"));
    assert_eq!(param(with(r#""tools":[{"type":"function"}]"#)), Some("tools".into()));
    assert_eq!(param(with(r#""logit_bias":{"1":5}"#)), Some("logit_bias".into()));
    assert_eq!(param(with(r#""parallel_tool_calls":true"#)), Some("parallel_tool_calls".into()));
    assert_eq!(param(with(r#""n":9"#)), Some("n".into()));
    assert_eq!(param(with(r#""n":0"#)), Some("n".into()));
    assert_eq!(param(with(r#""stop":["a","b","c","d","e"]"#)), Some("stop".into()));
    assert_eq!(param(with(r#""top_logprobs":21,"logprobs":true"#)), Some("top_logprobs".into()));
    assert_eq!(param(with(r#""top_logprobs":2"#)), Some("top_logprobs".into()));
    assert_eq!(param(with(r#""presence_penalty":3"#)), Some("presence_penalty".into()));
    assert_eq!(param(with(r#""response_format":{"type":"yaml"}"#)), Some("response_format".into()));
    assert_eq!(
        param(with(r#""response_format":{"type":"json_schema"}"#)),
        Some("response_format.json_schema".into())
    );
    assert_eq!(param(with(r#""max_tokens":0"#)), Some("max_tokens".into()));
    let tool_msg =
        chat(r#"{"model":"m","messages":[{"role":"user","content":"hi","tool_calls":[{"id":"1"}]}]}"#);
    assert_eq!(param(tool_msg), Some("messages[0].tool_calls".into()));
    let tool_role = chat(r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#);
    assert_eq!(param(tool_role), Some("messages[0].role".into()));
    let image = chat(r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#);
    assert_eq!(param(image), Some("messages[0].content".into()));
    assert_eq!(param(chat(r#"{"model":"m","messages":[]}"#)), Some("messages".into()));
    assert_eq!(param(completion(r#"{"model":"m","prompt":["a","b"]}"#)), Some("prompt".into()));
    assert_eq!(param(completion(r#"{"model":"m","prompt":"a","suffix":"z"}"#)), Some("suffix".into()));
    assert_eq!(param(completion(r#"{"model":"m","prompt":"a","echo":true}"#)), Some("echo".into()));
    assert!(completion(r#"{"model":"m","prompt":"a","best_of":1}"#).is_ok());
    let e: EmbeddingsRequest =
        serde_json::from_str(r#"{"model":"m","input":"a","encoding_format":"int8"}"#).expect("parses");
    assert_eq!(e.into_embed().err().and_then(|e| e.param), Some("encoding_format".into()));
    let e: EmbeddingsRequest =
        serde_json::from_str(r#"{"model":"m","input":"a","dimensions":8}"#).expect("parses");
    assert_eq!(e.into_embed().err().and_then(|e| e.param), Some("dimensions".into()));
}
