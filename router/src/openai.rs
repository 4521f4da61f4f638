//! The OpenAI-compatible HTTP API: `/v1/chat/completions` (JSON or SSE), `/v1/completions`,
//! `/v1/embeddings`, `/v1/models`, plus `/metrics` and `/health`. Errors use OpenAI's body,
//! `{"error": {"message", "type", "param", "code"}}`, with the matching HTTP status.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use futures::{Stream, StreamExt};
use prost::Message;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tonic::{Code, Status};
use wick_proto::v1::{
    self, ChatMessage, EmbedRequest, FinishReason, GenerateRequest, GenerateResponse, SignedReceipt,
    generate_response,
};

use crate::auth::AuthError;
use crate::state::RouterState;
use crate::ticket::JobId;

/// The HTTP application.
pub(crate) fn app(state: Arc<RouterState>) -> axum::Router {
    let limit = state.max_body_bytes;
    axum::Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "invalid_request_error", "no such route".into()) })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// An OpenAI-style error response.
pub(crate) fn error(status: StatusCode, kind: &str, message: String) -> Response {
    let code = match status {
        StatusCode::UNAUTHORIZED => "invalid_api_key",
        StatusCode::TOO_MANY_REQUESTS => "rate_limit_exceeded",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::SERVICE_UNAVAILABLE => "no_worker_available",
        StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
        _ => kind,
    };
    let body = json!({ "error": { "message": message, "type": kind, "param": Value::Null, "code": code } });
    (status, axum::Json(body)).into_response()
}

/// An OpenAI-style error on its way to becoming a response (see [`error`]).
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: String) -> Self {
        Self { status, kind, message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.status, self.kind, self.message)
    }
}

fn status_error(s: &Status) -> Response {
    let (code, kind) = match s.code() {
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        }
        Code::NotFound => (StatusCode::NOT_FOUND, "invalid_request_error"),
        Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "authentication_error"),
        Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
        Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    };
    error(code, kind, s.message().to_string())
}

fn authorize(state: &RouterState, headers: &HeaderMap) -> Result<(), ApiError> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok());
    state.auth.check(header).map_err(|e| match e {
        AuthError::Unauthenticated => {
            ApiError::new(StatusCode::UNAUTHORIZED, "authentication_error", e.to_string())
        }
        AuthError::RateLimited { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", e.to_string())
        }
    })
}

/// A request body, or the OpenAI-style error for one that could not be read (413 over the size
/// limit).
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let status = r.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is larger than the router's limit (max_body_bytes)".to_string()
        } else {
            r.body_text()
        };
        ApiError::new(status, "invalid_request_error", message)
    })
}

fn parse<T: for<'de> Deserialize<'de>>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = read_body(body)?;
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", format!("invalid request body: {e}"))
    })
}

fn new_id(prefix: &str) -> String {
    let mut id = [0u8; 12];
    rand::fill(&mut id);
    format!("{prefix}-{}", hex::encode(id))
}

/// A receipt as JSON, bytes in hex.
pub(crate) fn receipt_json(s: &SignedReceipt) -> Value {
    let r = s.receipt.clone().unwrap_or_default();
    json!({
        "job_hash": hex::encode(&r.job_hash),
        "model_id": hex::encode(&r.model_id),
        "output_hash": hex::encode(&r.output_hash),
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "started_unix_ms": r.started_unix_ms,
        "finished_unix_ms": r.finished_unix_ms,
        "worker_public_key": hex::encode(&r.worker_public_key),
        "worker_signature": hex::encode(&s.worker_signature),
        "router_public_key": hex::encode(&s.router_public_key),
        "router_signature": hex::encode(&s.router_signature),
        "protobuf": hex::encode(s.encode_to_vec()),
    })
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Debug, Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The sampling fields shared by chat and text completions.
#[derive(Debug, Deserialize)]
struct Sampling {
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<u32>,
    repetition_penalty: Option<f32>,
    seed: Option<u64>,
    stop: Option<OneOrMany>,
    n: Option<u32>,
}

impl Sampling {
    fn to_params(&self) -> Result<v1::SamplingParams, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "only n = 1 is supported".into(),
            ));
        }
        Ok(v1::SamplingParams {
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(1.0),
            top_k: self.top_k.unwrap_or(0),
            repetition_penalty: self.repetition_penalty.unwrap_or(1.0),
            seed: self.seed.unwrap_or(0),
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            stop: self
                .stop
                .as_ref()
                .map(|s| match s {
                    OneOrMany::One(x) => vec![x.clone()],
                    OneOrMany::Many(v) => v.clone(),
                })
                .unwrap_or_default(),
            ignore_eos: false,
        })
    }
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    sampling: Sampling,
}

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    model: String,
    prompt: OneOrMany,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    sampling: Sampling,
}

