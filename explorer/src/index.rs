//! The explorer's index of the chain, built only from the blocks it follows: every block and its
//! decoded transactions, each account's transactions, each worker's claimed, attested and
//! credited work and reward per epoch (claims and attestations from their transactions, rewards
//! from the payouts that epoch-end blocks record), each router's attestations,
//! and every slash. It lives in memory; a restarted explorer rebuilds it from the ledger's block
//! stream.

use std::collections::{BTreeMap, HashMap};

use wick_proto::v1::{Block, EpochSettlement};
use wick_staking::{Address, SignedTx, TxBody, wire};

/// Where a transaction is: its block and its position in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLoc {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
}

/// A transaction as the index keeps it.
#[derive(Debug, Clone)]
pub struct TxEntry {
    /// sha256 of the wire bytes.
    pub hash: [u8; 32],
    /// The decoded transaction, or why its bytes do not decode.
    pub tx: Result<SignedTx, String>,
    /// The ledger's rejection code; empty when it was applied.
    pub code: String,
    /// The ledger's reason for a rejection.
    pub message: String,
}

impl TxEntry {
    /// Whether the ledger applied it.
    pub fn applied(&self) -> bool {
        self.code.is_empty()
    }
}

/// A block as the index keeps it.
#[derive(Debug, Clone)]
pub struct BlockEntry {
    /// Height.
    pub height: u64,
    /// When the ledger cut it.
    pub time_unix_ms: u64,
    /// The epoch after the block.
    pub epoch: u64,
    /// Whether the block ended an epoch (after its transactions).
    pub epoch_end: bool,
    /// State root after the block.
    pub state_root: Vec<u8>,
    /// Its transactions, in execution order.
    pub txs: Vec<TxEntry>,
    /// What its epoch end paid (absent on other blocks, and on epoch ends the ledger recorded
    /// before it kept settlements).
    pub settlement: Option<EpochSettlement>,
}

impl BlockEntry {
    /// The epoch its transactions ran in.
    pub fn tx_epoch(&self) -> u64 {
        if self.epoch_end { self.epoch.saturating_sub(1) } else { self.epoch }
    }
}

/// One worker's work in one epoch, as far as the chain shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochWork {
    /// Receipts and tokens the worker claimed, over all its routers.
    pub claimed: Option<(u64, u64)>,
    /// Tokens its routers attested, over all of them.
    pub attested: Option<u64>,
    /// Credited work once the epoch ended: per router, the smaller of the claim and the
    /// attestation, summed; zero for a jailed worker (the rule `wick-staking` documents as step 1
    /// of an epoch end, here in tokens; shown, not used for money).
    pub credited: Option<u64>,
    /// Rewards the epoch end paid to the worker's own account (its commission and the part of
    /// its own stake), from the block's settlement.
    pub reward: Option<u128>,
    /// Per router: the tokens claimed and attested.
    pairs: BTreeMap<Address, (u64, u64)>,
}

impl EpochWork {
    /// Per router the smaller of claim and attestation, summed.
    fn capped(&self) -> u64 {
        self.pairs.values().map(|(claimed, attested)| (*claimed).min(*attested)).fold(0, u64::saturating_add)
    }
}

/// What one router attested in one epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterEpoch {
    /// Workers attested.
    pub workers: u32,
    /// Receipts attested.
    pub receipts: u64,
    /// Tokens attested.
    pub tokens: u64,
}

/// A fraud or audit proof the ledger applied: the worker was slashed and jailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slash {
    /// The proof's transaction.
    pub loc: TxLoc,
    /// Its block's time.
    pub time_unix_ms: u64,
    /// The epoch it happened in.
    pub epoch: u64,
    /// The slashed worker.
    pub worker: Address,
    /// Who submitted the proof.
    pub reporter: Address,
    /// `fraud_proof` or `audit_proof`.
    pub kind: &'static str,
}

/// An ended epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEnd {
    /// The block that ended it.
    pub height: u64,
    /// That block's time.
    pub time_unix_ms: u64,
}

/// The index.
#[derive(Debug, Default)]
pub struct Index {
    /// `blocks[i]` has height `i + 1`.
    blocks: Vec<BlockEntry>,
    by_hash: HashMap<[u8; 32], TxLoc>,
    by_account: HashMap<Address, Vec<TxLoc>>,
    work: HashMap<Address, BTreeMap<u64, EpochWork>>,
    routers: HashMap<Address, BTreeMap<u64, RouterEpoch>>,
    epochs: BTreeMap<u64, EpochEnd>,
    slashes: Vec<Slash>,
}

