//! The router's view of the workers: verified capability records, liveness with back-off, and
//! the choice of a worker for a request, within one numeric class when outputs will be compared
//! or continued (`wick_proto::class`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use rand::Rng;
use tonic::transport::Channel;
use wick_proto::class::validate_class;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::CapabilityRecord;

/// A worker's ed25519 public key.
pub(crate) type WorkerKey = [u8; 32];

/// Longest back-off of a failing worker.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Most workers the table keeps. A full table makes room by dropping the oldest worker that
/// never served a request; when every worker has served, new ones wait for a free place.
pub const MAX_WORKERS: usize = 4096;

/// Longest a record is believed, whatever expiry it claims.
pub const MAX_RECORD_TTL_MS: u64 = 60_000;

#[derive(Debug)]
struct Entry {
    record: CapabilityRecord,
    /// The worker's key, decompressed when it is first picked (a flood of new records costs no
    /// curve arithmetic): every receipt it signs is verified with it.
    verifying_key: Option<VerifyingKey>,
    channel: Option<Channel>,
    down_until: Option<Instant>,
    failures: u32,
    in_flight: usize,
    /// Served a request well at least once. Unproven workers get traffic only when no proven
    /// one can take it, so a flood of made-up workers never displaces the real ones.
    proven: bool,
    /// When it joined the table (a counter), to evict the oldest unproven worker first.
    joined: u64,
}

/// Why a worker can't be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Excluded {
    /// What it did.
    pub(crate) reason: String,
}

/// A worker chosen for one request.
#[derive(Debug, Clone)]
pub(crate) struct Picked {
    /// Its key.
    pub(crate) key: WorkerKey,
    /// The same key, decompressed, to verify its receipts.
    pub(crate) verifying_key: VerifyingKey,
    /// A gRPC channel to it.
    pub(crate) channel: Channel,
    /// The model's id (sha256 hex) on that worker.
    pub(crate) model_id: String,
    /// Its gRPC endpoint, for logs.
    pub(crate) endpoint: String,
    /// The price it advertises, per 1000 tokens: what its ticket carries.
    pub(crate) price_per_1k_tokens: u64,
    /// The numeric class it announced: the class its generation receipts must name.
    pub(crate) numeric_class: String,
}

/// A model some live worker serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ServedModel {
    /// Catalog name.
    pub(crate) name: String,
    /// sha256 of the weights.
    pub(crate) id: String,
    /// chat | embedding.
    pub(crate) kind: String,
}

/// All known workers.
#[derive(Debug, Default)]
pub struct PeerTable {
    inner: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    workers: HashMap<WorkerKey, Entry>,
    excluded: HashMap<WorkerKey, Excluded>,
    /// Workers the ledger lets serve; `None` when no ledger is checked (everyone may).
    eligible: Option<HashSet<WorkerKey>>,
    /// Workers added so far.
    joined: u64,
    /// Unproven workers in the order they joined, the oldest first (keys that left or got
    /// proven since are skipped when met).
    newcomers: VecDeque<WorkerKey>,
}

impl Tables {
    /// Makes room for one more worker: drops the oldest unproven one when the table is full.
    fn make_room(&mut self) -> bool {
        if self.newcomers.len() > 2 * MAX_WORKERS {
            let workers = &self.workers;
            let mut live: Vec<(u64, WorkerKey)> =
                workers.iter().filter(|(_, e)| !e.proven).map(|(k, e)| (e.joined, *k)).collect();
            live.sort_unstable();
            self.newcomers = live.into_iter().map(|(_, k)| k).collect();
        }
        if self.workers.len() < MAX_WORKERS {
            return true;
        }
        while let Some(k) = self.newcomers.pop_front() {
            if self.workers.get(&k).is_some_and(|e| !e.proven) {
                self.workers.remove(&k);
                return true;
            }
        }
        false
    }
}

fn key_of(record: &CapabilityRecord) -> Option<WorkerKey> {
    record.worker_public_key.as_slice().try_into().ok()
}

