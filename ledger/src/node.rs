//! The ledger node: one actor task owns the [`State`] and the [`Store`]. Submitted transactions
//! queue in its channel; it cuts a block every `block_interval` (or as soon as
//! `max_block_txs` are waiting), executes it, commits it with one synced write, then answers
//! every submitter with the block height and its transaction's result, publishes the new
//! state to readers and the block to subscribers. Epoch ends follow block time, by the state
//! machine's rule (`State::epoch_due`): once a block's time is `epoch_seconds` past the epoch's
//! start, that block (empty if need be) ends the epoch after its transactions, so epoch ends
//! are stored and replay like any block, and a replica replays them from block times alone.
//!
//! Execution and the fsync run on the blocking pool; readers see immutable snapshots
//! (`Arc<State>`, swapped after each commit) and never wait for the actor.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::Block;
use wick_staking::genesis::Genesis;
use wick_staking::{SignedTx, State, TxError, wire};

use crate::execution::{block_record, execute_verified};
use crate::store::{Store, StoreError};

/// How a node runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Data directory (rocksdb).
    pub dir: PathBuf,
    /// The chain.
    pub genesis: Genesis,
    /// Longest wait before waiting transactions are cut into a block.
    pub block_interval: Duration,
    /// A block is cut as soon as this many transactions wait.
    pub max_block_txs: usize,
    /// Epoch length; `None` takes the genesis's `epoch_seconds`.
    pub epoch_seconds: Option<u64>,
    /// Replication by BFT consensus with other ledger nodes; `None` runs the chain alone in
    /// this process (blocks are cut by the node's own timer).
    pub replica: Option<crate::replica::ReplicaConfig>,
    /// Transactions per second one source address may relay (`RelayTxs`).
    pub relay_rate: u32,
}

impl NodeConfig {
    /// Defaults: 100 ms blocks of at most 2 000 transactions.
    pub fn new(dir: PathBuf, genesis: Genesis) -> Self {
        Self {
            dir,
            genesis,
            block_interval: Duration::from_millis(100),
            max_block_txs: 2_000,
            epoch_seconds: None,
            replica: None,
            relay_rate: crate::replica::DEFAULT_RELAY_RATE,
        }
    }
}

/// Why the node stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Storage failed (the node never runs ahead of its disk).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The consensus engine could not start.
    #[error("the consensus engine could not start: {0}")]
    Consensus(String),
    /// A task of the node panicked or was cancelled.
    #[error("the ledger node's task {during} failed")]
    Task {
        /// What the task was doing.
        during: &'static str,
        /// The panic or cancellation.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Why a submission failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The ledger rejected the transaction in block `height`.
    #[error("{error}")]
    Rejected {
        /// Block that recorded the rejection.
        height: u64,
        /// Transaction hash.
        hash: [u8; 32],
        /// Reason.
        error: TxError,
    },
    /// Refused before any block: malformed bytes, wrong chain or bad signature.
    #[error("{0}")]
    Invalid(TxError),
    /// Refused by the state (wrong nonce, fee too low or unpayable): not stored, nothing paid.
    #[error("{0}")]
    Refused(TxError),
    /// The node is stopping or its storage failed.
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
}

/// A committed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Block height.
    pub height: u64,
    /// Transaction hash (sha256 of the wire bytes).
    pub hash: [u8; 32],
}

/// What readers see: the state after the last commit and the epoch clock.
#[derive(Debug, Clone)]
pub struct View {
    /// State after the last committed block.
    pub state: Arc<State>,
    /// When the current epoch started (wall clock).
    pub epoch_started_unix_ms: u64,
    /// Epoch length.
    pub epoch_seconds: u64,
}

impl View {
    /// When the node will end the current epoch.
    pub fn epoch_ends_unix_ms(&self) -> u64 {
        self.epoch_started_unix_ms.saturating_add(self.epoch_seconds.saturating_mul(1000))
    }
}

/// A checked transaction on its way to a block, and whom to answer.
pub(crate) struct Pending {
    pub(crate) tx: SignedTx,
    pub(crate) bytes: Vec<u8>,
    /// None for a transaction relayed by a peer (nobody here waits for it).
    pub(crate) reply: Option<oneshot::Sender<Result<Committed, SubmitError>>>,
}

impl Pending {
    fn answer(self, result: Result<Committed, SubmitError>) {
        if let Some(r) = self.reply {
            let _ = r.send(result);
        }
    }
}

