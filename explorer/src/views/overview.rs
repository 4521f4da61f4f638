//! The overview: the chain's head and epoch clock, throughput, supply, live workers and what they
//! serve, and what the last epoch end paid and slashed.

use serde::Serialize;
use wick_ledger::json::{EpochJson, SupplyJson};

use super::SlashJson;
use super::roles::{ROLES, RoleJson};
use crate::index::Index;
use crate::ledger_state::LedgerStatus;
use crate::peers::PeerBook;

/// Transactions per second are averaged over this window.
const TX_RATE_WINDOW_MS: u64 = 60_000;

/// A worker credited at an epoch end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditJson {
    /// The worker.
    pub worker: String,
    /// Credited tokens.
    pub tokens: u64,
    /// Rewards paid to the worker's own account.
    pub reward: String,
}

impl CreditJson {
    /// Every worker credited in `epoch` (ended), by address.
    pub fn of_epoch(index: &Index, epoch: u64) -> Vec<Self> {
        index
            .credited(epoch)
            .into_iter()
            .map(|(a, w)| CreditJson {
                worker: a.to_string(),
                tokens: w.credited.unwrap_or(0),
                reward: w.reward.unwrap_or(0).to_string(),
            })
            .collect()
    }
}

/// What the last epoch end did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastEpoch {
    /// The epoch that ended.
    pub epoch: u64,
    /// The block that ended it.
    pub height: u64,
    /// When.
    pub time_unix_ms: u64,
    /// Whether the block records its settlement (blocks from older ledgers do not).
    pub recorded: bool,
    /// Rewards minted.
    pub minted: String,
    /// Workers credited, by address.
    pub credits: Vec<CreditJson>,
    /// Slashes during that epoch.
    pub slashes: Vec<SlashJson>,
}

/// The ledger the explorer reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerLink {
    /// Endpoints, in the order they are tried.
    pub endpoints: Vec<String>,
    /// Whether the last read succeeded.
    pub connected: bool,
    /// The last read's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The overview page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overview {
    /// Chain id (empty until the ledger answered once).
    pub chain_id: String,
    /// The ledger's height.
    pub height: u64,
    /// Blocks the explorer has indexed.
    pub indexed_height: u64,
    /// The last indexed block's time.
    pub block_time_unix_ms: Option<u64>,
    /// The epoch clock and the head.
    pub epoch: Option<EpochJson>,
    /// Transactions per second over the last minute.
    pub tx_per_second: f64,
    /// Where the supply is held.
    pub supply: Option<SupplyJson>,
    /// Workers heard on the network right now.
    pub live_workers: usize,
    /// Workers registered on the ledger.
    pub registered_workers: usize,
    /// Registered workers that are jailed.
    pub jailed_workers: usize,
    /// Output tokens per second over the live workers.
    pub tokens_per_second: f64,
    /// Output tokens the live workers generated while this explorer listened.
    pub tokens_served: u64,
    /// What the last epoch end did.
    pub last_epoch: Option<LastEpoch>,
    /// Slashes so far.
    pub slashes_total: usize,
    /// The network's roles and whether the ledger knows them.
    pub roles: Vec<RoleJson>,
    /// The ledger connection.
    pub ledger: LedgerLink,
}

fn last_epoch(index: &Index) -> Option<LastEpoch> {
    let (epoch, block) = index.last_epoch()?;
    let s = block.settlement.as_ref();
    let minted: u128 = s.map_or(0, |s| s.payouts.iter().filter_map(|p| p.amount.parse::<u128>().ok()).sum());
    Some(LastEpoch {
        epoch,
        height: block.height,
        time_unix_ms: block.time_unix_ms,
        recorded: s.is_some(),
        minted: minted.to_string(),
        credits: CreditJson::of_epoch(index, epoch),
        slashes: index
            .slashes()
            .iter()
            .filter(|x| x.epoch == epoch)
            .map(|x| SlashJson::new(index, x))
            .collect(),
    })
}

/// The overview at `now_ms`.
pub fn overview(index: &Index, peers: &PeerBook, ledger: &LedgerStatus, now_ms: u64) -> Overview {
    let snap = ledger.snapshot.as_deref();
    let live: Vec<_> = peers.live(now_ms).collect();
    Overview {
        chain_id: snap.map(|s| s.head.chain_id.clone()).unwrap_or_default(),
        height: snap.map_or(0, |s| s.head.height),
        indexed_height: index.head().map_or(0, |b| b.height),
        block_time_unix_ms: index.head().map(|b| b.time_unix_ms),
        epoch: snap.map(|s| EpochJson::new(&s.epoch, &s.head)),
        tx_per_second: index.tx_rate(now_ms, TX_RATE_WINDOW_MS),
        supply: snap.map(|s| SupplyJson::from(&s.supply)),
        live_workers: live.len(),
        registered_workers: snap.map_or(0, |s| s.workers.len()),
        jailed_workers: snap.map_or(0, |s| s.workers.iter().filter(|w| w.jailed).count()),
        tokens_per_second: live.iter().map(|e| f64::from(e.record.tokens_per_second)).sum(),
        tokens_served: live.iter().map(|e| e.tokens_served).sum::<f64>().round() as u64,
        last_epoch: last_epoch(index),
        slashes_total: index.slashes().len(),
        roles: ROLES.iter().map(RoleJson::from).collect(),
        ledger: LedgerLink {
            endpoints: ledger.endpoints.clone(),
            connected: snap.is_some() && ledger.error.is_none(),
            error: ledger.error.clone(),
        },
    }
}
