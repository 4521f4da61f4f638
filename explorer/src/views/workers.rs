//! The workers page (one row per worker: the ledger's record, the live capability record, the
//! last epoch's credited work and reward) and a worker's own page (its history per epoch, its
//! slashes and transactions).

use std::collections::BTreeSet;

use serde::Serialize;
use wick_ledger::json::WorkerJson;
use wick_proto::v1::{CapabilityRecord, ModelAd};
use wick_staking::Address;

use super::{SlashJson, TxView};
use crate::index::{EpochWork, Index};
use crate::ledger_state::LedgerSnapshot;
use crate::peers::{PeerBook, PeerEntry};

/// Epochs of history a worker's page shows.
const HISTORY_EPOCHS: usize = 100;
/// Transactions a worker's page lists.
const PAGE_TXS: usize = 50;

/// Fields the pages would show that this network does not provide yet, and why.
pub const NOT_YET: &[(&str, &str)] =
    &[("device_class", "capability records do not carry a device class yet; shown as not advertised")];

/// A model a worker advertises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelJson {
    /// Catalog name.
    pub name: String,
    /// sha256 of the weights.
    pub id: String,
    /// chat | embedding.
    pub kind: String,
}

impl From<&ModelAd> for ModelJson {
    fn from(m: &ModelAd) -> Self {
        Self { name: m.name.clone(), id: m.id.clone(), kind: m.kind.clone() }
    }
}

/// What a worker's latest capability record says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveJson {
    /// Whether the record is still valid.
    pub live: bool,
    /// libp2p peer id.
    pub peer_id: String,
    /// gRPC endpoint.
    pub grpc_endpoint: String,
    /// Models served.
    pub models: Vec<ModelJson>,
    /// Device class; `None` while records do not carry one (see [`NOT_YET`]).
    pub device_class: Option<String>,
    /// Output tokens per second, recently.
    pub tokens_per_second: f32,
    /// Output tokens this explorer saw the worker generate (its signed rates over the intervals
    /// it heard, see [`crate::peers`]).
    pub tokens_served: u64,
    /// Jobs waiting.
    pub queue_depth: u32,
    /// Free batch slots.
    pub free_slots: u32,
    /// Advertised price per 1 000 tokens.
    pub price_per_1k_tokens: u64,
    /// Software version.
    pub version: String,
    /// When the record was signed.
    pub issued_unix_ms: u64,
    /// When it expires.
    pub expires_unix_ms: u64,
    /// When the explorer received it.
    pub last_seen_unix_ms: u64,
}

impl LiveJson {
    fn new(e: &PeerEntry, now_ms: u64) -> Self {
        let r: &CapabilityRecord = &e.record;
        Self {
            live: e.live(now_ms),
            peer_id: r.peer_id.clone(),
            grpc_endpoint: r.grpc_endpoint.clone(),
            models: r.models.iter().map(ModelJson::from).collect(),
            device_class: None,
            tokens_per_second: r.tokens_per_second,
            tokens_served: e.tokens_served.round() as u64,
            queue_depth: r.queue_depth,
            free_slots: r.free_slots,
            price_per_1k_tokens: r.price_per_1k_tokens,
            version: r.version.clone(),
            issued_unix_ms: r.issued_unix_ms,
            expires_unix_ms: r.expires_unix_ms,
            last_seen_unix_ms: e.last_seen_unix_ms,
        }
    }
}

/// A worker's work in one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpochWorkJson {
    /// Epoch.
    pub epoch: u64,
    /// Tokens it claimed.
    pub claimed_tokens: Option<u64>,
    /// Receipts it claimed.
    pub claimed_receipts: Option<u64>,
    /// The largest number of tokens a router attested.
    pub attested_tokens: Option<u64>,
    /// Tokens the epoch end credited (absent before the epoch ended, or when the ledger
    /// credited none).
    pub credited_tokens: Option<u64>,
    /// Its share of the epoch reward, before its delegators' part.
    pub reward: Option<String>,
}

impl EpochWorkJson {
    fn new(epoch: u64, w: &EpochWork) -> Self {
        Self {
            epoch,
            claimed_tokens: w.claimed.map(|c| c.1),
            claimed_receipts: w.claimed.map(|c| c.0),
            attested_tokens: w.attested,
            credited_tokens: w.credited,
            reward: w.reward.map(|r| r.to_string()),
        }
    }
}

