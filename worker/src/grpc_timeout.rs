//! The `grpc-timeout` header, read as a client-supplied bound: the gRPC wire format allows at
//! most eight digits and one unit (`H`, `M`, `S`, `m`, `u`, `n`; parsed by
//! [`wick_api::limits::parse_timeout`]), anything else is refused with `INVALID_ARGUMENT`, and
//! the deadline it sets is capped by the worker's own maximum. The
//! arithmetic is checked: a header like `9999999999999999999S` used to overflow
//! `Instant + Duration` and panic the request's task.

use std::time::{Duration, Instant};

use tonic::Status;

/// The deadline a request's `grpc-timeout` header sets, at most `cap` from now; `None` without
/// the header.
pub fn deadline(metadata: &tonic::metadata::MetadataMap, cap: Duration) -> Result<Option<Instant>, Status> {
    let Some(value) = metadata.get("grpc-timeout") else { return Ok(None) };
    let value = value.to_str().map_err(|_| Status::invalid_argument("grpc-timeout is not ASCII"))?;
    let timeout =
        wick_api::limits::parse_timeout(value).map_err(|e| Status::invalid_argument(e.message))?.min(cap);
    let now = Instant::now();
    Ok(Some(now.checked_add(timeout).unwrap_or(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: &str) -> tonic::metadata::MetadataMap {
        let mut m = tonic::metadata::MetadataMap::new();
        m.insert("grpc-timeout", value.parse().expect("ascii"));
        m
    }

    #[test]
    fn the_deadline_is_capped_by_the_workers_maximum() {
        let cap = Duration::from_secs(900);
        let before = Instant::now();
        let far = deadline(&metadata("99999999H"), cap).expect("valid").expect("set");
        assert!(far >= before + cap && far <= Instant::now() + cap);
        let near = deadline(&metadata("100m"), cap).expect("valid").expect("set");
        assert!(near <= Instant::now() + Duration::from_millis(100));
        assert_eq!(deadline(&tonic::metadata::MetadataMap::new(), cap).expect("valid"), None);
        let refused = deadline(&metadata("9999999999999999999S"), cap).expect_err("refused");
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    }
}