fn chat_messages(messages: Vec<InMessage>) -> Result<Vec<ChatMessage>, ApiError> {
    messages
        .into_iter()
        .map(|m| {
            let content = match m.content {
                None => String::new(),
                Some(Content::Text(t)) => t,
                Some(Content::Parts(parts)) => {
                    if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_request_error",
                            format!("content part type `{}` is not supported (text only)", p.kind),
                        ));
                    }
                    parts.into_iter().map(|p| p.text).collect()
                }
            };
            let role = if m.role == "developer" { "system".to_string() } else { m.role };
            Ok(ChatMessage { role, content })
        })
        .collect()
}

/// Which OpenAI object a generation is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Chat,
    Text,
}

async fn chat_completions(
    State(state): State<Arc<RouterState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let req: ChatRequest = match parse(body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let messages = match chat_messages(req.messages) {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    let params = match req.sampling.to_params() {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let grpc = GenerateRequest {
        model: req.model.clone(),
        messages,
        params: Some(params),
        ticket: None,
        resume_tokens: Vec::new(),
        prompt: String::new(),
    };
    let usage = req.stream_options.unwrap_or_default().include_usage;
    run(state, grpc, req.model, req.stream, usage, Flavor::Chat).await
}

async fn completions(
    State(state): State<Arc<RouterState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let req: CompletionRequest = match parse(body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let prompts = req.prompt.into_vec();
    if prompts.len() != 1 {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "exactly one prompt is supported".into(),
        );
    }
    let params = match req.sampling.to_params() {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let grpc = GenerateRequest {
        model: req.model.clone(),
        messages: Vec::new(),
        params: Some(params),
        ticket: None,
        resume_tokens: Vec::new(),
        prompt: prompts.into_iter().next().unwrap_or_default(),
    };
    let usage = req.stream_options.unwrap_or_default().include_usage;
    run(state, grpc, req.model, req.stream, usage, Flavor::Text).await
}

fn finish_reason(code: i32) -> &'static str {
    if code == FinishReason::Length as i32 { "length" } else { "stop" }
}

async fn run(
    state: Arc<RouterState>,
    req: GenerateRequest,
    model: String,
    stream: bool,
    include_usage: bool,
    flavor: Flavor,
) -> Response {
    let started = Instant::now();
    let mut rx = state.forwarder.stream(JobId::random(), req);
    let route = if flavor == Flavor::Chat { "http.chat" } else { "http.completions" };
    let id = new_id(if flavor == Flavor::Chat { "chatcmpl" } else { "cmpl" });
    let created = wick_proto::time::now_unix_secs();
    if stream {
        // Wait for the first message so that errors before any output get a proper status.
        let first = match rx.recv().await {
            Some(Ok(m)) => m,
            Some(Err(s)) => {
                state.metrics.request(route, "error");
                return status_error(&s);
            }
            None => return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "no response".into()),
        };
        state.metrics.ttft.observe(started.elapsed().as_secs_f64());
        let chunks = sse_stream(state, first, rx, id, model, created, include_usage, flavor, route);
        return Sse::new(chunks).into_response();
    }
    let mut text = String::new();
    let mut done = None;
    while let Some(msg) = rx.recv().await {
        match msg {
            Ok(GenerateResponse { event: Some(generate_response::Event::Delta(d)) }) => {
                text.push_str(&d.text)
            }
            Ok(GenerateResponse { event: Some(generate_response::Event::Done(d)) }) => done = Some(d),
            Ok(_) => {}
            Err(s) => {
                state.metrics.request(route, "error");
                return status_error(&s);
            }
        }
    }
    let Some(done) = done else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the job ended without a result".into(),
        );
    };
    state.metrics.request(route, "ok");
    state.metrics.latency.observe(started.elapsed().as_secs_f64());
    let usage = done.usage.unwrap_or_default();
    let receipt = done.receipt.clone().unwrap_or_default();
    let choice = match flavor {
        Flavor::Chat => json!({
            "index": 0,
            "message": { "role": "assistant", "content": text },
            "logprobs": Value::Null,
            "finish_reason": finish_reason(done.finish_reason),
        }),
        Flavor::Text => json!({
            "index": 0, "text": text, "logprobs": Value::Null, "finish_reason": finish_reason(done.finish_reason),
        }),
    };
    let body = json!({
        "id": id,
        "object": if flavor == Flavor::Chat { "chat.completion" } else { "text_completion" },
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
        "wick_receipt": receipt_json(&receipt),
    });
    let mut response = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&hex::encode(receipt.encode_to_vec())) {
        response.headers_mut().insert("x-wick-receipt", v);
    }
    response
}

/// Identity of the chunks of one streamed response.
struct ChunkHeader {
    id: String,
    model: String,
    created: u64,
    flavor: Flavor,
}

impl ChunkHeader {
    fn event(&self, choices: Value, extra: &[(&str, Value)]) -> Event {
        let object = if self.flavor == Flavor::Chat { "chat.completion.chunk" } else { "text_completion" };
        let mut v = json!({
            "id": self.id, "object": object, "created": self.created, "model": self.model, "choices": choices,
        });
        for (k, x) in extra {
            v[*k] = x.clone();
        }
        Event::default().data(v.to_string())
    }

