//! Mempool gossip: submissions this node received, sent in small batches to every peer's
//! `RelayTxs`. One hop is enough (validators keep connections to each other), so relayed
//! transactions are not relayed again; a peer that is down just misses them, since the origin
//! proposes them itself when its turn comes.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use wick_proto::v1::RelayTxsRequest;
use wick_proto::v1::ledger_client::LedgerClient;

use super::RELAY_BATCH;

/// Transactions in one relay message at most (the receiver refuses more).
pub const MAX_RELAY_TXS: usize = 1024;

pub(super) async fn run(peers: Vec<String>, mut rx: mpsc::Receiver<Vec<u8>>, shutdown: CancellationToken) {
    let clients: Vec<(String, LedgerClient<Channel>)> = peers
        .into_iter()
        .filter_map(|url| {
            let endpoint = Endpoint::from_shared(url.clone()).ok()?.connect_timeout(Duration::from_secs(2));
            Some((url, LedgerClient::new(endpoint.connect_lazy())))
        })
        .collect();
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            t = rx.recv() => match t { Some(t) => t, None => return },
        };
        let mut txs = vec![first];
        let until = tokio::time::Instant::now() + RELAY_BATCH;
        while txs.len() < MAX_RELAY_TXS {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(t)) => txs.push(t),
                _ => break,
            }
        }
        for (url, client) in &clients {
            let mut client = client.clone();
            let req = RelayTxsRequest { txs: txs.clone() };
            let url = url.clone();
            tokio::spawn(async move {
                if let Err(e) = tokio::time::timeout(Duration::from_secs(5), client.relay_txs(req)).await {
                    tracing::debug!(peer = %url, error = %e, "relaying transactions timed out");
                }
            });
        }
    }
}