/// The worker a fraud or audit proof accuses.
fn accused(body: &TxBody) -> Option<(Address, &'static str)> {
    match body {
        TxBody::AuditProof { accused, .. } => Some((*accused, "audit_proof")),
        TxBody::FraudProof { a, .. } => {
            let key = a.receipt.as_ref()?.worker_public_key.as_slice().try_into().ok()?;
            Some((Address(key), "fraud_proof"))
        }
        _ => None,
    }
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The height of the next block to ingest.
    pub fn next_height(&self) -> u64 {
        self.blocks.len() as u64 + 1
    }

    /// Adds the next block; returns false (and changes nothing) for any other height.
    pub fn ingest(&mut self, b: Block) -> bool {
        if b.height != self.next_height() {
            return false;
        }
        let mut entry = BlockEntry {
            height: b.height,
            time_unix_ms: b.time_unix_ms,
            epoch: b.epoch,
            epoch_end: b.epoch_end,
            state_root: b.state_root,
            txs: Vec::with_capacity(b.txs.len()),
            settlement: b.settlement,
        };
        for (i, bytes) in b.txs.iter().enumerate() {
            let loc = TxLoc { height: b.height, index: i as u32 };
            let result = b.results.get(i).cloned().unwrap_or_default();
            let tx = wire::decode(bytes).map_err(|e| e.to_string());
            let hash = wire::tx_hash(bytes);
            if let Ok(stx) = &tx {
                for a in touched(&stx.tx) {
                    let list = self.by_account.entry(a).or_default();
                    if list.last() != Some(&loc) {
                        list.push(loc);
                    }
                }
                if result.code.is_empty() {
                    self.record(stx, loc, &entry);
                }
            }
            self.by_hash.insert(hash, loc);
            entry.txs.push(TxEntry { hash, tx, code: result.code, message: result.message });
        }
        if let Some(s) = &entry.settlement {
            self.record_settlement(s);
        }
        if entry.epoch_end {
            self.epochs.insert(
                entry.tx_epoch(),
                EpochEnd { height: entry.height, time_unix_ms: entry.time_unix_ms },
            );
        }
        self.blocks.push(entry);
        true
    }

    /// Work, attestations and slashes from an applied transaction.
    fn record(&mut self, stx: &SignedTx, loc: TxLoc, block: &BlockEntry) {
        let signer = stx.tx.signer;
        match &stx.tx.body {
            // Claims and attestations are per (worker, router): a worker's epoch sums its
            // routers' (the ledger pays each pair; this index only shows the totals).
            TxBody::WorkClaim { router, work } => {
                let w = self.work.entry(signer).or_default().entry(work.epoch).or_default();
                let (count, tokens) = w.claimed.unwrap_or_default();
                w.claimed = Some((count.saturating_add(work.count), tokens.saturating_add(work.tokens)));
                w.pairs.entry(*router).or_default().0 = work.tokens;
            }
            TxBody::Attestation { worker, work } => {
                let w = self.work.entry(*worker).or_default().entry(work.epoch).or_default();
                w.attested = Some(w.attested.map_or(work.tokens, |t| t.saturating_add(work.tokens)));
                w.pairs.entry(signer).or_default().1 = work.tokens;
                let r = self.routers.entry(signer).or_default().entry(work.epoch).or_default();
                r.workers = r.workers.saturating_add(1);
                r.receipts = r.receipts.saturating_add(work.count);
                r.tokens = r.tokens.saturating_add(work.tokens);
            }
            body => {
                if let Some((worker, kind)) = accused(body) {
                    self.slashes.push(Slash {
                        loc,
                        time_unix_ms: block.time_unix_ms,
                        epoch: block.tx_epoch(),
                        worker,
                        reporter: signer,
                        kind,
                    });
                }
            }
        }
    }

    /// At an epoch end: each worker with work in the epoch gets its credited work and the
    /// rewards paid to its account.
    fn record_settlement(&mut self, s: &EpochSettlement) {
        let paid: HashMap<&[u8], u128> =
            s.payouts.iter().filter_map(|p| Some((p.account.as_slice(), p.amount.parse().ok()?))).collect();
        let jailed: Vec<Address> =
            self.slashes.iter().filter(|x| x.epoch <= s.epoch).map(|x| x.worker).collect();
        for (worker, epochs) in &mut self.work {
            let Some(w) = epochs.get_mut(&s.epoch) else { continue };
            w.credited = Some(if jailed.contains(worker) { 0 } else { w.capped() });
            w.reward = Some(paid.get(&worker.0[..]).copied().unwrap_or(0));
        }
    }

    /// The workers credited with work in `epoch` (ended), by address.
    pub fn credited(&self, epoch: u64) -> Vec<(Address, &EpochWork)> {
        let mut v: Vec<_> = self
            .work
            .iter()
            .filter_map(|(a, e)| e.get(&epoch).filter(|w| w.credited.is_some_and(|c| c > 0)).map(|w| (*a, w)))
            .collect();
        v.sort_by_key(|(a, _)| *a);
        v
    }

    /// The last block.
    pub fn head(&self) -> Option<&BlockEntry> {
        self.blocks.last()
    }

    /// Block `height`.
    pub fn block(&self, height: u64) -> Option<&BlockEntry> {
        let i = usize::try_from(height.checked_sub(1)?).ok()?;
        self.blocks.get(i)
    }

    /// Up to `limit` blocks below `before` (or from the head), newest first.
    pub fn blocks_before(&self, before: Option<u64>, limit: usize) -> impl Iterator<Item = &BlockEntry> {
        let end = before.map_or(self.blocks.len(), |b| (b.saturating_sub(1) as usize).min(self.blocks.len()));
        self.blocks[..end].iter().rev().take(limit)
    }

    /// A transaction by hash, with its block.
    pub fn tx(&self, hash: &[u8; 32]) -> Option<(&BlockEntry, &TxEntry, TxLoc)> {
        let loc = *self.by_hash.get(hash)?;
        self.at(loc).map(|(b, t)| (b, t, loc))
    }

    fn at(&self, loc: TxLoc) -> Option<(&BlockEntry, &TxEntry)> {
        let b = self.block(loc.height)?;
        Some((b, b.txs.get(loc.index as usize)?))
    }

    /// Up to `limit` transactions that name `a`, newest first.
    pub fn account_txs(&self, a: &Address, limit: usize) -> Vec<(&BlockEntry, &TxEntry, TxLoc)> {
        let Some(locs) = self.by_account.get(a) else { return Vec::new() };
        locs.iter().rev().take(limit).filter_map(|l| self.at(*l).map(|(b, t)| (b, t, *l))).collect()
    }

    /// Number of transactions that name `a`.
    pub fn account_tx_count(&self, a: &Address) -> usize {
        self.by_account.get(a).map_or(0, Vec::len)
    }

    /// A worker's work per epoch.
    pub fn work(&self, worker: &Address) -> Option<&BTreeMap<u64, EpochWork>> {
        self.work.get(worker)
    }

    /// Each router's attestations per epoch.
    pub fn routers(&self) -> &HashMap<Address, BTreeMap<u64, RouterEpoch>> {
        &self.routers
    }

    /// Every slash, oldest first.
    pub fn slashes(&self) -> &[Slash] {
        &self.slashes
    }

    /// Ended epochs, by epoch.
    pub fn epochs(&self) -> &BTreeMap<u64, EpochEnd> {
        &self.epochs
    }

    /// The last ended epoch and the block that ended it.
    pub fn last_epoch(&self) -> Option<(u64, &BlockEntry)> {
        let (e, end) = self.epochs.last_key_value()?;
        Some((*e, self.block(end.height)?))
    }

    /// Rewards `a` accrued at each of the last `limit` recorded epoch ends, newest first.
    pub fn payouts(&self, a: &Address, limit: usize) -> Vec<(u64, u128)> {
        self.epochs
            .values()
            .rev()
            .filter_map(|end| self.block(end.height)?.settlement.as_ref())
            .filter_map(|s| {
                let p = s.payouts.iter().find(|p| p.account == a.0)?;
                Some((s.epoch, p.amount.parse().ok()?))
            })
            .take(limit)
            .collect()
    }

    /// Transactions per second over the blocks of the last `window_ms` before `now_ms`.
    pub fn tx_rate(&self, now_ms: u64, window_ms: u64) -> f64 {
        let from = now_ms.saturating_sub(window_ms);
        let n: usize =
            self.blocks.iter().rev().take_while(|b| b.time_unix_ms >= from).map(|b| b.txs.len()).sum();
        n as f64 * 1000.0 / window_ms.max(1) as f64
    }
}

#[cfg(test)]
mod tests;

/// The accounts a transaction concerns: its signer and whoever it names.
fn touched(tx: &wick_staking::Tx) -> Vec<Address> {
    let mut v = vec![tx.signer];
    match &tx.body {
        TxBody::Transfer { to, .. } => v.push(*to),
        TxBody::Delegate { worker, .. } | TxBody::Undelegate { worker, .. } => v.push(*worker),
        TxBody::Attestation { worker, .. } => v.push(*worker),
        TxBody::WorkClaim { router, .. } => v.push(*router),
        TxBody::AuditProof { accused, .. } => v.push(*accused),
        TxBody::FraudProof { a, .. } => {
            let key =
                a.receipt.as_ref().and_then(|r| <[u8; 32]>::try_from(r.worker_public_key.as_slice()).ok());
            v.extend(key.map(Address));
        }
        TxBody::RouterEquivocation { a, .. } => {
            v.extend(<[u8; 32]>::try_from(a.router_public_key.as_slice()).ok().map(Address));
        }
        _ => {}
    }
    v
}
