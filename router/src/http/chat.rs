//! `POST /v1/chat/completions` and `POST /v1/completions`: one generation (of `n` choices),
//! answered as one JSON object or streamed as server-sent events (`sse`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use wick_api::openai::{ChatRequest, CompletionRequest, Delivery};
use wick_proto::v1::{GenerateRequest, GenerateResponse, generate_response};

use super::error::ApiError;
use super::extract::JsonBody;
use super::failed;
use super::response::{ChunkHeader, Completion, Flavor, Gathered, with_receipt};
use super::sse::{SseJob, sse_stream};
use crate::choices;
use crate::forward::Generation;
use crate::state::RouterState;
use crate::ticket::JobId;

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    State(state): State<Arc<RouterState>>,
    JsonBody(req): JsonBody<ChatRequest>,
) -> Result<Response, ApiError> {
    let (req, delivery) = req.into_generate()?;
    complete(state, req, delivery, Flavor::Chat).await
}

/// `POST /v1/completions`.
pub(crate) async fn completions(
    State(state): State<Arc<RouterState>>,
    JsonBody(req): JsonBody<CompletionRequest>,
) -> Result<Response, ApiError> {
    let (req, delivery) = req.into_generate()?;
    complete(state, req, delivery, Flavor::Text).await
}

/// Runs the generation as a new job, in a tracing span that carries its id.
async fn complete(
    state: Arc<RouterState>,
    req: GenerateRequest,
    delivery: Delivery,
    flavor: Flavor,
) -> Result<Response, ApiError> {
    let job = JobId::random();
    let span = tracing::info_span!("request", route = flavor.route(), job = %job);
    async move {
        tracing::info!(model = %req.model, stream = delivery.stream, n = delivery.n, "generation");
        let started = Instant::now();
        let header = ChunkHeader {
            id: flavor.new_id(),
            model: req.model.clone(),
            created: wick_proto::time::now_unix_secs(),
            flavor,
        };
        let events = choices::stream(&state.forwarder, job, req);
        if delivery.stream {
            let job = SseJob { header, delivery, metrics: state.metrics.clone() };
            stream(&state, events, job, started).await
        } else {
            whole(&state, events, header, delivery, started).await
        }
    }
    .instrument(span)
    .await
}

/// Answers as server-sent events, once the first event has come: errors before any output get
/// a proper status.
async fn stream(
    state: &RouterState,
    mut events: Generation,
    job: SseJob,
    started: Instant,
) -> Result<Response, ApiError> {
    let first = match events.recv().await {
        Some(first) => first.map_err(|s| failed(state, job.header.flavor.route(), s))?,
        None => return Err(ApiError::server_error("no response")),
    };
    state.metrics.ttft.observe(started.elapsed().as_secs_f64());
    Ok(Sse::new(sse_stream(job, first, events)).into_response())
}

/// Answers with the whole completion once every choice is done.
async fn whole(
    state: &RouterState,
    mut events: Generation,
    header: ChunkHeader,
    delivery: Delivery,
    started: Instant,
) -> Result<Response, ApiError> {
    let route = header.flavor.route();
    let mut choices: Vec<Gathered> = (0..delivery.n).map(|_| Gathered::default()).collect();
    while let Some(event) = events.recv().await {
        match event.map_err(|s| failed(state, route, s))? {
            GenerateResponse { event: Some(generate_response::Event::Delta(d)) } => {
                if let Some(c) = choices.get_mut(d.index as usize) {
                    c.text.push_str(&d.text);
                    c.logprobs.extend(d.logprobs);
                }
            }
            GenerateResponse { event: Some(generate_response::Event::Done(d)) } => {
                if let Some(c) = choices.get_mut(d.index as usize) {
                    c.done = Some(d);
                }
            }
            GenerateResponse { event: None } => {}
        }
    }
    if choices.iter().any(|c| c.done.is_none()) {
        return Err(ApiError::server_error("the job ended without a result"));
    }
    state.metrics.request(route, "ok");
    state.metrics.latency.observe(started.elapsed().as_secs_f64());
    let receipt = choices[0].done.as_ref().and_then(|d| d.receipt.clone()).unwrap_or_default();
    Ok(with_receipt(Completion::new(header, &choices, delivery.logprobs.is_some()), &receipt))
}
