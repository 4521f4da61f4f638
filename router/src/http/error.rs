//! OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with the matching HTTP
//! status. Handlers return `Result<_, ApiError>`; worker and forwarding failures
//! (`tonic::Status`), refused API keys and unreadable bodies convert into it.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::{Code, Status};

use crate::auth::AuthError;

/// An OpenAI-style error on its way to becoming a response.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    param: Option<String>,
}

/// The body of an error, also sent as the last SSE event of a stream that fails.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl<'a> ErrorBody<'a> {
    /// The body of a stream that failed after it started (no status code can change then).
    pub(crate) fn stream_failed(message: &'a str) -> Self {
        Self { error: ErrorDetail { message, kind: "server_error", param: None, code: None } }
    }
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into(), param: None }
    }

    /// 400: the request is malformed or asks for something unsupported.
    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 404: no such route.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    /// 500: the router could not answer.
    pub(crate) fn server_error(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// OpenAI's `code` for this status, or the error's type.
    fn code(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "invalid_api_key",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_exceeded",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::SERVICE_UNAVAILABLE => "no_worker_available",
            StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
            _ => self.kind,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = ErrorDetail {
            message: &self.message,
            kind: self.kind,
            param: self.param.as_deref(),
            code: Some(self.code()),
        };
        (self.status, axum::Json(ErrorBody { error })).into_response()
    }
}

impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        let (status, kind) = match s.code() {
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
        // Workers name the parameter at fault first, e.g. `response_format: the schema …`.
        let message = s.message().trim_start_matches("invalid argument: ");
        let param = ["response_format", "max_tokens", "stop", "top_logprobs", "n", "prompt", "messages"]
            .into_iter()
            .find(|p| message.strip_prefix(p).is_some_and(|rest| rest.starts_with([':', ' ', '.'])))
            .filter(|_| status == StatusCode::BAD_REQUEST)
            .map(str::to_string);
        Self { param, ..Self::new(status, kind, s.message()) }
    }
}

/// A request the client must change (400), naming the parameter at fault.
impl From<wick_api::RequestError> for ApiError {
    fn from(e: wick_api::RequestError) -> Self {
        Self { param: e.param, ..Self::invalid_request(e.message) }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => {
                Self::new(StatusCode::UNAUTHORIZED, "authentication_error", e.to_string())
            }
            AuthError::RateLimited { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", e.to_string())
            }
        }
    }
}

/// A body that could not be read: 413 over `max_body_bytes`, otherwise axum's status.
impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        let status = r.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is larger than the router's limit (max_body_bytes)".to_string()
        } else {
            r.body_text()
        };
        Self::new(status, "invalid_request_error", message)
    }
}
