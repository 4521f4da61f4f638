//! The OpenAI-compatible HTTP API: `/v1/chat/completions` (JSON or SSE), `/v1/completions`,
//! `/v1/embeddings`, `/v1/models` behind the API-key layer, plus `/metrics` and `/health`.
//! Errors use OpenAI's body, `{"error": {"message", "type", "param", "code"}}`, with the
//! matching HTTP status (`error`).

mod auth;
mod chat;
mod embeddings;
mod error;
mod extract;
mod logprobs;
mod response;
mod sse;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use self::error::ApiError;
use self::response::{Health, ModelCard, ModelList};
use crate::state::RouterState;

/// The HTTP application.
pub(crate) fn app(state: Arc<RouterState>) -> axum::Router {
    let v1 = axum::Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(chat::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models))
        .route_layer(axum::middleware::from_fn_with_state(state.auth.clone(), auth::require_api_key));
    axum::Router::new()
        .merge(v1)
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .with_state(state)
}

/// Counts a request that failed on its way through the workers, and gives the client's error.
fn failed(state: &RouterState, route: &'static str, status: tonic::Status) -> ApiError {
    state.metrics.request(route, "error");
    ApiError::from(status)
}

/// `GET /v1/models`: what live workers serve.
async fn models(State(state): State<Arc<RouterState>>) -> axum::Json<ModelList> {
    let data = state
        .peers
        .models()
        .into_iter()
        .map(|m| ModelCard {
            id: m.name,
            object: "model",
            created: 0,
            owned_by: "wick",
            wick_id: m.id,
            kind: m.kind,
        })
        .collect();
    axum::Json(ModelList { object: "list", data })
}

async fn metrics(State(state): State<Arc<RouterState>>) -> Response {
    state.metrics.workers.set(state.peers.live_count() as i64);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.encode())
        .into_response()
}

async fn health(State(state): State<Arc<RouterState>>) -> axum::Json<Health> {
    axum::Json(Health { status: "ok", workers: state.peers.live_count() })
}