/// A cloneable handle to a running node.
#[derive(Clone)]
pub struct LedgerHandle {
    submit: mpsc::Sender<Pending>,
    view: watch::Receiver<View>,
    blocks: broadcast::Sender<Arc<Block>>,
    /// Weak: the actor owns the store, so the database closes as soon as the node stops, even
    /// while handles live on (in gRPC connections, block followers).
    store: Weak<Store>,
    chain_id: Arc<str>,
    /// Whether signatures are checked as transactions arrive (a single node), or in batches
    /// by the replica's intake before they enter its mempool.
    verify_on_submit: bool,
    /// The rate bound of relayed transactions, per source address.
    relay_limit: Arc<std::sync::Mutex<crate::replica::RelayLimit>>,
    /// Transaction signatures a replica has checked (intake and proposals).
    signature_checks: Arc<AtomicU64>,
}

impl std::fmt::Debug for LedgerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerHandle").field("chain_id", &self.chain_id).finish()
    }
}

impl LedgerHandle {
    /// Decodes, pre-checks (chain id, signature) and submits wire bytes; resolves once the
    /// transaction's block is committed.
    pub async fn submit_bytes(&self, bytes: Vec<u8>) -> Result<Committed, SubmitError> {
        let tx = self.check(&bytes)?;
        let (reply, rx) = oneshot::channel();
        self.submit
            .send(Pending { tx, bytes, reply: Some(reply) })
            .await
            .map_err(|_| SubmitError::Unavailable("the node is stopping".into()))?;
        rx.await.map_err(|_| SubmitError::Unavailable("the node stopped before committing".into()))?
    }

    /// Decodes and checks (chain id, and the signature unless the replica's intake batches
    /// that) wire bytes, as every submission is checked.
    fn check(&self, bytes: &[u8]) -> Result<SignedTx, SubmitError> {
        let tx = wire::decode(bytes).map_err(SubmitError::Invalid)?;
        if tx.tx.chain_id != *self.chain_id {
            return Err(SubmitError::Invalid(TxError::WrongChain {
                expected: self.chain_id.to_string(),
                got: tx.tx.chain_id.clone(),
            }));
        }
        if self.verify_on_submit {
            tx.verify().map_err(SubmitError::Invalid)?;
        }
        Ok(tx)
    }

