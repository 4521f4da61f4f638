//! A ledger node replicated by BFT consensus (`wick-consensus`, on Malachite): the same store,
//! state machine, gRPC service and handle as a single node, but blocks are proposed in turn by
//! the validators, re-executed by every one of them, and committed only once more than two
//! thirds of the voting power decided them. A submission is answered when its block is
//! decided and committed here; transactions reach the other nodes' mempools by relay, so
//! whichever validator proposes next includes them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_consensus::SigningKey;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use wick_proto::v1::Block;
use wick_staking::State;

use rand_core_06::OsRng;
use wick_staking::verify::verify_all;
use wick_staking::{SignedTx, wire};

use crate::node::{NodeConfig, NodeError, Pending, SubmitError, View};
use crate::store::Store;

mod app;
mod mempool;
mod relay;
mod relay_limit;
#[cfg(test)]
mod tests;

pub(crate) use app::slash_evidence;
pub use app::{LedgerApp, MAX_CLOCK_DRIFT_MS};
pub use mempool::Mempool;
pub use relay::MAX_RELAY_TXS;
pub use relay_limit::{DEFAULT_RELAY_RATE, RELAY_BURST, RelayLimit, RelayRefused};

/// How a node takes part in consensus.
#[derive(Clone)]
pub struct ReplicaConfig {
    /// Its validator key (also its network identity).
    pub key: SigningKey,
    /// Where it listens for consensus peers (TCP).
    pub listen: SocketAddr,
    /// Consensus peers it keeps connections to.
    pub peers: Vec<SocketAddr>,
    /// The peers' gRPC endpoints, which its mempool relays submissions to.
    pub relay_to: Vec<String>,
    /// Whether it votes (a validator) or follows without voting (a full node).
    pub validator: bool,
    /// Test-only: sign a conflicting vote beside every vote (see `wick_consensus::Config`).
    #[cfg(feature = "byzantine")]
    pub equivocate: bool,
}

impl ReplicaConfig {
    /// A voting validator with key `key` listening on `listen`.
    pub fn new(key: SigningKey, listen: SocketAddr, peers: Vec<SocketAddr>, relay_to: Vec<String>) -> Self {
        ReplicaConfig {
            key,
            listen,
            peers,
            relay_to,
            validator: true,
            #[cfg(feature = "byzantine")]
            equivocate: false,
        }
    }
}

impl std::fmt::Debug for ReplicaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaConfig")
            .field("address", &hex::encode(self.key.verification_key().to_bytes()))
            .field("listen", &self.listen)
            .field("peers", &self.peers)
            .field("relay_to", &self.relay_to)
            .field("validator", &self.validator)
            .finish()
    }
}

/// What the node made before choosing how to run.
pub(crate) struct Parts {
    pub(crate) state: State,
    pub(crate) store: Arc<Store>,
    pub(crate) view: View,
    pub(crate) view_tx: watch::Sender<View>,
    pub(crate) blocks: broadcast::Sender<Arc<Block>>,
    pub(crate) intake: mpsc::Receiver<Pending>,
    /// Counts the signatures checked (see `LedgerHandle::signature_checks`).
    pub(crate) checks: Arc<AtomicU64>,
}

