//! Parallel block execution whose results and state root are identical to serial order.
//!
//! 1. **Access sets.** Every transaction declares the [`Key`]s it reads or writes
//!    ([`State::access`]). An account key stands for everything keyed by that account as the
//!    acting party (balance, nonce, rewards, the delegations it made, its unbonding entries, its
//!    claims as a worker and its attestations as a router); a worker key for the worker's record;
//!    a job key for a proven job; one key for the proposal table. A fraud proof writes the
//!    worker, every delegator of the worker (its slash cuts their delegations) and the job.
//! 2. **Components.** Transactions that share a key that any of them writes are joined
//!    (union-find); keys only read in the block (a worker's record read by its claims and
//!    attestations) join nothing. Components are packed onto lanes, largest first.
//! 3. **Lanes.** Each lane copies the entries its transactions can reach into a small private
//!    [`State`] and runs the ordinary [`State::apply_verified`] on it, in block order; lanes run
//!    on all cores. Running the very same code on the same entries gives the same results.
//! 4. **Merge.** Lanes write disjoint entries, so they are written back in any (fixed) order.
//!    Supply and burned change by fees and slashes only: each lane's change is a delta from the
//!    block's start, and the deltas are summed. A block whose fees could overflow those sums is
//!    executed serially instead, so even overflow errors stay those of serial execution.
//!
//! Signature checks ([`verify_all`]) run beside planning and copying in
//! [`State::apply_block_parallel`]; [`State::apply_verified_block`] takes signatures verified
//! earlier, so a caller can verify block N+1 while block N executes.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::error::TxError;
use crate::state::State;
use crate::tx::{SignedTx, Tx, TxBody};
use crate::types::Address;
use crate::verify::{BatchRng, verify_all};

/// A unit of ledger state for conflict detection (see the [module docs](crate::parallel)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// An account and everything keyed by it as the acting party.
    Account(Address),
    /// A registered worker's record.
    Worker(Address),
    /// A job hash used by a fraud proof.
    Job(Vec<u8>),
    /// The proposal table (ids are allocated from it, votes recorded in it).
    Proposals,
}

/// The worker and job a fraud proof names, if its first receipt is well formed (otherwise the
/// proof fails before it reads any state).
fn fraud_target(tx: &Tx) -> Option<(Address, Vec<u8>)> {
    match &tx.body {
        TxBody::FraudProof { a, .. } => {
            let r = a.receipt.as_ref()?;
            let key: [u8; 32] = r.worker_public_key.as_slice().try_into().ok()?;
            Some((Address(key), r.job_hash.clone()))
        }
        TxBody::AuditProof { ticket, accused, .. } => {
            Some((*accused, wick_proto::signing::ticket_hash(ticket).to_vec()))
        }
        _ => None,
    }
}

impl State {
    /// The keys `tx` may read or write, each with whether it may write it. Complete for every
    /// kind: executing `tx` touches no other state than these keys, the fee sums and the
    /// block-constant chain id, epoch and parameters.
    pub fn access(&self, tx: &Tx) -> Vec<(Key, bool)> {
        let me = tx.signer;
        let mut v = vec![(Key::Account(me), true)];
        match &tx.body {
            TxBody::Transfer { to, .. } => v.push((Key::Account(*to), true)),
            TxBody::RegisterWorker { .. } | TxBody::Stake { .. } | TxBody::Unstake { .. } => {
                v.push((Key::Worker(me), true))
            }
            TxBody::Delegate { worker, .. } | TxBody::Undelegate { worker, .. } => {
                v.push((Key::Worker(*worker), true))
            }
            TxBody::WithdrawRewards => {}
            TxBody::WorkClaim { .. } => v.push((Key::Worker(me), false)),
            TxBody::Attestation { worker, .. } => v.push((Key::Worker(*worker), false)),
            TxBody::FraudProof { .. } | TxBody::AuditProof { .. } => {
                if let Some((worker, job)) = fraud_target(tx) {
                    v.push((Key::Worker(worker), true));
                    v.push((Key::Job(job), true));
                    for (d, _) in self.delegations.keys().filter(|(_, w)| *w == worker) {
                        v.push((Key::Account(*d), true));
                    }
                }
            }
            TxBody::Propose { .. } | TxBody::Vote { .. } => {
                v.push((Key::Worker(me), false));
                v.push((Key::Proposals, true));
            }
        }
        v
    }

    /// Verifies signatures (batched, on all cores) while planning the schedule, then executes
    /// the block on all cores and advances the height. Same results and resulting state (and
    /// root) as [`State::apply_block`].
    pub fn apply_block_parallel<R: BatchRng>(
        &mut self,
        txs: &[SignedTx],
        rng: R,
    ) -> Vec<Result<(), TxError>> {
        let lanes = lanes_for(rayon::current_num_threads());
        let (sigs, plan) = rayon::join(|| verify_all(txs, rng), || self.schedule(txs, lanes));
        self.execute_planned(txs, sigs, plan)
    }

