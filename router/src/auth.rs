//! API keys and per-key token-bucket rate limits, checked for both fronts: the HTTP API runs
//! [`Auth::check`] in a middleware layer (`http::auth`), the gRPC service in an interceptor
//! ([`Auth::intercept`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use tonic::Status;

use crate::config::ApiKey;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    /// No key or an unknown key.
    #[error("missing or invalid API key; send `Authorization: Bearer <key>`")]
    Unauthenticated,
    /// The key's rate limit is exhausted.
    #[error("rate limit exceeded for this API key; retry after {retry_after_ms} ms")]
    RateLimited {
        /// When a token will be available.
        retry_after_ms: u64,
    },
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Checks keys and spends rate-limit tokens.
pub(crate) struct Auth {
    keys: HashMap<String, ApiKey>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Auth {
    /// From the configured keys; none means every request is allowed.
    pub(crate) fn new(keys: &[ApiKey]) -> Self {
        Self {
            keys: keys.iter().map(|k| (k.key.clone(), k.clone())).collect(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Checks an `Authorization` header value and spends one token of its key.
    pub(crate) fn check(&self, authorization: Option<&str>) -> Result<(), AuthError> {
        if self.keys.is_empty() {
            return Ok(());
        }
        let key = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(AuthError::Unauthenticated)?;
        let spec = self.keys.get(key).ok_or(AuthError::Unauthenticated)?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let b = buckets.entry(key.to_string()).or_insert(Bucket { tokens: spec.burst, updated: now });
        b.tokens = (b.tokens + (now - b.updated).as_secs_f64() * spec.requests_per_second).min(spec.burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / spec.requests_per_second.max(1e-9);
            Err(AuthError::RateLimited { retry_after_ms: (wait * 1000.0).ceil() as u64 })
        }
    }
}

impl From<AuthError> for Status {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => Status::unauthenticated(e.to_string()),
            AuthError::RateLimited { .. } => Status::resource_exhausted(e.to_string()),
        }
    }
}

impl Auth {
    /// The gRPC check, as a tonic interceptor: the key comes from `authorization` metadata.
    pub(crate) fn intercept(&self, req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let header = req.metadata().get("authorization").and_then(|v| v.to_str().ok());
        self.check(header)?;
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_limits() {
        let auth = Auth::new(&[ApiKey { key: "k".into(), requests_per_second: 0.001, burst: 2.0 }]);
        assert_eq!(auth.check(None), Err(AuthError::Unauthenticated));
        assert_eq!(auth.check(Some("Bearer nope")), Err(AuthError::Unauthenticated));
        assert_eq!(auth.check(Some("Bearer k")), Ok(()));
        assert_eq!(auth.check(Some("Bearer k")), Ok(()));
        assert!(matches!(auth.check(Some("Bearer k")), Err(AuthError::RateLimited { .. })));
        assert_eq!(Auth::new(&[]).check(None), Ok(()));
    }
}