    /// Queues transactions a peer relayed, checked as submissions are, without waiting for
    /// their block (the peer's submitter waits there). Returns how many passed the checks, or
    /// refuses the whole message when `source` relayed past its rate bound.
    pub fn relay(
        &self,
        txs: Vec<Vec<u8>>,
        source: std::net::IpAddr,
    ) -> Result<usize, crate::replica::RelayRefused> {
        {
            // A poisoned lock only means another relay panicked mid-update: the buckets hold.
            let mut limit = self.relay_limit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            limit.admit(source, txs.len(), std::time::Instant::now())?;
        }
        let mut queued = 0;
        for bytes in txs {
            let Ok(tx) = self.check(&bytes) else { continue };
            // A full queue drops relayed transactions: the origin still proposes them itself.
            if self.submit.try_send(Pending { tx, bytes, reply: None }).is_ok() {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Submits a signed transaction (see [`Self::submit_bytes`]).
    pub async fn submit(&self, tx: &SignedTx) -> Result<Committed, SubmitError> {
        self.submit_bytes(wire::encode(tx)).await
    }

    /// Transaction signatures this replicated node has checked so far, by submission, relay or
    /// proposal; ideally one per transaction (a single node answers 0).
    pub fn signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }

    /// The current view (cheap: an `Arc` clone).
    pub fn view(&self) -> View {
        self.view.borrow().clone()
    }

    /// New blocks as they commit (a slow subscriber misses blocks and can re-read them from
    /// [`Self::store`]).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Block>> {
        self.blocks.subscribe()
    }

    /// The store, for reading past blocks; `None` once the node has stopped.
    pub fn store(&self) -> Option<Arc<Store>> {
        self.store.upgrade()
    }
}

/// A running ledger node.
#[derive(Debug)]
pub struct LedgerNode {
    /// Handle for submitting and reading.
    pub handle: LedgerHandle,
    task: Option<tokio::task::JoinHandle<Result<(), NodeError>>>,
}

impl LedgerNode {
    /// Opens the store (recovering the last committed state) and starts the actor. It stops
    /// when `shutdown` is cancelled, after committing what was already submitted.
    pub async fn start(config: NodeConfig, shutdown: CancellationToken) -> Result<LedgerNode, NodeError> {
        let dir = config.dir.clone();
        let mut genesis = config.genesis.clone();
        // The epoch length is a rule of the chain (block times decide epoch ends), so an
        // override is part of the genesis the directory is created with.
        if let Some(seconds) = config.epoch_seconds {
            genesis.epoch_seconds = seconds;
        }
        let chain_genesis = genesis.clone();
        let (store, rec) = tokio::task::spawn_blocking(move || Store::open(&dir, &chain_genesis))
            .await
            .map_err(|source| NodeError::Task { during: "opening the store", source })??;
        let store = Arc::new(store);
        let view = View {
            state: Arc::new(rec.state.clone()),
            epoch_started_unix_ms: epoch_started(&rec.state, rec.epoch_started_unix_ms),
            epoch_seconds: rec.state.epoch_seconds.max(1),
        };
        let (view_tx, view_rx) = watch::channel(view.clone());
        let (submit, rx) = mpsc::channel(config.max_block_txs.max(1) * 4);
        let (blocks, _) = broadcast::channel(1024);
        let chain_id: Arc<str> = Arc::from(config.genesis.chain_id.as_str());
        let handle = LedgerHandle {
            submit,
            view: view_rx,
            blocks: blocks.clone(),
            store: Arc::downgrade(&store),
            chain_id,
            verify_on_submit: config.replica.is_none(),
            relay_limit: Arc::new(std::sync::Mutex::new(crate::replica::RelayLimit::new(config.relay_rate))),
            signature_checks: Arc::default(),
        };
        if let Some(replica) = config.replica.clone() {
            let checks = handle.signature_checks.clone();
            let parts =
                crate::replica::Parts { state: rec.state, store, view, view_tx, blocks, intake: rx, checks };
            let task = crate::replica::start(&config, replica, parts, shutdown).await?;
            return Ok(LedgerNode { handle, task: Some(task) });
        }
        let actor = Actor {
            state: rec.state,
            store: store.clone(),
            pending: Vec::new(),
            view,
            view_tx,
            blocks: blocks.clone(),
            max_block_txs: config.max_block_txs.max(1),
        };
        let task = tokio::spawn(actor.run(rx, config.block_interval, shutdown));
        Ok(LedgerNode { handle, task: Some(task) })
    }

