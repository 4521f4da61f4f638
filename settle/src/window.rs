//! Which receipts an epoch's claim covers (see the crate docs).

use wick_proto::v1::EpochResponse;

/// The receipt window of one epoch and when to submit for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochWindow {
    /// The epoch.
    pub epoch: u64,
    /// First `finished_unix_ms` included.
    pub from_ms: u64,
    /// First `finished_unix_ms` excluded.
    pub to_ms: u64,
    /// When to submit (every receipt of the window is known by then).
    pub submit_at_ms: u64,
    /// When the ledger ends the epoch.
    pub ends_ms: u64,
}

impl EpochWindow {
    /// The window of the ledger's current epoch.
    pub fn of(e: &EpochResponse) -> Self {
        let length = e.epoch_seconds.saturating_mul(1000).max(1000);
        let margin = (length / 4).max(250);
        let ends_ms = e.ends_unix_ms;
        Self {
            epoch: e.epoch,
            from_ms: ends_ms.saturating_sub(length + margin),
            to_ms: ends_ms.saturating_sub(margin),
            submit_at_ms: ends_ms.saturating_sub(margin / 2),
            ends_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_windows_meet() {
        let e = |epoch, ends_unix_ms| EpochResponse {
            epoch,
            ends_unix_ms,
            epoch_seconds: 20,
            ..Default::default()
        };
        let a = EpochWindow::of(&e(3, 100_000));
        let b = EpochWindow::of(&e(4, 120_000));
        assert_eq!(a.to_ms, b.from_ms);
        assert_eq!((a.from_ms, a.to_ms, a.submit_at_ms), (75_000, 95_000, 97_500));
        assert!(a.submit_at_ms > a.to_ms && a.submit_at_ms < a.ends_ms);
    }
}
