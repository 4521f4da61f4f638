//! API-key checking as a middleware layer on the `/v1` routes (`/metrics` and `/health` stay
//! open).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use crate::auth::Auth;

/// Refuses requests without a valid key (401) or over their key's rate (429).
pub(crate) async fn require_api_key(
    State(auth): State<Arc<Auth>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    auth.check(header)?;
    Ok(next.run(req).await)
}
