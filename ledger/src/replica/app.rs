//! The ledger as the consensus engine's [`Application`]: a proposer builds a block from its
//! mempool at its clock's time, a validator re-executes a proposed block and accepts it only if
//! every check passes and the state root matches, and a decided block is committed with its
//! certificate in one synced write before anyone is told.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use prost::Message;
use tokio::sync::{broadcast, watch};
use wick_consensus::{Application, BlockHash, Equivocation};
use wick_proto::time::now_unix_ms;
use wick_proto::v1::{Block, EpochSettlement, ProposedBlock};
use wick_staking::{Address, SignedTx, State, TxError};

use super::mempool::Mempool;
use rand_core_06::OsRng;
use wick_staking::verify::verify_all;
use wick_staking::wire;

use crate::execution::{Executed, block_record_with_root, end_epoch, execute_verified};
use crate::node::View;
use crate::store::Store;

/// How far ahead of a validator's clock a proposed block's time may be.
pub const MAX_CLOCK_DRIFT_MS: u64 = 2_000;
/// Evidence one block may carry at most.
pub const MAX_EVIDENCE: usize = 16;

/// A block executed on a copy of the committed state, waiting for its decision.
struct Trial {
    hash: BlockHash,
    block: ProposedBlock,
    state: State,
    results: Vec<Result<(), TxError>>,
    settlement: Option<EpochSettlement>,
}

/// The replicated ledger's side of consensus.
pub struct LedgerApp {
    pub(super) me: [u8; 32],
    pub(super) state: State,
    pub(super) store: Arc<Store>,
    pub(super) mempool: Arc<Mutex<Mempool>>,
    pub(super) max_block_txs: usize,
    pub(super) view: View,
    pub(super) view_tx: watch::Sender<View>,
    pub(super) blocks: broadcast::Sender<Arc<Block>>,
    /// Equivocation seen here and not yet in a committed block.
    pub(super) evidence: Vec<Vec<u8>>,
    trials: Vec<Trial>,
    /// Counts the signatures checked (see `LedgerHandle::signature_checks`).
    checks: Arc<AtomicU64>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LedgerApp {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        me: [u8; 32],
        state: State,
        store: Arc<Store>,
        mempool: Arc<Mutex<Mempool>>,
        max_block_txs: usize,
        view: View,
        view_tx: watch::Sender<View>,
        blocks: broadcast::Sender<Arc<Block>>,
        checks: Arc<AtomicU64>,
    ) -> Self {
        LedgerApp {
            me,
            state,
            store,
            mempool,
            max_block_txs,
            view,
            view_tx,
            blocks,
            evidence: Vec::new(),
            trials: Vec::new(),
            checks,
        }
    }

    /// Runs `block`'s transactions (checked, in order), evidence and epoch end on a copy of
    /// the committed state. `None` if a transaction is refused: a valid block has none.
    fn execute(&self, block: ProposedBlock, hash: BlockHash, txs: &[SignedTx]) -> Option<Trial> {
        let mut state = self.state.clone();
        let time = block.time_unix_ms;
        let epoch_end = state.epoch_due(time);
        // The same execution, in the same order, as a single node's and as replay's.
        let executed = execute_verified(&mut state, txs, &block.evidence, epoch_end, time);
        if executed.results.iter().any(|r| r.as_ref().is_err_and(TxError::is_refusal)) {
            return None;
        }
        Some(Trial { hash, block, state, results: executed.results, settlement: executed.epoch_end })
    }

    fn keep(&mut self, trial: Trial) {
        // A height sees few proposals (one per round); keep the newest few.
        if self.trials.len() >= 8 {
            self.trials.remove(0);
        }
        self.trials.push(trial);
    }