    fn delta(&self, text: &str, reason: Option<&str>) -> Value {
        match self.flavor {
            Flavor::Chat => {
                json!([{ "index": 0, "delta": { "content": text }, "logprobs": Value::Null, "finish_reason": reason }])
            }
            Flavor::Text => {
                json!([{ "index": 0, "text": text, "logprobs": Value::Null, "finish_reason": reason }])
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn sse_stream(
    state: Arc<RouterState>,
    first: GenerateResponse,
    mut rx: mpsc::Receiver<Result<GenerateResponse, Status>>,
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    flavor: Flavor,
    route: &'static str,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let (tx, out) = mpsc::channel::<Event>(64);
    let header = ChunkHeader { id, model, created, flavor };
    tokio::spawn(async move {
        if flavor == Flavor::Chat {
            let role = json!([{ "index": 0, "delta": { "role": "assistant", "content": "" }, "finish_reason": Value::Null }]);
            if tx.send(header.event(role, &[])).await.is_err() {
                return;
            }
        }
        let mut next: Option<Result<GenerateResponse, Status>> = Some(Ok(first));
        while let Some(msg) = next {
            let event = match msg {
                Ok(GenerateResponse { event: Some(generate_response::Event::Delta(d)) })
                    if !d.text.is_empty() =>
                {
                    Some(header.event(header.delta(&d.text, None), &[]))
                }
                Ok(GenerateResponse { event: Some(generate_response::Event::Done(done)) }) => {
                    let u = done.usage.unwrap_or_default();
                    let usage = json!({
                        "prompt_tokens": u.prompt_tokens,
                        "completion_tokens": u.completion_tokens,
                        "total_tokens": u.prompt_tokens + u.completion_tokens,
                    });
                    let receipt = receipt_json(&done.receipt.unwrap_or_default());
                    let reason = finish_reason(done.finish_reason);
                    let last = header.event(header.delta("", Some(reason)), &[("wick_receipt", receipt)]);
                    if tx.send(last).await.is_err() {
                        return;
                    }
                    state.metrics.request(route, "ok");
                    include_usage.then(|| header.event(json!([]), &[("usage", usage)]))
                }
                Ok(_) => None,
                Err(s) => {
                    state.metrics.request(route, "error");
                    let body = json!({ "error": {
                        "message": s.message(), "type": "server_error", "param": Value::Null, "code": Value::Null,
                    }});
                    let _ = tx.send(Event::default().data(body.to_string())).await;
                    return;
                }
            };
            if let Some(event) = event
                && tx.send(event).await.is_err()
            {
                // The client went away; dropping `rx` cancels the job on the worker.
                return;
            }
            next = rx.recv().await;
        }
        let _ = tx.send(Event::default().data("[DONE]")).await;
    });
    tokio_stream::wrappers::ReceiverStream::new(out).map(Ok)
}

#[derive(Debug, Deserialize)]
struct EmbeddingsRequest {
    model: String,
    input: OneOrMany,
    #[serde(default)]
    encoding_format: Option<String>,
}

async fn embeddings(
    State(state): State<Arc<RouterState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let req: EmbeddingsRequest = match parse(body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("encoding_format `{other}` is not supported (float or base64)"),
            );
        }
    };
    let inputs = req.input.into_vec();
    let req_grpc = EmbedRequest { model: req.model.clone(), inputs, ticket: None };
    let result = state.forwarder.embed(JobId::random(), req_grpc).await;
    let resp = match result {
        Ok(r) => r,
        Err(s) => {
            state.metrics.request("http.embeddings", "error");
            return status_error(&s);
        }
    };
    state.metrics.request("http.embeddings", "ok");
    let data: Vec<Value> = resp
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = e.values.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(e.values)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    let tokens = resp.usage.map(|u| u.prompt_tokens).unwrap_or(0);
    let receipt = resp.receipt.unwrap_or_default();
    let body = json!({
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
        "wick_receipt": receipt_json(&receipt),
    });
    let mut response = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&hex::encode(receipt.encode_to_vec())) {
        response.headers_mut().insert("x-wick-receipt", v);
    }
    response
}

async fn models(State(state): State<Arc<RouterState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let data: Vec<Value> = state
        .peers
        .models()
        .into_iter()
        .map(|m| json!({ "id": m.name, "object": "model", "created": 0, "owned_by": "wick", "wick_id": m.id, "kind": m.kind }))
        .collect();
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

async fn metrics(State(state): State<Arc<RouterState>>) -> Response {
    state.metrics.workers.set(state.peers.live_count() as i64);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.encode())
        .into_response()
}

async fn health(State(state): State<Arc<RouterState>>) -> Response {
    let live = state.peers.live_count();
    axum::Json(json!({ "status": "ok", "workers": live })).into_response()
}
