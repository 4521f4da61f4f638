//! How many worker keys one peer may introduce. A record's author must be its key, but a peer
//! can relay records that thousands of made-up identities signed; each propagation source may
//! introduce at most [`NEW_KEYS_PER_MINUTE`] keys the node has not seen, and the node remembers
//! at most [`MAX_KNOWN_KEYS`] keys (forgetting those not heard of for [`FORGET_AFTER_MS`]).

use std::collections::{HashMap, VecDeque};

use libp2p::PeerId;

/// New keys one propagation source may introduce per minute.
pub const NEW_KEYS_PER_MINUTE: usize = 64;
/// Most keys remembered at once.
pub const MAX_KNOWN_KEYS: usize = 16_384;
/// A key not heard of for this long is forgotten.
pub const FORGET_AFTER_MS: u64 = 120_000;
/// Most sources whose recent introductions are remembered.
const MAX_SOURCES: usize = 4096;
const MINUTE_MS: u64 = 60_000;

/// Keys seen, and recent introductions per source.
#[derive(Debug, Default)]
pub struct KeyBudget {
    known: HashMap<Vec<u8>, u64>,
    introduced: HashMap<PeerId, VecDeque<u64>>,
    pruned_at: u64,
}

impl KeyBudget {
    /// Whether a record for `key`, relayed by `source` at `now_ms`, is within the budget.
    pub fn admit(&mut self, source: PeerId, key: &[u8], now_ms: u64) -> bool {
        if let Some(seen) = self.known.get_mut(key) {
            *seen = now_ms;
            return true;
        }
        self.prune(now_ms);
        if self.known.len() >= MAX_KNOWN_KEYS {
            return false;
        }
        if self.introduced.len() >= MAX_SOURCES && !self.introduced.contains_key(&source) {
            return false;
        }
        let recent = self.introduced.entry(source).or_default();
        while recent.front().is_some_and(|&t| t.saturating_add(MINUTE_MS) <= now_ms) {
            recent.pop_front();
        }
        if recent.len() >= NEW_KEYS_PER_MINUTE {
            return false;
        }
        recent.push_back(now_ms);
        self.known.insert(key.to_vec(), now_ms);
        true
    }

    /// Keys remembered now.
    pub fn known(&self) -> usize {
        self.known.len()
    }

    /// Forgets stale keys and idle sources, at most once a second.
    fn prune(&mut self, now_ms: u64) {
        if now_ms < self.pruned_at.saturating_add(1000) {
            return;
        }
        self.pruned_at = now_ms;
        self.known.retain(|_, &mut seen| seen.saturating_add(FORGET_AFTER_MS) > now_ms);
        self.introduced
            .retain(|_, recent| recent.back().is_some_and(|&t| t.saturating_add(MINUTE_MS) > now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_cannot_introduce_unlimited_keys() {
        let mut b = KeyBudget::default();
        let flood = PeerId::random();
        let honest = PeerId::random();
        let admitted = (0..100_000u32).filter(|i| b.admit(flood, &i.to_le_bytes(), 1_000)).count();
        assert_eq!(admitted, NEW_KEYS_PER_MINUTE);
        assert!(b.admit(honest, b"honest", 1_000), "another source still gets through");
        assert!(b.admit(flood, &0u32.to_le_bytes(), 2_000), "known keys are always refreshed");
        assert!(b.admit(flood, b"next minute", 61_000 + 1_000));
        assert!(b.known() <= NEW_KEYS_PER_MINUTE + 2);
        b.admit(honest, b"later", 1_000 + FORGET_AFTER_MS + 5_000);
        assert!(b.known() <= 3, "stale keys are forgotten");
    }
}
