//! The explorer's HTTP server: the web UI (three committed files, embedded in the binary), the
//! JSON it is built from under `/api/`, and `/api/events`, server-sent events that tell live
//! pages to refresh. Errors are `{"error": "…"}` with the matching status.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use serde::{Deserialize, Serialize};
use wick_proto::time::now_unix_ms;

use crate::actor::{IndexHandle, Stopped};
use crate::ledger_state::LedgerReader;
use crate::receipt::{self, ReceiptCheck};
use crate::views::{self, chain, governance, overview, roles, workers};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// Live pages are told about changes at most this often.
const EVENT_EVERY: Duration = Duration::from_millis(250);

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The chain index and the peer book.
    pub index: IndexHandle,
    /// The ledger's current state.
    pub ledger: LedgerReader,
}

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// Nothing by that name.
    NotFound(String),
    /// The request is malformed.
    BadRequest(String),
    /// The ledger has not answered yet, or the explorer is stopping.
    Unavailable(String),
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
        };
        (status, Json(ErrorBody { error })).into_response()
    }
}

impl From<Stopped> for ApiError {
    fn from(e: Stopped) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The HTTP application.
pub fn app(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/", get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX_HTML) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/api/overview", get(overview))
        .route("/api/workers", get(workers))
        .route("/api/workers/{address}", get(worker))
        .route("/api/routers", get(routers))
        .route("/api/validators", get(validators))
        .route("/api/blocks", get(blocks))
        .route("/api/blocks/{height}", get(block))
        .route("/api/txs/{hash}", get(tx))
        .route("/api/accounts/{address}", get(account))
        .route("/api/governance", get(governance))
        .route("/api/receipts/check", post(check_receipt))
        .route("/api/events", get(events))
        .fallback(|| async { ApiError::NotFound("no such page".into()) })
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

async fn overview(State(s): State<Arc<AppState>>) -> ApiResult<overview::Overview> {
    let status = s.ledger.status();
    let now = now_unix_ms();
    Ok(Json(s.index.read(move |i, p| overview::overview(i, p, &status, now)).await?))
}

async fn workers(State(s): State<Arc<AppState>>) -> ApiResult<workers::WorkersPage> {
    let snap = s.ledger.status().snapshot;
    let now = now_unix_ms();
    Ok(Json(s.index.read(move |i, p| workers::page(i, p, snap.as_deref(), now)).await?))
}

fn address(text: &str) -> Result<wick_staking::Address, ApiError> {
    views::parse_address(text)
        .ok_or_else(|| ApiError::BadRequest(format!("{text:?} is not a 64-hex-digit address")))
}

async fn worker(State(s): State<Arc<AppState>>, Path(a): Path<String>) -> ApiResult<workers::WorkerPage> {
    let a = address(&a)?;
    let snap = s.ledger.status().snapshot;
    let now = now_unix_ms();
    let page = s.index.read(move |i, p| workers::worker_page(i, p, snap.as_deref(), &a, now)).await?;
    page.map(Json).ok_or_else(|| ApiError::NotFound(format!("no worker {a}")))
}

async fn routers(State(s): State<Arc<AppState>>) -> ApiResult<roles::RoutersPage> {
    let snap = s.ledger.status().snapshot;
    Ok(Json(s.index.read(move |i, _| roles::routers(i, snap.as_deref())).await?))
}

async fn validators(State(s): State<Arc<AppState>>) -> Json<roles::ValidatorsPage> {
    Json(roles::validators(&s.ledger.status()))
}

#[derive(Debug, Deserialize)]
struct BlocksQuery {
    before: Option<u64>,
    limit: Option<usize>,
}

async fn blocks(
    State(s): State<Arc<AppState>>,
    Query(q): Query<BlocksQuery>,
) -> ApiResult<chain::BlocksPage> {
    let limit = q.limit.unwrap_or(50);
    Ok(Json(s.index.read(move |i, _| chain::blocks(i, q.before, limit)).await?))
}

async fn block(State(s): State<Arc<AppState>>, Path(height): Path<u64>) -> ApiResult<chain::BlockPage> {
    let page = s.index.read(move |i, _| chain::block(i, height)).await?;
    page.map(Json).ok_or_else(|| ApiError::NotFound(format!("no block {height} (yet)")))
}

async fn tx(State(s): State<Arc<AppState>>, Path(hash): Path<String>) -> ApiResult<views::TxView> {
    let h = views::parse_hash(&hash)
        .ok_or_else(|| ApiError::BadRequest(format!("{hash:?} is not a 64-hex-digit hash")))?;
    let view = s.index.read(move |i, _| chain::tx(i, &h)).await?;
    view.map(Json).ok_or_else(|| ApiError::NotFound(format!("no transaction {hash}")))
}

async fn account(State(s): State<Arc<AppState>>, Path(a): Path<String>) -> ApiResult<chain::AccountPage> {
    let a = address(&a)?;
    let mut page = s.index.read(move |i, _| chain::account(i, &a)).await?;
    match s.ledger.account(a).await {
        Ok(acc) => page.account = Some(acc),
        Err(e) => page.ledger_error = Some(e),
    }
    page.is_worker = s.ledger.status().snapshot.is_some_and(|snap| snap.worker(&a.0).is_some());
    Ok(Json(page))
}

async fn governance(State(s): State<Arc<AppState>>) -> ApiResult<governance::GovernancePage> {
    let snap = s
        .ledger
        .status()
        .snapshot
        .ok_or_else(|| ApiError::Unavailable("the ledger has not answered yet".into()))?;
    Ok(Json(governance::page(&snap)))
}

/// A receipt check, and whether the worker it names is registered on the ledger.
#[derive(Debug, Serialize)]
struct ReceiptAnswer {
    #[serde(flatten)]
    check: ReceiptCheck,
    /// `None` when there is no receipt or the ledger has not answered.
    worker_registered: Option<bool>,
}

async fn check_receipt(State(s): State<Arc<AppState>>, body: String) -> Json<ReceiptAnswer> {
    let check = receipt::check(&body);
    let key = check.receipt.as_ref().and_then(|r| hex::decode(&r.worker_public_key).ok());
    let worker_registered = match (key, s.ledger.status().snapshot) {
        (Some(k), Some(snap)) => Some(snap.worker(&k).is_some()),
        _ => None,
    };
    Json(ReceiptAnswer { check, worker_registered })
}

/// `update` events whenever the index or the ledger's state changed (at most every 250 ms).
async fn events(State(s): State<Arc<AppState>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let watches = (s.index.changes(), s.ledger.changes());
    let stream = futures::stream::unfold(watches, |(mut index, mut ledger)| async move {
        tokio::select! {
            r = index.changed() => r.ok()?,
            r = ledger.changed() => r.ok()?,
        }
        tokio::time::sleep(EVENT_EVERY).await;
        let version = *index.borrow_and_update();
        ledger.borrow_and_update();
        let event = Event::default().event("update").data(version.to_string());
        Some((Ok(event), (index, ledger)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