    /// The checks of [`Application::check`], returning the executed block. A `decided` block
    /// (its certificate shows more than two thirds of the power voted for it) skips the clock
    /// check: a node whose clock lags must still commit what the validators decided.
    fn verify(&self, height: u64, bytes: &[u8], decided: bool) -> Result<Trial, String> {
        let block = ProposedBlock::decode(bytes).map_err(|e| format!("undecodable: {e}"))?;
        if block.encode_to_vec() != bytes {
            return Err("not in canonical encoding".into());
        }
        if block.height != height || height != self.state.height + 1 {
            return Err(format!("height {} at height {height}", block.height));
        }
        self.state.check_block_time(block.time_unix_ms).map_err(|e| e.to_string())?;
        if !decided && block.time_unix_ms > now_unix_ms() + MAX_CLOCK_DRIFT_MS {
            return Err(format!("time {} is ahead of this validator's clock", block.time_unix_ms));
        }
        if (!decided && block.txs.len() > self.max_block_txs.max(1) * 4)
            || block.evidence.len() > MAX_EVIDENCE
        {
            return Err("too many transactions or too much evidence".into());
        }
        for e in &block.evidence {
            Equivocation::verify(&self.state.chain_id, e).map_err(|e| format!("evidence: {e}"))?;
        }
        let txs = block
            .txs
            .iter()
            .enumerate()
            .map(|(i, b)| wire::decode(b).map_err(|e| format!("transaction {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(i) = txs.iter().position(|t| t.tx.chain_id != self.state.chain_id) {
            return Err(format!("transaction {i}: another chain"));
        }
        self.check_new_signatures_then_execute(block, bytes, &txs, decided)
    }

    /// Verifies the signatures of a block's transactions that are not waiting in the mempool
    /// (those were verified when they arrived), in batches, then executes the block if all
    /// hold. While they are checked they are marked in the mempool, so a relayed copy arriving
    /// meanwhile is parked instead of checked again (see `settle_unverified`); afterwards
    /// [`LedgerApp::keep_checked`] puts what it should into the mempool.
    fn check_new_signatures_then_execute(
        &self,
        block: ProposedBlock,
        bytes: &[u8],
        txs: &[SignedTx],
        decided: bool,
    ) -> Result<Trial, String> {
        let hashes: Vec<[u8; 32]> = block.txs.iter().map(|b| wire::tx_hash(b)).collect();
        let unknown = lock(&self.mempool).begin_check(&hashes);
        let to_check: Vec<SignedTx> = unknown.iter().map(|&i| txs[i].clone()).collect();
        let to_check_wire: Vec<Vec<u8>> = unknown.iter().map(|&i| block.txs[i].clone()).collect();
        self.checks.fetch_add(to_check.len() as u64, Ordering::Relaxed);
        let signatures = verify_all(&to_check, OsRng);
        let outcome = if signatures.iter().any(Result::is_err) {
            Err("a transaction's signature does not verify".into())
        } else {
            self.execute_checked(block, bytes, txs)
        };
        let parked = lock(&self.mempool).end_check(unknown.iter().map(|&i| &hashes[i]));
        let whole_block = outcome.is_ok() && !decided;
        let checked = unknown.into_iter().zip(to_check).zip(to_check_wire).zip(signatures).filter_map(
            |(((i, tx), bytes), signature)| {
                let keep = signature.is_ok() && (whole_block || parked.contains(&hashes[i]));
                keep.then_some((hashes[i], tx, bytes))
            },
        );
        self.keep_checked(checked);
        outcome
    }

    /// Executes a block whose transactions are decoded and verified; refuses a refusal and a
    /// state root other than the one execution gives.
    fn execute_checked(&self, block: ProposedBlock, bytes: &[u8], txs: &[SignedTx]) -> Result<Trial, String> {
        let root = block.state_root.clone();
        let trial =
            self.execute(block, BlockHash::of(bytes), txs).ok_or("a transaction the state refuses")?;
        if trial.state.root().as_slice() != root.as_slice() {
            return Err("its state root is not the one executing it gives".into());
        }
        Ok(trial)
    }

    /// Puts the transactions a proposal's check verified into the mempool (those it would
    /// admit by relay), so that their relayed copies arriving later are known and not checked
    /// again. The caller passes all of a valid proposal that is not yet decided, and of any
    /// other only those whose relayed copy was parked with the check: a Byzantine proposer can
    /// make a node keep nothing it was not relayed anyway, and forging one signature beside
    /// them does not make it lose the others.
    fn keep_checked(&self, checked: impl Iterator<Item = ([u8; 32], SignedTx, Vec<u8>)>) {
        let mut pool = lock(&self.mempool);
        for (hash, tx, bytes) in checked {
            if super::admissible(&self.state, &tx).is_ok() {
                // A full mempool keeps its older transactions.
                let _ = pool.insert_hashed(hash, tx, bytes, None);
            }
        }
    }

    #[cfg(test)]
    pub(super) fn mempool_insert(&mut self, tx: SignedTx, bytes: Vec<u8>) {
        let _ = lock(&self.mempool).insert(tx, bytes, None);
    }

    #[cfg(test)]
    pub(super) fn signature_checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn forget_trials(&mut self) {
        self.trials.clear();
    }

    #[cfg(test)]
    pub(super) fn has_pending(&self) -> bool {
        !lock(&self.mempool).is_empty()
    }

    /// As if a relayed copy of `wire_tx` arrived while a proposal's check verifies it.
    #[cfg(test)]
    pub(super) fn relayed_during_check(&self, wire_tx: &[u8]) {
        let hash = wire::tx_hash(wire_tx);
        let mut pool = lock(&self.mempool);
        pool.begin_check(&[hash]);
        assert!(pool.park(&hash));
    }

    #[cfg(test)]
    pub(super) fn pending(&self, wire_tx: &[u8]) -> bool {
        lock(&self.mempool).contains(&wire::tx_hash(wire_tx))
    }

    fn take_trial(&mut self, hash: &BlockHash) -> Option<Trial> {
        let i = self.trials.iter().position(|t| &t.hash == hash)?;
        Some(self.trials.swap_remove(i))
    }

    /// Makes the committed block visible: answers its submitters, drops what the new state
    /// refuses from the mempool, publishes the new view and the block.
    fn publish(&mut self, record: Block, results: &[Result<(), TxError>]) {
        let snapshot = Arc::new(self.state.clone());
        {
            let mut pool = lock(&self.mempool);
            pool.decided(record.height, &record.txs, results);
            pool.recheck(&self.state);
        }
        self.evidence.retain(|e| !record.evidence.contains(e));
        self.view.epoch_started_unix_ms = snapshot.epoch_started_ms;
        self.view.state = snapshot;
        if record.epoch_end {
            let s = &self.view.state.last_epoch;
            tracing::info!(epoch = record.epoch, height = record.height, paid = %s.paid, minted = %s.minted, "epoch ended");
        }
        self.view_tx.send_replace(self.view.clone());
        let _ = self.blocks.send(Arc::new(record));
    }
}

/// Powers the engine can add up: it sums them in u64 (and multiplies by 3), so a set whose
/// stake totals more than a quarter of u64 is scaled down by the same divisor for everyone
/// (deterministic, proportions kept, nobody below 1).
pub(crate) fn voting_powers(set: Vec<([u8; 32], u64)>) -> Vec<([u8; 32], u64)> {
    const LIMIT: u128 = (u64::MAX / 4) as u128;
    let total: u128 = set.iter().map(|(_, p)| u128::from(*p)).sum();
    if total <= LIMIT {
        return set;
    }
    let divisor = total.div_ceil(LIMIT);
    set.into_iter().map(|(a, p)| (a, ((u128::from(p) / divisor) as u64).max(1))).collect()
}

/// Applies a block's equivocation evidence (each verified already): slashes and jails.
/// Evidence already proven changes nothing, the same on every replica.
pub(crate) fn slash_evidence(state: &mut State, evidence: &[Vec<u8>]) {
    for e in evidence {
        if let Ok((who, height)) = Equivocation::verify(&state.chain_id.clone(), e) {
            match state.slash_equivocation(Address(who.0), height.0) {
                Ok(burned) => {
                    tracing::warn!(validator = %hex::encode(who.0), height = height.0, burned = %burned, "validator slashed for equivocation")
                }
                Err(e) => tracing::debug!(error = %e, "equivocation evidence changed nothing"),
            }
        }
    }
}

/// The proposal a stored block was decided as (see `ProposedBlock`: it rebuilds exactly).
pub(crate) fn proposal_of(block: &Block) -> ProposedBlock {
    ProposedBlock {
        height: block.height,
        time_unix_ms: block.time_unix_ms,
        txs: block.txs.clone(),
        evidence: block.evidence.clone(),
        state_root: block.state_root.clone(),
    }
}

impl Application for LedgerApp {
    fn committed_height(&self) -> u64 {
        self.state.height
    }

    fn validators(&self, _height: u64) -> Vec<([u8; 32], u64)> {
        let set = self.state.validator_set();
        if set.is_empty() {
            // A genesis without validators is run by one node: its key is the one validator.
            return vec![(self.me, 1)];
        }
        voting_powers(set.into_iter().map(|(a, power)| (a.0, power)).collect())
    }

    fn has_work(&self) -> bool {
        !lock(&self.mempool).is_empty()
            || !self.evidence.is_empty()
            || self.state.epoch_due(now_unix_ms().max(self.state.last_block_ms + 1))
    }

    fn propose(&mut self, height: u64) -> Vec<u8> {
        let time = now_unix_ms().max(self.state.last_block_ms + 1);
        let candidates = lock(&self.mempool).candidates(self.max_block_txs);
        let mut state = self.state.clone();
        let epoch_end = state.epoch_due(time);
        // One pass on one copy of the state: what it refuses now is left out (a valid block has
        // no refusal, and a refusal changes nothing); it waits in the mempool for its nonce, or
        // the next recheck drops it.
        let mut txs = Vec::with_capacity(candidates.len());
        let mut results = Vec::with_capacity(candidates.len());
        for (tx, bytes) in candidates {
            let r = state.apply_verified(&tx);
            if !r.as_ref().is_err_and(TxError::is_refusal) {
                txs.push(bytes);
                results.push(r);
            }
        }
        state.close_block(time);
        let evidence: Vec<Vec<u8>> = self.evidence.iter().take(MAX_EVIDENCE).cloned().collect();
        slash_evidence(&mut state, &evidence);
        let settlement = epoch_end.then(|| end_epoch(&mut state, time));
        let block =
            ProposedBlock { height, time_unix_ms: time, txs, evidence, state_root: state.root().to_vec() };
        let bytes = block.encode_to_vec();
        let hash = BlockHash::of(&bytes);
        self.keep(Trial { hash, block, state, results, settlement });
        bytes
    }

    fn check(&mut self, height: u64, proposer: [u8; 32], block: &[u8], decided: bool) -> bool {
        let hash = BlockHash::of(block);
        if self.trials.iter().any(|t| t.hash == hash) {
            return true;
        }
        match self.verify(height, block, decided) {
            Ok(trial) => {
                self.keep(trial);
                true
            }
            Err(why) => {
                tracing::warn!(height, proposer = %hex::encode(proposer), %why, "refusing a proposed block");
                false
            }
        }
    }

    fn commit(
        &mut self,
        height: u64,
        proposer: [u8; 32],
        block: &[u8],
        certificate: Vec<u8>,
    ) -> Result<(), String> {
        let hash = BlockHash::of(block);
        let trial = match self.take_trial(&hash) {
            Some(t) => t,
            None => self.verify(height, block, true)?,
        };
        let Trial { block: proposal, state, results, settlement, .. } = trial;
        let executed = Executed { results, epoch_end: settlement };
        // The proposal's root is the one executing it gave (checked, or computed by propose).
        let mut record = block_record_with_root(
            &state,
            proposal.txs,
            &executed,
            proposal.time_unix_ms,
            proposal.state_root,
        );
        record.proposer = proposer.to_vec();
        record.certificate = certificate;
        record.evidence = proposal.evidence;
        self.store.commit(&record).map_err(|e| e.to_string())?;
        self.state = state;
        self.trials.clear();
        self.publish(record, &executed.results);
        Ok(())
    }

    fn decided(&self, height: u64) -> Option<(Vec<u8>, Vec<u8>)> {
        let block = self.store.block(height).ok()??;
        Some((proposal_of(&block).encode_to_vec(), block.certificate))
    }

    fn keep_proposal(&mut self, height: u64, hash: [u8; 32], record: Vec<u8>) {
        if let Err(e) = self.store.keep_proposal(height, &hash, &record) {
            tracing::error!(height, error = %e, "keeping a proposal failed");
        }
    }

    fn kept_proposals(&self, height: u64) -> Vec<Vec<u8>> {
        self.store.proposals_at(height).unwrap_or_else(|e| {
            tracing::error!(height, error = %e, "reading kept proposals failed");
            Vec::new()
        })
    }

    fn equivocation(&mut self, evidence: Equivocation) {
        let bytes = evidence.to_bytes();
        if !self.evidence.contains(&bytes) && self.evidence.len() < 1024 {
            self.evidence.push(bytes);
        }
    }
}