    /// Executes a block whose signatures were checked by the caller (`sigs[i]` is
    /// [`verify_all`]'s result for `txs[i]`) on up to `lanes` lanes, then advances the height.
    /// Same results and resulting state (and root) as [`State::apply_block`] whatever `lanes` is.
    pub fn apply_verified_block(
        &mut self,
        txs: &[SignedTx],
        sigs: Vec<Result<(), TxError>>,
        lanes: usize,
    ) -> Vec<Result<(), TxError>> {
        let plan = self.schedule(txs, lanes);
        self.execute_planned(txs, sigs, plan)
    }

    /// The schedule [`State::apply_verified_block`] would use: conflicting transactions grouped
    /// and the groups packed onto at most `lanes` lanes, each listing its transactions' indices
    /// in block order. One lane means serial execution.
    pub fn schedule(&self, txs: &[SignedTx], lanes: usize) -> Vec<Vec<usize>> {
        if lanes <= 1 || txs.len() < 2 || !self.sums_cannot_overflow(txs) {
            return vec![(0..txs.len()).collect()];
        }
        let access: Vec<Vec<(Key, bool)>> = txs.iter().map(|t| self.access(&t.tx)).collect();
        let mut first: HashMap<&Key, (usize, bool)> = HashMap::with_capacity(txs.len() * 2);
        for (i, keys) in access.iter().enumerate() {
            for (k, w) in keys {
                first.entry(k).or_insert((i, false)).1 |= *w;
            }
        }
        let mut parent: Vec<usize> = (0..txs.len()).collect();
        for (i, keys) in access.iter().enumerate() {
            for (k, _) in keys {
                if let Some(&(j, true)) = first.get(k) {
                    union(&mut parent, i, j);
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for i in 0..txs.len() {
            let r = find(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
        if groups.len() == 1 {
            return vec![(0..txs.len()).collect()];
        }
        // Largest group first onto the least loaded lane (ties: lowest lane, then earliest group).
        let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
        let mut packed: Vec<Vec<usize>> = vec![Vec::new(); lanes.min(groups.len())];
        for g in groups {
            if let Some(lane) = packed.iter_mut().min_by_key(|l| l.len()) {
                lane.extend(g);
            }
        }
        for lane in &mut packed {
            lane.sort_unstable();
        }
        packed
    }

    /// Whether summing the block's fees and any slashes into `burned` cannot overflow, so
    /// per-lane deltas of supply and burned add up to the serial values exactly.
    fn sums_cannot_overflow(&self, txs: &[SignedTx]) -> bool {
        let fees = txs.iter().try_fold(0u128, |s, t| s.checked_add(t.tx.fee.0));
        // Burns never exceed the supply: supply + burned + fees bounds every intermediate sum.
        fees.and_then(|f| f.checked_add(self.supply.0)?.checked_add(self.burned.0)).is_some()
    }

    fn execute_planned(
        &mut self,
        txs: &[SignedTx],
        mut sigs: Vec<Result<(), TxError>>,
        plan: Vec<Vec<usize>>,
    ) -> Vec<Result<(), TxError>> {
        if plan.len() <= 1 {
            return self.apply_block(txs, sigs);
        }
        sigs.resize(txs.len(), Err(TxError::BadSignature));
        let proposal_lane = plan.iter().position(|lane| {
            lane.iter().any(|&i| matches!(txs[i].tx.body, TxBody::Propose { .. } | TxBody::Vote { .. }))
        });
        let mut proposals = Some(std::mem::take(&mut self.proposals));
        let mut work: Vec<(Vec<usize>, Option<Proposals>)> = Vec::new();
        for (n, lane) in plan.into_iter().enumerate() {
            let p = if Some(n) == proposal_lane { proposals.take() } else { None };
            work.push((lane, p));
        }
        let base: &State = self;
        let sigs = &sigs;
        let lanes: Vec<Lane> =
            work.into_par_iter().map(|(lane, props)| Lane::run(base, txs, sigs, lane, props)).collect();
        let mut results = vec![Ok(()); txs.len()];
        let (supply0, burned0) = (self.supply.0, self.burned.0);
        let (mut burned_total, mut supply_drop) = (0u128, 0u128);
        for lane in lanes {
            for (i, r) in lane.results {
                results[i] = r;
            }
            let s = lane.state;
            supply_drop = supply_drop.saturating_add(supply0.saturating_sub(s.supply.0));
            burned_total = burned_total.saturating_add(s.burned.0.saturating_sub(burned0));
            for k in lane.delegations_read {
                if !s.delegations.contains_key(&k) {
                    self.delegations.remove(&k);
                }
            }
            self.accounts.extend(s.accounts);
            self.workers.extend(s.workers);
            self.delegations.extend(s.delegations);
            self.unbonding.extend(s.unbonding);
            self.claims.extend(s.claims);
            self.attestations.extend(s.attestations);
            self.proven_jobs.extend(s.proven_jobs);
            if lane.owns_proposals {
                self.proposals = s.proposals;
            }
        }
        if let Some(p) = proposals {
            self.proposals = p;
        }
        // Exact under the ledger's invariant (supply = everything held ≥ everything burned here).
        self.supply.0 = supply0.saturating_sub(supply_drop);
        self.burned.0 = burned0.saturating_add(burned_total);
        self.height += 1;
        results
    }
}

/// Lanes worth using on `threads` threads: one (serial, no copying) on one thread, otherwise
/// twice the threads so that uneven groups still balance.
pub fn lanes_for(threads: usize) -> usize {
    if threads > 1 { 2 * threads } else { 1 }
}

/// The proposal table, handed to the one lane that may use it.
type Proposals = BTreeMap<u64, crate::state::Proposal>;

/// One lane's private state after running its transactions.
struct Lane {
    state: State,
    results: Vec<(usize, Result<(), TxError>)>,
    delegations_read: Vec<(Address, Address)>,
    owns_proposals: bool,
}

impl Lane {
    /// Copies every entry the lane's transactions can reach, then runs them in order.
    fn run(
        base: &State,
        txs: &[SignedTx],
        sigs: &[Result<(), TxError>],
        lane: Vec<usize>,
        proposals: Option<Proposals>,
    ) -> Lane {
        let mut s = State {
            chain_id: base.chain_id.clone(),
            height: base.height,
            epoch: base.epoch,
            params: base.params.clone(),
            supply: base.supply,
            minted: base.minted,
            burned: base.burned,
            ..State::default()
        };
        let owns_proposals = proposals.is_some();
        s.proposals = proposals.unwrap_or_default();
        let release = base.epoch.saturating_add(base.params.unbonding_epochs);
        for &i in &lane {
            copy_reachable(base, &mut s, &txs[i].tx, release);
        }
        let delegations_read = s.delegations.keys().copied().collect();
        let results = lane
            .iter()
            .map(|&i| {
                let r = sigs[i].clone().and_then(|()| s.apply_verified(&txs[i]));
                (i, r)
            })
            .collect();
        Lane { state: s, results, delegations_read, owns_proposals }
    }
}

fn copy<K: Ord + Clone, V: Clone>(from: &BTreeMap<K, V>, to: &mut BTreeMap<K, V>, k: K) {
    if !to.contains_key(&k)
        && let Some(v) = from.get(&k)
    {
        to.insert(k, v.clone());
    }
}

/// Copies from `base` into `s` every entry that executing `tx` can read (see
/// [`State::apply_verified`]).
fn copy_reachable(base: &State, s: &mut State, tx: &Tx, release: u64) {
    let me = tx.signer;
    copy(&base.accounts, &mut s.accounts, me);
    match &tx.body {
        TxBody::Transfer { to, .. } => copy(&base.accounts, &mut s.accounts, *to),
        TxBody::RegisterWorker { .. } | TxBody::Stake { .. } => copy(&base.workers, &mut s.workers, me),
        TxBody::Unstake { .. } => {
            copy(&base.workers, &mut s.workers, me);
            copy(&base.unbonding, &mut s.unbonding, (release, me));
        }
        TxBody::Delegate { worker, .. } | TxBody::Undelegate { worker, .. } => {
            copy(&base.workers, &mut s.workers, *worker);
            copy(&base.delegations, &mut s.delegations, (me, *worker));
            copy(&base.unbonding, &mut s.unbonding, (release, me));
        }
        TxBody::WithdrawRewards => {}
        TxBody::WorkClaim { epoch, .. } => {
            copy(&base.workers, &mut s.workers, me);
            copy(&base.claims, &mut s.claims, (*epoch, me));
        }
        TxBody::Attestation { epoch, worker, .. } => {
            copy(&base.workers, &mut s.workers, *worker);
            copy(&base.attestations, &mut s.attestations, (*epoch, *worker, me));
        }
        TxBody::FraudProof { .. } | TxBody::AuditProof { .. } => {
            if let Some((worker, job)) = fraud_target(tx) {
                copy(&base.workers, &mut s.workers, worker);
                if base.proven_jobs.contains(&job) {
                    s.proven_jobs.insert(job);
                }
                for (k, v) in base.delegations.iter().filter(|((_, w), _)| *w == worker) {
                    s.delegations.entry(*k).or_insert(*v);
                }
            }
        }
        TxBody::Propose { .. } | TxBody::Vote { .. } => {
            copy(&base.workers, &mut s.workers, me);
            let mine = (me, Address::MIN)..=(me, Address::MAX);
            for (k, v) in base.delegations.range(mine) {
                s.delegations.entry(*k).or_insert(*v);
            }
        }
    }
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        // The smaller index is the root, so a group's root is its first transaction.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi] = lo;
    }
}