impl PeerTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or refreshes a worker from a record whose signature was already verified. Expired,
    /// stale (older sequence), excluded and classless records are ignored; returns whether it
    /// was used.
    pub(crate) fn upsert(&self, mut record: CapabilityRecord) -> bool {
        let Some(key) = key_of(&record) else { return false };
        let now = now_unix_ms();
        if record.expires_unix_ms <= now
            || record.version.is_empty()
            || validate_class(&record.numeric_class).is_err()
        {
            return false;
        }
        record.expires_unix_ms = record.expires_unix_ms.min(now.saturating_add(MAX_RECORD_TTL_MS));
        let mut t = self.lock();
        if t.excluded.contains_key(&key) {
            return false;
        }
        match t.workers.get_mut(&key) {
            Some(e) if e.record.sequence > record.sequence => false,
            Some(e) => {
                if e.record.grpc_endpoint != record.grpc_endpoint {
                    e.channel = None;
                }
                e.record = record;
                true
            }
            None => {
                if !t.make_room() {
                    return false;
                }
                tracing::debug!(endpoint = %record.grpc_endpoint, "worker discovered");
                t.joined += 1;
                let joined = t.joined;
                let entry = Entry {
                    record,
                    verifying_key: None,
                    channel: None,
                    down_until: None,
                    failures: 0,
                    in_flight: 0,
                    proven: false,
                    joined,
                };
                t.workers.insert(key, entry);
                t.newcomers.push_back(key);
                true
            }
        }
    }

    /// Drops workers whose last record expired.
    pub(crate) fn expire(&self) -> usize {
        let now = now_unix_ms();
        let mut t = self.lock();
        let before = t.workers.len();
        t.workers.retain(|_, e| e.record.expires_unix_ms > now);
        before - t.workers.len()
    }

    /// Records a failure: the worker is skipped for a back-off that doubles with each failure.
    pub(crate) fn mark_failed(&self, key: &WorkerKey) {
        let mut t = self.lock();
        if let Some(e) = t.workers.get_mut(key) {
            e.failures = e.failures.saturating_add(1);
            let backoff =
                Duration::from_millis(500 * 2u64.saturating_pow(e.failures.min(10) - 1)).min(MAX_BACKOFF);
            e.down_until = Some(Instant::now() + backoff);
            e.channel = None;
            tracing::warn!(endpoint = %e.record.grpc_endpoint, ?backoff, "worker marked down");
        }
    }

    /// Records a success: the worker is live again.
    pub(crate) fn mark_ok(&self, key: &WorkerKey) {
        if let Some(e) = self.lock().workers.get_mut(key) {
            e.failures = 0;
            e.down_until = None;
            e.proven = true;
        }
    }

    /// Never uses this worker again (failed an audit).
    pub(crate) fn exclude(&self, key: WorkerKey, reason: String) {
        let mut t = self.lock();
        t.workers.remove(&key);
        tracing::warn!(worker = %hex::encode(key), %reason, "worker excluded");
        t.excluded.insert(key, Excluded { reason });
    }

    /// Only these workers may get traffic from now on (the ledger's registered, staked ones).
    pub fn set_eligible(&self, keys: HashSet<WorkerKey>) {
        self.lock().eligible = Some(keys);
    }

    /// Whether a worker is excluded.
    #[cfg(test)]
    pub(crate) fn is_excluded(&self, key: &WorkerKey) -> bool {
        self.lock().excluded.contains_key(key)
    }

    /// Number of live workers that may get traffic (not down, not expired, eligible).
    pub fn live_count(&self) -> usize {
        let now = Instant::now();
        let t = self.lock();
        t.workers
            .iter()
            .filter(|(k, e)| {
                e.down_until.is_none_or(|d| d <= now) && t.eligible.as_ref().is_none_or(|s| s.contains(*k))
            })
            .count()
    }

    /// Keys of all known workers.
    pub fn keys(&self) -> Vec<WorkerKey> {
        self.lock().workers.keys().copied().collect()
    }

    /// Models served by live workers, deduplicated.
    pub(crate) fn models(&self) -> Vec<ServedModel> {
        let mut out: Vec<ServedModel> = self
            .lock()
            .workers
            .values()
            .flat_map(|e| e.record.models.iter())
            .map(|m| ServedModel { name: m.name.clone(), id: m.id.clone(), kind: m.kind.clone() })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Picks a worker for `model` (name or id), never one in `avoid`, down, or excluded: the
    /// better of two random candidates by expected latency (power of two choices).
    #[cfg(test)]
    pub(crate) fn pick(&self, model: &str, avoid: &[WorkerKey]) -> Option<Picked> {
        self.pick_within(model, avoid, u64::MAX, None)
    }

    /// Picks a worker for `model` (not in `avoid`, not down, vouched for by the ledger when one
    /// is followed) among those whose advertised price is at most `max_price`: the router's own
    /// limit, or for an audit the price of the ticket it re-runs. With `class`, only a worker of
    /// that numeric class: one whose output will be compared with, or continue, another's.
    pub(crate) fn pick_within(
        &self,
        model: &str,
        avoid: &[WorkerKey],
        max_price: u64,
        class: Option<&str>,
    ) -> Option<Picked> {
        self.pick_preferring(model, avoid, max_price, class, None)
    }

    /// [`PeerTable::pick_within`], choosing `prefer` when it is a candidate. Proven workers
    /// (those that served before, or that the ledger vouches for) come first; unproven ones take
    /// the request only when no proven worker serves the model or all of them are full.
    pub(crate) fn pick_preferring(
        &self,
        model: &str,
        avoid: &[WorkerKey],
        max_price: u64,
        class: Option<&str>,
        prefer: Option<&WorkerKey>,
    ) -> Option<Picked> {
        let now = Instant::now();
        let mut t = self.lock();
        let candidates: Vec<WorkerKey> = t
            .workers
            .iter()
            .filter(|(k, e)| {
                !avoid.contains(k)
                    && e.down_until.is_none_or(|d| d <= now)
                    && t.eligible.as_ref().is_none_or(|s| s.contains(*k))
                    && e.record.price_per_1k_tokens <= max_price
                    && class.is_none_or(|c| e.record.numeric_class == c)
                    && e.record.models.iter().any(|m| m.name == model || m.id == model)
            })
            .map(|(k, _)| *k)
            .collect();
        let vouched = t.eligible.is_some();
        let proven: Vec<WorkerKey> = candidates
            .iter()
            .copied()
            .filter(|k| t.workers.get(k).is_some_and(|e| (vouched || e.proven) && e.record.free_slots > 0))
            .collect();
        let candidates = if proven.is_empty() { candidates } else { proven };
        let preferred = prefer.filter(|p| candidates.contains(p)).copied();
        let chosen = match candidates.len() {
            _ if preferred.is_some() => preferred?,
            0 => return None,
            1 => candidates[0],
            n => {
                let mut rng = rand::rng();
                let a = candidates[rng.random_range(0..n)];
                let mut b = candidates[rng.random_range(0..n - 1)];
                if b == a {
                    b = candidates[n - 1];
                }
                let score = |k: &WorkerKey| t.workers.get(k).map_or(f64::MAX, expected_latency);
                if score(&b) < score(&a) { b } else { a }
            }
        };
        let e = t.workers.get_mut(&chosen)?;
        // Records come signature-checked, so their keys are curve points.
        let verifying_key = match e.verifying_key {
            Some(k) => k,
            None => *e.verifying_key.insert(VerifyingKey::from_bytes(&chosen).ok()?),
        };
        let model_id = e.record.models.iter().find(|m| m.name == model || m.id == model)?.id.clone();
        let channel = match &e.channel {
            Some(c) => c.clone(),
            None => {
                let c = Channel::from_shared(e.record.grpc_endpoint.clone()).ok()?.connect_lazy();
                e.channel = Some(c.clone());
                c
            }
        };
        e.in_flight += 1;
        let endpoint = e.record.grpc_endpoint.clone();
        Some(Picked {
            key: chosen,
            verifying_key,
            channel,
            model_id,
            endpoint,
            price_per_1k_tokens: e.record.price_per_1k_tokens,
            numeric_class: e.record.numeric_class.clone(),
        })
    }

    /// A request to a picked worker ended.
    pub(crate) fn release(&self, key: &WorkerKey) {
        if let Some(e) = self.lock().workers.get_mut(key) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
    }
}