/// One row of the workers page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerRow {
    /// Address (the worker's ed25519 key).
    pub address: String,
    /// The ledger's record; absent when the worker is not registered.
    pub ledger: Option<WorkerJson>,
    /// Whether routers give it traffic (registered, bonded, not jailed).
    pub eligible: bool,
    /// Its latest capability record; absent when the explorer never heard it.
    pub live: Option<LiveJson>,
    /// The last ended epoch's work; absent when it had none.
    pub last_epoch: Option<EpochWorkJson>,
}

/// The workers page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkersPage {
    /// The last ended epoch.
    pub last_epoch: Option<u64>,
    /// Workers heard on the network right now.
    pub live: usize,
    /// One row per worker, registered or heard, by address.
    pub workers: Vec<WorkerRow>,
    /// Columns the network does not provide yet: `[field, why]`.
    pub not_yet: Vec<[&'static str; 2]>,
}

fn row(
    index: &Index,
    peers: &PeerBook,
    snap: Option<&LedgerSnapshot>,
    a: &Address,
    now_ms: u64,
) -> WorkerRow {
    let ledger = snap.and_then(|s| s.worker(&a.0));
    let last = index.last_epoch().map(|(e, _)| e);
    WorkerRow {
        address: a.to_string(),
        ledger: ledger.map(WorkerJson::from),
        eligible: ledger.is_some_and(wick_settle::eligibility::worker_eligible),
        live: peers.get(&a.0).map(|e| LiveJson::new(e, now_ms)),
        last_epoch: last.and_then(|e| Some(EpochWorkJson::new(e, index.work(a)?.get(&e)?))),
    }
}

/// The workers page at `now_ms`.
pub fn page(index: &Index, peers: &PeerBook, snap: Option<&LedgerSnapshot>, now_ms: u64) -> WorkersPage {
    let mut keys: BTreeSet<Address> = peers.all().map(|(k, _)| Address(*k)).collect();
    for w in snap.map_or(&[][..], |s| s.workers.as_slice()) {
        if let Ok(k) = <[u8; 32]>::try_from(w.address.as_slice()) {
            keys.insert(Address(k));
        }
    }
    WorkersPage {
        last_epoch: index.last_epoch().map(|(e, _)| e),
        live: peers.live(now_ms).count(),
        workers: keys.iter().map(|a| row(index, peers, snap, a, now_ms)).collect(),
        not_yet: NOT_YET.iter().map(|(f, why)| [*f, *why]).collect(),
    }
}

/// A worker's page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerPage {
    /// Its row of the workers page.
    pub worker: WorkerRow,
    /// Its work per epoch, oldest first (the last 100 epochs it worked in).
    pub history: Vec<EpochWorkJson>,
    /// Its slashes, oldest first.
    pub slashes: Vec<SlashJson>,
    /// Its transactions, newest first.
    pub transactions: Vec<TxView>,
}

/// The page of worker `a`; `None` when the explorer knows nothing of it.
pub fn worker_page(
    index: &Index,
    peers: &PeerBook,
    snap: Option<&LedgerSnapshot>,
    a: &Address,
    now_ms: u64,
) -> Option<WorkerPage> {
    let row = row(index, peers, snap, a, now_ms);
    if row.ledger.is_none() && row.live.is_none() && index.work(a).is_none() {
        return None;
    }
    let mut history: Vec<EpochWorkJson> = index
        .work(a)
        .map(|w| w.iter().rev().take(HISTORY_EPOCHS).map(|(e, w)| EpochWorkJson::new(*e, w)).collect())
        .unwrap_or_default();
    history.reverse();
    Some(WorkerPage {
        worker: row,
        history,
        slashes: index
            .slashes()
            .iter()
            .filter(|s| s.worker == *a)
            .map(|s| SlashJson::new(index, s))
            .collect(),
        transactions: index
            .account_txs(a, PAGE_TXS)
            .into_iter()
            .map(|(b, t, l)| TxView::new(b, t, l))
            .collect(),
    })
}