/// Starts consensus, the mempool's intake and its relay; the task ends when `shutdown` is
/// cancelled (waiting submitters are told) or the engine stops.
pub(crate) async fn start(
    config: &NodeConfig,
    replica: ReplicaConfig,
    parts: Parts,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<Result<(), NodeError>>, NodeError> {
    let Parts { state, store, view, view_tx, blocks, intake, checks } = parts;
    if state.validator_set.is_empty() && !replica.peers.is_empty() {
        // Each node would take itself for the one validator and decide a chain of its own.
        return Err(NodeError::Consensus(
            "the genesis names no validators, so each node would decide alone: list them under \
             [[validators]] (address and stake), or run a single node without --peer"
                .into(),
        ));
    }
    let mempool = Arc::new(Mutex::new(Mempool::default()));
    let me = replica.key.verification_key().to_bytes();
    let chain_id = state.chain_id.clone();
    let max_block_txs = config.max_block_txs.max(1);
    let committed = view_tx.subscribe();
    let app = LedgerApp::new(
        me,
        state,
        store,
        mempool.clone(),
        max_block_txs,
        view,
        view_tx,
        blocks,
        checks.clone(),
    );
    let mut consensus = wick_consensus::Config::new(
        &format!("ledger-{}", &hex::encode(me)[..8]),
        &chain_id,
        replica.listen,
        config.dir.join("consensus"),
    );
    consensus.peers = replica.peers.clone();
    consensus.block_interval = config.block_interval;
    consensus.validator = replica.validator;
    #[cfg(feature = "byzantine")]
    {
        consensus.equivocate = replica.equivocate;
    }
    let node = wick_consensus::start(consensus, replica.key.clone(), app)
        .await
        .map_err(|e| NodeError::Consensus(format!("{e:#}")))?;
    let (relay_tx, relay_rx) = mpsc::channel(4096);
    let relay = tokio::spawn(relay::run(replica.relay_to.clone(), relay_rx, shutdown.clone()));
    let intake =
        tokio::spawn(intake_loop(intake, committed, mempool.clone(), relay_tx, checks, shutdown.clone()));
    Ok(tokio::spawn(async move {
        let mut engine = node.app;
        let result = tokio::select! {
            () = shutdown.cancelled() => Ok(()),
            r = &mut engine => {
                let why = match r {
                    Ok(Err(e)) => format!("{e:#}"),
                    Ok(Ok(())) => "stopped".into(),
                    Err(e) => e.to_string(),
                };
                tracing::error!(%why, "the consensus loop ended; stopping the ledger node");
                Err(NodeError::Consensus(why))
            }
        };
        intake.abort();
        relay.abort();
        engine.abort();
        let _ = node.engine.actor.kill_and_wait(None).await;
        node.engine.handle.abort();
        app::lock(&mempool).close("the ledger node is stopping");
        result
    }))
}

/// Transactions the intake verifies in one pass at most: four batches of 64 (both cores
/// busy), and short enough that a proposal arriving during the pass rarely holds one of
/// them, which would then be checked twice (with proposals' transactions kept, 1.04 checks a
/// transaction at 256 against 1.09 at 1024 in `wick bench ledger --validators 4`).
const INTAKE_BATCH: usize = 256;

/// Moves submissions into the mempool once their signatures verify (in batches: whatever
/// waits, up to [`INTAKE_BATCH`], is checked at once, on all cores) and hands this node's new
/// ones to the relay. A bad signature is answered as the submission's error.
async fn intake_loop(
    mut rx: mpsc::Receiver<Pending>,
    committed: watch::Receiver<View>,
    mempool: Arc<Mutex<Mempool>>,
    relay: mpsc::Sender<Vec<u8>>,
    checks: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            p = rx.recv() => match p { Some(p) => p, None => return },
        };
        let mut batch = vec![first];
        while batch.len() < INTAKE_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let state = committed.borrow().state.clone();
        let hashed: Vec<([u8; 32], Pending)> =
            batch.into_iter().map(|p| (wire::tx_hash(&p.bytes), p)).collect();
        let batch: Vec<([u8; 32], Pending)> = {
            let mut pool = app::lock(&mempool);
            hashed
                .into_iter()
                .filter_map(|(h, p)| settle_unverified(&mut pool, &state, &h, p).map(|p| (h, p)))
                .collect()
        };
        if batch.is_empty() {
            continue;
        }
        let txs: Vec<SignedTx> = batch.iter().map(|(_, p)| p.tx.clone()).collect();
        checks.fetch_add(txs.len() as u64, Ordering::Relaxed);
        let Ok(results) = tokio::task::spawn_blocking(move || verify_all(&txs, OsRng)).await else { return };
        let state = committed.borrow().state.clone();
        let mut pool = app::lock(&mempool);
        for ((hash, p), check) in batch.into_iter().zip(results) {
            if let Err(e) = check.and_then(|()| admissible(&state, &p.tx)) {
                if let Some(r) = p.reply {
                    let why = if e.is_invalid_argument() {
                        SubmitError::Invalid(e)
                    } else {
                        SubmitError::Refused(e)
                    };
                    let _ = r.send(Err(why));
                }
                continue;
            }
            let own = p.reply.is_some();
            let bytes = if own { Some(p.bytes.clone()) } else { None };
            let inserted = pool.insert_hashed(hash, p.tx, p.bytes, p.reply);
            if let (Ok(mempool::Inserted::New), Some(bytes)) = (inserted, bytes) {
                // Relaying is best effort: the transaction is proposed from here anyway.
                let _ = relay.try_send(bytes);
            }
        }
    }
}

/// Settles what needs no signature check, so that none is spent twice: a transaction already
/// waiting here (the same bytes, so the same signature) only gains a submitter, and a relayed
/// one the committed state refuses (most often decided while it was on its way) is dropped. A
/// relayed one that a proposal's check is verifying right now is parked with that check, which
/// keeps it if its signature verifies (see `LedgerApp::keep_checked`). Returns the submission
/// if it still needs checking. A node's own submissions not already waiting are always
/// checked in full, so their error names a bad signature whatever else is wrong.
fn settle_unverified(pool: &mut Mempool, state: &State, hash: &[u8; 32], p: Pending) -> Option<Pending> {
    let reply = match pool.join(hash, p.reply) {
        Ok(()) => return None,
        Err(reply) => reply,
    };
    if reply.is_none() && (admissible(state, &p.tx).is_err() || pool.park(hash)) {
        return None;
    }
    Some(Pending { reply, ..p })
}

/// How far past an account's next nonce a waiting transaction may be.
pub const MAX_NONCE_AHEAD: u64 = 64;

/// What the mempool admits, against the last committed state: a signer that can pay the fee
/// and a nonce from its next one to [`MAX_NONCE_AHEAD`] past it. Without this, anyone could
/// fill every validator's mempool (by relay) with transactions of unfunded keys that no block
/// will ever hold.
pub(super) fn admissible(state: &State, tx: &SignedTx) -> Result<(), wick_staking::TxError> {
    let acc = state.account(&tx.tx.signer);
    if tx.tx.nonce < acc.nonce || tx.tx.nonce > acc.nonce.saturating_add(MAX_NONCE_AHEAD) {
        return Err(wick_staking::TxError::BadNonce { expected: acc.nonce, got: tx.tx.nonce });
    }
    if acc.balance < tx.tx.fee {
        return Err(wick_staking::TxError::CannotPayFee { balance: acc.balance, fee: tx.tx.fee });
    }
    Ok(())
}

/// How long the relay gathers transactions into one message.
const RELAY_BATCH: Duration = Duration::from_millis(5);
