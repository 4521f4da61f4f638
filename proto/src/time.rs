//! Wire times: milliseconds since the Unix epoch, as receipts, tickets, capability records and
//! blocks carry them. One clock for every node, so no two copies round differently.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `t` in milliseconds since the Unix epoch (0 before it, `u64::MAX` past the year 584 million).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The current time in milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// The current time in whole seconds since the Unix epoch (OpenAI's `created`).
pub fn now_unix_secs() -> u64 {
    now_unix_ms() / 1000
}

/// `after` from now, in milliseconds since the Unix epoch, saturating instead of overflowing.
pub fn unix_ms_after(after: Duration) -> u64 {
    now_unix_ms().saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_instead_of_overflowing() {
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(unix_ms(UNIX_EPOCH + Duration::from_millis(1234)), 1234);
        assert_eq!(unix_ms_after(Duration::MAX), u64::MAX);
        assert!(now_unix_secs() * 1000 <= now_unix_ms());
    }
}
