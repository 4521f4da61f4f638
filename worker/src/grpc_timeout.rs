//! The `grpc-timeout` header, read as a client-supplied bound: the gRPC wire format allows at
//! most eight digits and one unit (`H`, `M`, `S`, `m`, `u`, `n`), anything else is refused with
//! `INVALID_ARGUMENT`, and the deadline it sets is capped by the worker's own maximum. The
//! arithmetic is checked: a header like `9999999999999999999S` used to overflow
//! `Instant + Duration` and panic the request's task.

use std::time::{Duration, Instant};

use tonic::Status;

/// Most digits gRPC allows in a timeout value.
const MAX_DIGITS: usize = 8;

/// Parses a `grpc-timeout` value (`"500m"`, `"10S"`).
pub fn parse(value: &str) -> Result<Duration, String> {
    let bad =
        || format!("grpc-timeout {value:?} is not 1 to {MAX_DIGITS} digits and a unit (H, M, S, m, u, n)");
    let split = value.len().checked_sub(1).ok_or_else(bad)?;
    let (digits, unit) = (value.get(..split).ok_or_else(bad)?, &value[split..]);
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    // Eight digits of hours is under 2^49 seconds: no product below overflows.
    Ok(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return Err(bad()),
    })
}

/// The deadline a request's `grpc-timeout` header sets, at most `cap` from now; `None` without
/// the header.
pub fn deadline(metadata: &tonic::metadata::MetadataMap, cap: Duration) -> Result<Option<Instant>, Status> {
    let Some(value) = metadata.get("grpc-timeout") else { return Ok(None) };
    let value = value.to_str().map_err(|_| Status::invalid_argument("grpc-timeout is not ASCII"))?;
    let timeout = parse(value).map_err(Status::invalid_argument)?.min(cap);
    let now = Instant::now();
    Ok(Some(now.checked_add(timeout).unwrap_or(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses() {
        for (text, expected) in [
            ("2H", Duration::from_secs(7200)),
            ("3M", Duration::from_secs(180)),
            ("10S", Duration::from_secs(10)),
            ("500m", Duration::from_millis(500)),
            ("7u", Duration::from_micros(7)),
            ("99999999n", Duration::from_nanos(99_999_999)),
            ("99999999H", Duration::from_secs(99_999_999 * 3600)),
        ] {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn hostile_values_are_refused_not_panicked_on() {
        for text in ["", "S", "9999999999999999999S", "123456789S", "-1S", "+1S", "1.5S", "10s", "10", "1é"]
        {
            let err = parse(text).expect_err(text);
            assert!(err.contains("grpc-timeout"), "{text}: {err}");
        }
    }

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