    /// Waits for the actor to stop (cancel-safe; returns at once once it has stopped). An
    /// error means storage failed.
    pub async fn wait(&mut self) -> Result<(), NodeError> {
        let Some(task) = self.task.as_mut() else { return Ok(()) };
        let r = task.await;
        self.task = None;
        match r {
            Ok(r) => r,
            Err(source) => Err(NodeError::Task { during: "running the node", source }),
        }
    }
}

struct Actor {
    /// The state after the last commit (empty while a block executes on the blocking pool).
    state: State,
    store: Arc<Store>,
    pending: Vec<Pending>,
    view: View,
    view_tx: watch::Sender<View>,
    blocks: broadcast::Sender<Arc<Block>>,
    max_block_txs: usize,
}

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Pending>,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> Result<(), NodeError> {
        if self.state.height == 0 {
            // A new chain's first block, empty, at once: its time starts epoch 0 (the state
            // machine's rule), so epochs run from the node's start even before any transaction.
            self.cut().await?;
        }
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(p) => {
                        self.pending.push(p);
                        while self.pending.len() < self.max_block_txs {
                            match rx.try_recv() {
                                Ok(p) => self.pending.push(p),
                                Err(_) => break,
                            }
                        }
                        if self.pending.len() >= self.max_block_txs {
                            self.cut().await?;
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    if !self.pending.is_empty() || self.epoch_due() {
                        self.cut().await?;
                    }
                }
            }
        }
        // Drain: commit what was accepted, refuse the rest.
        rx.close();
        while let Ok(p) = rx.try_recv() {
            self.pending.push(p);
        }
        while !self.pending.is_empty() {
            self.cut().await?;
        }
        Ok(())
    }

    /// Whether a block made now would end the epoch (the state machine's rule, on block time).
    fn epoch_due(&self) -> bool {
        self.state.epoch_due(self.block_time())
    }

    /// The next block's time: this node's clock, kept after the last block's.
    fn block_time(&self) -> u64 {
        now_unix_ms().max(self.state.last_block_ms.saturating_add(1))
    }

    /// Executes and commits one block of up to `max_block_txs` waiting transactions, then
    /// answers their submitters and publishes the new state and block.
    async fn cut(&mut self) -> Result<(), NodeError> {
        let take = self.pending.len().min(self.max_block_txs);
        let batch: Vec<Pending> = self.pending.drain(..take).collect();
        let now = self.block_time();
        let epoch_end = self.state.epoch_due(now);
        let executed = match self.execute(&batch, epoch_end, now).await {
            Ok(executed) => executed,
            Err(e) => {
                let reason = e.to_string();
                for p in batch {
                    p.answer(Err(SubmitError::Unavailable(reason.clone())));
                }
                return Err(e);
            }
        };
        self.publish(batch, executed, epoch_end);
        Ok(())
    }

    /// Runs the block and its synced commit on the blocking pool; the state comes back with it.
    async fn execute(&mut self, batch: &[Pending], epoch_end: bool, now: u64) -> Result<Executed, NodeError> {
        let mut state = std::mem::take(&mut self.state);
        let txs: Vec<SignedTx> = batch.iter().map(|p| p.tx.clone()).collect();
        let bytes: Vec<Vec<u8>> = batch.iter().map(|p| p.bytes.clone()).collect();
        let store = self.store.clone();
        let (state, executed) = tokio::task::spawn_blocking(move || {
            // Every queued transaction passed the chain id and signature checks in `submit_bytes`.
            let clock = (state.height, state.last_block_ms, state.epoch_started_ms);
            let executed = execute_verified(&mut state, &txs, &[], epoch_end, now);
            let results = executed.results.clone();
            let opening = state.height == 1 && txs.is_empty();
            if !epoch_end && !opening && results.iter().all(|r| r.as_ref().is_err_and(TxError::is_refusal)) {
                // Nothing but refusals: they changed nothing, so no block is made at all (a flood
                // of unpayable transactions costs the chain no storage): its height and time too.
                (state.height, state.last_block_ms, state.epoch_started_ms) = clock;
                let snapshot = Arc::new(state.clone());
                return (state, Ok(Executed { results, block: None, snapshot }));
            }
            let block = block_record(&state, bytes, &executed, now);
            let committed = store.commit(&block);
            let snapshot = Arc::new(state.clone());
            (state, committed.map(|()| Executed { results, block: Some(block), snapshot }))
        })
        .await
        .map_err(|source| NodeError::Task { during: "executing a block", source })?;
        self.state = state;
        executed.map_err(|e| {
            tracing::error!(error = %e, "committing a block failed; stopping");
            NodeError::Store(e)
        })
    }

    /// Answers each submitter with its result, then shows readers the new state and block.
    fn publish(&mut self, batch: Vec<Pending>, executed: Executed, epoch_end: bool) {
        let Executed { results, block, snapshot } = executed;
        let Some(block) = block else {
            // Every result is a refusal (see `execute`).
            for (p, r) in batch.into_iter().zip(results) {
                if let Err(error) = r {
                    p.answer(Err(SubmitError::Refused(error)));
                }
            }
            return;
        };
        self.view.epoch_started_unix_ms = epoch_started(&snapshot, self.view.epoch_started_unix_ms);
        self.view.state = snapshot;
        if epoch_end {
            let s = &self.view.state.last_epoch;
            tracing::info!(epoch = block.epoch, height = block.height, paid = %s.paid, minted = %s.minted, "epoch ended");
        }
        self.view_tx.send_replace(self.view.clone());
        for (p, r) in batch.into_iter().zip(results) {
            let hash = wire::tx_hash(&p.bytes);
            let reply = match r {
                Ok(()) => Ok(Committed { height: block.height, hash }),
                Err(error) if error.is_refusal() => Err(SubmitError::Refused(error)),
                Err(error) => Err(SubmitError::Rejected { height: block.height, hash, error }),
            };
            p.answer(reply);
        }
        let _ = self.blocks.send(Arc::new(block));
    }
}

/// When the current epoch started: the state's record (the first block's time starts epoch 0),
/// or, before any block, `fallback` (when the directory was created).
fn epoch_started(state: &State, fallback: u64) -> u64 {
    if state.height == 0 { fallback } else { state.epoch_started_ms }
}

/// A block executed and committed: what its submitters and readers are told.
struct Executed {
    results: Vec<Result<(), TxError>>,
    /// None when every transaction was refused (no block is made).
    block: Option<Block>,
    snapshot: Arc<State>,
}
