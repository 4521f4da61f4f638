//! Which workers may get a router's traffic: those registered, staked and not jailed on the
//! ledger. The router's peer table is fed by closures (the router never talks to the ledger);
//! this loop asks the ledger about each worker the router discovers, and again at every new
//! epoch, and keeps the answers for the epoch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wick_ledger::client::{ClientError, Session};
use wick_proto::v1::WorkerResponse;
use wick_staking::Address;

/// How often new workers and epoch changes are looked for.
const POLL: Duration = Duration::from_millis(500);

/// Reads the keys of the workers the router knows.
pub type KnownWorkers = Arc<dyn Fn() -> Vec<[u8; 32]> + Send + Sync>;
/// Tells the router which workers may get traffic.
pub type SetEligible = Arc<dyn Fn(HashSet<[u8; 32]>) + Send + Sync>;

/// Whether the ledger lets a worker serve: registered, bonded stake above zero, not jailed.
pub fn eligible(w: &WorkerResponse) -> bool {
    w.registered && !w.jailed && w.bonded.parse::<u128>().is_ok_and(|b| b > 0)
}

/// Keeps the router's eligible set in step with the ledger until `shutdown`.
pub async fn run(mut ledger: Session, known: KnownWorkers, set: SetEligible, shutdown: CancellationToken) {
    let mut cache: HashMap<[u8; 32], bool> = HashMap::new();
    let mut epoch = None;
    loop {
        if let Err(e) = refresh(&mut ledger, &known, &set, &mut cache, &mut epoch).await {
            tracing::warn!(ledger = ?ledger.endpoints(), error = %e, "could not check workers on the ledger; retrying");
            ledger.failed();
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn refresh(
    ledger: &mut Session,
    known: &KnownWorkers,
    set: &SetEligible,
    cache: &mut HashMap<[u8; 32], bool>,
    epoch: &mut Option<u64>,
) -> Result<(), ClientError> {
    let now = ledger.call(|c| Box::pin(c.epoch())).await?.epoch;
    if *epoch != Some(now) {
        cache.clear();
        *epoch = Some(now);
    }
    let mut changed = false;
    for key in known() {
        if cache.contains_key(&key) {
            continue;
        }
        let w = ledger.call(|c| Box::pin(async move { c.worker(&Address(key)).await })).await?;
        let ok = eligible(&w);
        if !ok {
            tracing::warn!(worker = %hex::encode(key), registered = w.registered, jailed = w.jailed, bonded = %w.bonded,
                "worker is not staked on the ledger; it gets no traffic");
        }
        cache.insert(key, ok);
        changed = true;
    }
    if changed {
        set(cache.iter().filter(|(_, ok)| **ok).map(|(k, _)| *k).collect());
    }
    Ok(())
}
