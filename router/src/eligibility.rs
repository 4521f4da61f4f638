//! Which workers may get traffic: those registered, staked and not jailed on the ledger. The
//! router asks the ledger (`wick.v1.Ledger/Worker`) about each worker it discovers and again
//! at every new epoch, and keeps the answers for the epoch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use wick_proto::v1::ledger_client::LedgerClient;
use wick_proto::v1::{EpochRequest, WorkerRequest, WorkerResponse};

use crate::peer_table::{PeerTable, WorkerKey};

/// How often new workers and epoch changes are looked for.
const POLL: Duration = Duration::from_millis(500);

/// Whether the ledger lets a worker serve: registered, bonded stake above zero, not jailed.
pub(crate) fn eligible(w: &WorkerResponse) -> bool {
    w.registered && !w.jailed && w.bonded.parse::<u128>().is_ok_and(|b| b > 0)
}

/// Keeps the peer table's eligibility in step with the ledger at `url` until `shutdown`.
pub(crate) async fn run(url: String, peers: Arc<PeerTable>, shutdown: CancellationToken) {
    let mut cache: HashMap<WorkerKey, bool> = HashMap::new();
    let mut epoch = None;
    let mut client: Option<LedgerClient<Channel>> = None;
    loop {
        if let Err(e) = refresh(&url, &mut client, &peers, &mut cache, &mut epoch).await {
            tracing::warn!(ledger = %url, error = %e, "could not check workers on the ledger; retrying");
            client = None;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

async fn refresh(
    url: &str,
    client: &mut Option<LedgerClient<Channel>>,
    peers: &PeerTable,
    cache: &mut HashMap<WorkerKey, bool>,
    epoch: &mut Option<u64>,
) -> Result<(), tonic::Status> {
    let ledger = match client {
        Some(c) => c,
        None => {
            let c = LedgerClient::connect(url.to_string())
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            client.insert(c)
        }
    };
    let now = ledger.epoch(EpochRequest {}).await?.into_inner().epoch;
    if *epoch != Some(now) {
        cache.clear();
        *epoch = Some(now);
    }
    let mut changed = false;
    for key in peers.keys() {
        if cache.contains_key(&key) {
            continue;
        }
        let w = ledger.worker(WorkerRequest { address: key.to_vec() }).await?.into_inner();
        let ok = eligible(&w);
        if !ok {
            tracing::warn!(worker = %hex::encode(key), registered = w.registered, jailed = w.jailed, bonded = %w.bonded,
                "worker is not staked on the ledger; it gets no traffic");
        }
        cache.insert(key, ok);
        changed = true;
    }
    if changed {
        peers.set_eligible(cache.iter().filter(|(_, ok)| **ok).map(|(k, _)| *k).collect());
    }
    Ok(())
}
