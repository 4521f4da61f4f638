//! Who deals with whom, as the ledger says, fed to the nodes through closures (routers and
//! workers never talk to the ledger themselves):
//! - a router sends traffic only to workers registered, bonded and unjailed ([`for_router`]);
//!   it asks the ledger about each worker it discovers, again at every new epoch, and keeps
//!   the answers for the epoch;
//! - a worker serves tickets only from routers registered, bonded, unjailed and with escrow to
//!   pay ([`for_worker`]), re-reading the list of routers every poll.
//!
//! Both also pass on the ledger's current epoch (tickets carry it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wick_ledger::client::{ClientError, Session};
use wick_proto::v1::{RouterResponse, WorkerResponse};
use wick_staking::Address;

/// How often the ledger is asked.
const POLL: Duration = Duration::from_millis(500);

/// Reads the keys a node knows of (a router: its workers).
pub type Known = Arc<dyn Fn() -> Vec<[u8; 32]> + Send + Sync>;
/// Tells a node which keys it may deal with.
pub type SetAllowed = Arc<dyn Fn(HashSet<[u8; 32]>) + Send + Sync>;
/// Tells a node the ledger's current epoch.
pub type SetEpoch = Arc<dyn Fn(u64) + Send + Sync>;

/// Whether the ledger lets a worker serve: registered, bonded stake above zero, not jailed.
pub fn worker_eligible(w: &WorkerResponse) -> bool {
    w.registered && !w.jailed && w.bonded.parse::<u128>().is_ok_and(|b| b > 0)
}

/// Whether a worker should serve a router's tickets: registered, bonded, not jailed, and with
/// escrow to pay for the work.
pub fn router_eligible(r: &RouterResponse) -> bool {
    let positive = |s: &str| s.parse::<u128>().is_ok_and(|v| v > 0);
    r.registered && !r.jailed && positive(&r.stake) && positive(&r.escrow)
}

/// A router's side: keeps its eligible workers and epoch in step with the ledger.
pub async fn for_router(
    mut ledger: Session,
    known: Known,
    set: SetAllowed,
    epoch: SetEpoch,
    shutdown: CancellationToken,
) {
    let mut cache = WorkerCache::default();
    loop {
        let step = cache.refresh(&mut ledger, &known, &set, &epoch).await;
        if !pause(&mut ledger, step, &shutdown).await {
            return;
        }
    }
}

/// Each known worker's eligibility, as the ledger said it in `epoch`.
#[derive(Default)]
struct WorkerCache {
    epoch: Option<u64>,
    eligible: HashMap<[u8; 32], bool>,
}

impl WorkerCache {
    /// Asks about workers not asked about this epoch and passes the eligible ones on.
    async fn refresh(
        &mut self,
        ledger: &mut Session,
        known: &Known,
        set: &SetAllowed,
        epoch: &SetEpoch,
    ) -> Result<(), ClientError> {
        let now = ledger.call(|c| Box::pin(c.epoch())).await?.epoch;
        epoch(now);
        if self.epoch != Some(now) {
            self.eligible.clear();
            self.epoch = Some(now);
        }
        let mut changed = false;
        for key in known() {
            if self.eligible.contains_key(&key) {
                continue;
            }
            let w = ledger.call(|c| Box::pin(async move { c.worker(&Address(key)).await })).await?;
            let ok = worker_eligible(&w);
            if !ok {
                tracing::warn!(worker = %hex::encode(key), registered = w.registered, jailed = w.jailed,
                    bonded = %w.bonded, "worker is not staked on the ledger; it gets no traffic");
            }
            self.eligible.insert(key, ok);
            changed = true;
        }
        if changed {
            set(self.eligible.iter().filter(|(_, ok)| **ok).map(|(k, _)| *k).collect());
        }
        Ok(())
    }
}

/// A worker's side: keeps the routers it serves and its epoch in step with the ledger.
pub async fn for_worker(mut ledger: Session, set: SetAllowed, epoch: SetEpoch, shutdown: CancellationToken) {
    let mut last: Option<HashSet<[u8; 32]>> = None;
    loop {
        let step = routers(&mut ledger, &mut last, &set, &epoch).await;
        if !pause(&mut ledger, step, &shutdown).await {
            return;
        }
    }
}

/// Reads the routers and the epoch; passes the eligible routers on when they changed.
async fn routers(
    ledger: &mut Session,
    last: &mut Option<HashSet<[u8; 32]>>,
    set: &SetAllowed,
    epoch: &SetEpoch,
) -> Result<(), ClientError> {
    let list = ledger.call(|c| Box::pin(c.routers())).await?;
    epoch(list.epoch);
    let allowed: HashSet<[u8; 32]> = list
        .routers
        .iter()
        .filter(|r| router_eligible(r))
        .filter_map(|r| r.address.as_slice().try_into().ok())
        .collect();
    if last.as_ref() != Some(&allowed) {
        tracing::info!(routers = allowed.len(), "routers whose tickets this worker serves");
        set(allowed.clone());
        *last = Some(allowed);
    }
    Ok(())
}

/// After a poll: logs a failure (and drops the connection), then waits [`POLL`]. False once
/// `shutdown` fires.
async fn pause(ledger: &mut Session, step: Result<(), ClientError>, shutdown: &CancellationToken) -> bool {
    if let Err(e) = step {
        tracing::warn!(ledger = ?ledger.endpoints(), error = %e, "could not read the ledger; retrying");
        ledger.failed();
    }
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(POLL) => true,
    }
}