/// Seconds a new request is expected to wait: work ahead of it over the worker's speed.
fn expected_latency(e: &Entry) -> f64 {
    let r = &e.record;
    let ahead = f64::from(r.queue_depth) + e.in_flight as f64 + 1.0;
    let speed = f64::from(r.tokens_per_second).max(1.0);
    let slot_penalty = if r.free_slots == 0 { 2.0 } else { 1.0 };
    ahead * slot_penalty / speed
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_proto::v1::ModelAd;

    /// Worker `n`'s public key (a real one: the table decompresses every key).
    fn wk(n: u8) -> WorkerKey {
        ed25519_dalek::SigningKey::from_bytes(&[n; 32]).verifying_key().to_bytes()
    }

    fn record(key: u8, seq: u64, queue: u32) -> CapabilityRecord {
        CapabilityRecord {
            worker_public_key: wk(key).to_vec(),
            grpc_endpoint: format!("http://127.0.0.1:{}", 7000 + u16::from(key)),
            models: vec![ModelAd { name: "m".into(), id: "abc".into(), kind: "chat".into() }],
            free_slots: 4,
            queue_depth: queue,
            tokens_per_second: 100.0,
            version: "0.1.0".into(),
            expires_unix_ms: now_unix_ms() + 60_000,
            sequence: seq,
            numeric_class: "cpu-v1".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn picks_by_model_and_skips_down_and_excluded_workers() {
        let t = PeerTable::new();
        assert!(t.upsert(record(1, 1, 0)));
        assert!(t.upsert(record(2, 1, 0)));
        assert!(t.pick("nope", &[]).is_none());
        let p = t.pick("m", &[wk(1)]).expect("worker 2");
        assert_eq!(p.key, wk(2));
        t.mark_failed(&wk(2));
        assert_eq!(t.pick("abc", &[]).map(|p| p.key), Some(wk(1)));
        t.exclude(wk(1), "audit".into());
        assert!(t.pick("m", &[]).is_none());
        assert!(!t.upsert(record(1, 2, 0)), "excluded workers stay out");
        t.mark_ok(&wk(2));
        assert_eq!(t.pick("m", &[]).map(|p| p.key), Some(wk(2)));
    }

    #[tokio::test]
    async fn stale_and_expired_records_are_ignored() {
        let t = PeerTable::new();
        assert!(t.upsert(record(1, 5, 0)));
        assert!(!t.upsert(record(1, 4, 0)));
        let mut old = record(2, 1, 0);
        old.expires_unix_ms = 1;
        assert!(!t.upsert(old));
        assert_eq!(t.keys().len(), 1);
    }

    #[tokio::test]
    async fn prefers_the_less_loaded_worker() {
        let t = PeerTable::new();
        t.upsert(record(1, 1, 50));
        t.upsert(record(2, 1, 0));
        let picks: Vec<WorkerKey> = (0..20).filter_map(|_| t.pick("m", &[]).map(|p| p.key)).collect();
        assert!(picks.iter().all(|k| *k == wk(2)), "with two workers the better one always wins");
    }

    #[tokio::test]
    async fn a_class_filter_picks_only_workers_of_that_class() {
        let t = PeerTable::new();
        t.upsert(record(1, 1, 0));
        t.upsert(CapabilityRecord { numeric_class: "test-gpu-1.0".into(), ..record(2, 1, 50) });
        let gpu = t.pick_within("m", &[], u64::MAX, Some("test-gpu-1.0")).expect("the GPU worker");
        assert_eq!((gpu.key, gpu.numeric_class.as_str()), (wk(2), "test-gpu-1.0"));
        assert_eq!(t.pick_within("m", &[], u64::MAX, Some("cpu-v1")).map(|p| p.key), Some(wk(1)));
        assert!(t.pick_within("m", &[wk(1)], u64::MAX, Some("cpu-v1")).is_none(), "none left in the class");
        assert!(t.pick_within("m", &[], u64::MAX, Some("cuda-8.6")).is_none());
        assert_eq!(t.pick("m", &[wk(1)]).map(|p| p.key), Some(wk(2)), "no filter: any class");
    }

    #[tokio::test]
    async fn records_without_a_valid_class_are_ignored() {
        let t = PeerTable::new();
        let too_long = format!("c{}", "1".repeat(32));
        for class in ["", "CUDA 8.6", "gpu_1", too_long.as_str()] {
            assert!(
                !t.upsert(CapabilityRecord { numeric_class: class.into(), ..record(1, 1, 0) }),
                "{class:?}"
            );
        }
        assert!(t.keys().is_empty());
    }
}
