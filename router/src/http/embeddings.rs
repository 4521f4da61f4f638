//! `POST /v1/embeddings`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use tracing::Instrument;

use super::error::ApiError;
use super::extract::JsonBody;
use super::failed;
use super::response::{EmbeddingList, Vector, with_receipt};
use crate::state::RouterState;
use crate::ticket::JobId;
use wick_api::openai::EmbeddingsRequest;

const ROUTE: &str = "http.embeddings";

/// Embeds the inputs on a worker, as a new job in a tracing span that carries its id.
pub(crate) async fn embeddings(
    State(state): State<Arc<RouterState>>,
    JsonBody(req): JsonBody<EmbeddingsRequest>,
) -> Result<Response, ApiError> {
    let (req, encoding) = req.into_embed()?;
    let model = req.model.clone();
    let job = JobId::random();
    let span = tracing::info_span!("request", route = ROUTE, job = %job);
    let resp =
        state.forwarder.embed(job, req).instrument(span).await.map_err(|s| failed(&state, ROUTE, s))?;
    state.metrics.request(ROUTE, "ok");
    let vectors = resp.embeddings.into_iter().map(|e| Vector::new(e.values, encoding)).collect();
    let tokens = resp.usage.map_or(0, |u| u.prompt_tokens);
    let receipt = resp.receipt.unwrap_or_default();
    Ok(with_receipt(EmbeddingList::new(model, vectors, tokens, &receipt), &receipt))
}
