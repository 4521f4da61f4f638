//! The workers the explorer hears on the peer network: the latest capability record of each.
//! Records arrive already verified by `wick-net` (signature, author, expiry, version: the checks
//! every router relies on); the book keeps the newest per worker and calls a worker live until
//! its record expires.
//!
//! A record carries the worker's output rate over the interval since its previous record, not a
//! running total; the book adds rate × interval for each pair of consecutive records it hears
//! (same worker, next sequence number), so "tokens served" is what this explorer saw the worker
//! generate since it started listening, from signed figures.

use std::collections::HashMap;

use wick_proto::v1::CapabilityRecord;

/// Records are forgotten this long after they expired (the worker then shows as offline).
const FORGET_AFTER_MS: u64 = 3_600_000;

/// A worker's latest record.
#[derive(Debug, Clone)]
pub struct PeerEntry {
    /// The record.
    pub record: CapabilityRecord,
    /// When the explorer first heard of the worker.
    pub first_seen_unix_ms: u64,
    /// When the last record arrived.
    pub last_seen_unix_ms: u64,
    /// Output tokens generated over the intervals this explorer heard (see the module docs).
    pub tokens_served: f64,
}

impl PeerEntry {
    /// Whether the record is still valid at `now_ms`.
    pub fn live(&self, now_ms: u64) -> bool {
        self.record.expires_unix_ms > now_ms
    }
}

/// Tokens `next` says the worker generated since `prev`: its rate times the interval, when
/// `next` directly follows `prev` (a worker measures its rate over at least a second).
fn served_between(prev: &CapabilityRecord, next: &CapabilityRecord) -> f64 {
    let interval_ms = next.issued_unix_ms.saturating_sub(prev.issued_unix_ms);
    if next.sequence != prev.sequence.wrapping_add(1) || interval_ms < 1_000 {
        return 0.0;
    }
    f64::from(next.tokens_per_second.max(0.0)) * interval_ms as f64 / 1_000.0
}

/// Every worker heard of, by public key.
#[derive(Debug, Default)]
pub struct PeerBook {
    peers: HashMap<[u8; 32], PeerEntry>,
}

impl PeerBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps a verified record unless the book has a newer one of that worker (issued later, or
    /// as late with a higher sequence: a restarted worker starts its sequence again). Returns
    /// whether it was kept.
    pub fn observe(&mut self, record: CapabilityRecord, now_ms: u64) -> bool {
        let Ok(key) = <[u8; 32]>::try_from(record.worker_public_key.as_slice()) else { return false };
        match self.peers.get_mut(&key) {
            Some(e) => {
                let newer =
                    (record.issued_unix_ms, record.sequence) >= (e.record.issued_unix_ms, e.record.sequence);
                if newer {
                    e.tokens_served += served_between(&e.record, &record);
                    e.record = record;
                    e.last_seen_unix_ms = now_ms;
                }
                newer
            }
            None => {
                let entry = PeerEntry {
                    record,
                    first_seen_unix_ms: now_ms,
                    last_seen_unix_ms: now_ms,
                    tokens_served: 0.0,
                };
                self.peers.insert(key, entry);
                true
            }
        }
    }

    /// The worker's latest record.
    pub fn get(&self, key: &[u8; 32]) -> Option<&PeerEntry> {
        self.peers.get(key)
    }

    /// Every worker heard of.
    pub fn all(&self) -> impl Iterator<Item = (&[u8; 32], &PeerEntry)> {
        self.peers.iter()
    }

    /// Workers whose record is valid at `now_ms`.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = &PeerEntry> {
        self.peers.values().filter(move |e| e.live(now_ms))
    }

    /// Forgets workers silent for an hour past their record's expiry.
    pub fn prune(&mut self, now_ms: u64) {
        self.peers.retain(|_, e| e.record.expires_unix_ms.saturating_add(FORGET_AFTER_MS) > now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: u8, issued: u64, sequence: u64, rate: f32) -> CapabilityRecord {
        CapabilityRecord {
            worker_public_key: vec![key; 32],
            issued_unix_ms: issued,
            expires_unix_ms: issued + 6_000,
            sequence,
            tokens_per_second: rate,
            version: "t".into(),
            ..Default::default()
        }
    }

    #[test]
    fn keeps_the_newest_record_and_expires_it() {
        let mut book = PeerBook::new();
        assert!(book.observe(record(1, 1_000, 5, 10.0), 1_000));
        assert!(!book.observe(record(1, 900, 9, 99.0), 1_100), "an older record is stale");
        assert!(book.observe(record(1, 3_000, 6, 4.0), 3_000), "the next record: 4 tokens/s over 2 s");
        assert!(book.observe(record(1, 4_000, 0, 20.0), 4_000), "a restarted worker's sequence starts again");
        assert_eq!(
            book.get(&[1; 32]).map(|e| (e.tokens_served, e.record.tokens_per_second)),
            Some((8.0, 20.0))
        );
        assert!(!book.observe(CapabilityRecord { worker_public_key: vec![1; 3], ..Default::default() }, 0));
        assert_eq!(book.live(9_999).count(), 1);
        assert_eq!(book.live(10_000).count(), 0, "expired");
        book.prune(10_000 + FORGET_AFTER_MS);
        assert_eq!(book.all().count(), 0);
    }
}
