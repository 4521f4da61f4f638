//! The deterministic state machine: accounts, stakes, delegations, unbonding, epochs, claims,
//! parameters and proposals.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use wick_proto::signing::CanonicalWriter;

use crate::error::TxError;
use crate::tx::{ParamKey, SignedTx, TxBody, verify_all};
use crate::types::{Address, Amount, mul_div};

const BPS: u128 = 10_000;

/// Governance parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Tokens minted per epoch (R).
    pub epoch_reward: u128,
    /// Epochs an unbonding waits before release.
    pub unbonding_epochs: u64,
    /// Slash fraction, bps.
    pub slash_bps: u128,
    /// Reporter's part of a slash, bps.
    pub reporter_bps: u128,
    /// Quorum, bps of bonded stake.
    pub quorum_bps: u128,
    /// Yes threshold, bps of votes cast.
    pub threshold_bps: u128,
    /// Epochs a proposal is open.
    pub voting_epochs: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            epoch_reward: 1_000_000,
            unbonding_epochs: 2,
            slash_bps: 1_000,
            reporter_bps: 5_000,
            quorum_bps: 3_340,
            threshold_bps: 5_000,
            voting_epochs: 1,
        }
    }
}

impl Params {
    fn set(&mut self, key: ParamKey, v: u128) {
        match key {
            ParamKey::EpochReward => self.epoch_reward = v,
            ParamKey::UnbondingEpochs => self.unbonding_epochs = v as u64,
            ParamKey::SlashBps => self.slash_bps = v,
            ParamKey::ReporterBps => self.reporter_bps = v,
            ParamKey::QuorumBps => self.quorum_bps = v,
            ParamKey::ThresholdBps => self.threshold_bps = v,
            ParamKey::VotingEpochs => self.voting_epochs = v as u64,
        }
    }

    fn check(key: ParamKey, v: u128) -> Result<(), TxError> {
        let ok = match key {
            ParamKey::EpochReward => true,
            ParamKey::UnbondingEpochs | ParamKey::VotingEpochs => (1..=1_000).contains(&v),
            _ => v <= BPS,
        };
        if ok { Ok(()) } else { Err(TxError::BadParam(format!("{key:?} = {v}"))) }
    }
}

/// An account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Spendable balance.
    pub balance: Amount,
    /// Next nonce.
    pub nonce: u64,
    /// Accrued, unwithdrawn rewards.
    pub rewards: Amount,
}

/// A registered worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Worker {
    /// Commission, bps.
    pub commission_bps: u32,
    /// Own bonded stake.
    pub self_stake: Amount,
    /// Sum of delegations.
    pub delegated: Amount,
    /// Jailed by a fraud proof: earns nothing.
    pub jailed: bool,
}

/// A worker's claim or a router's attestation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    /// Merkle root.
    pub root: [u8; 32],
    /// Receipts.
    pub count: u64,
    /// Tokens.
    pub tokens: u64,
}

/// A parameter-change proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Parameter.
    pub key: ParamKey,
    /// New value.
    pub value: u128,
    /// Last epoch in which votes are accepted; tallied when it ends.
    pub voting_end: u64,
    /// Votes: voter → yes.
    pub votes: BTreeMap<Address, bool>,
    /// Outcome once tallied.
    pub passed: Option<bool>,
}

/// The whole ledger state. All maps are ordered, so iteration (and the root) is deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Chain id.
    pub chain_id: String,
    /// Height of the last applied block.
    pub height: u64,
    /// Current epoch.
    pub epoch: u64,
    /// Parameters.
    pub params: Params,
    /// Accounts.
    pub accounts: BTreeMap<Address, Account>,
    /// Workers.
    pub workers: BTreeMap<Address, Worker>,
    /// (delegator, worker) → amount.
    pub delegations: BTreeMap<(Address, Address), Amount>,
    /// (release epoch, owner) → amount.
    pub unbonding: BTreeMap<(u64, Address), Amount>,
    /// (epoch, worker) → claim, for the current epoch only: its end credits them and drops them
    /// (the blocks keep them), so the state does not grow with the chain's age.
    pub claims: BTreeMap<(u64, Address), Work>,
    /// (epoch, worker, router) → attestation, for the current epoch only, like `claims`.
    pub attestations: BTreeMap<(u64, Address, Address), Work>,
    /// Workers credited with work at the last epoch end.
    pub last_epoch_credited: u64,
    /// Proposals by id.
    pub proposals: BTreeMap<u64, Proposal>,
    /// Job hashes already used in fraud proofs.
    pub proven_jobs: BTreeSet<Vec<u8>>,
    /// Total supply (balances + rewards + bonded + unbonding).
    pub supply: Amount,
    /// Minted so far.
    pub minted: Amount,
    /// Burned so far (fees and slashes).
    pub burned: Amount,
}

fn add(a: Amount, b: Amount) -> Result<Amount, TxError> {
    a.checked_add(b).ok_or(TxError::Overflow)
}

impl State {
    /// A genesis state with balances.
    pub fn genesis(chain_id: &str, params: Params, balances: &[(Address, Amount)]) -> Result<Self, TxError> {
        let mut s = State { chain_id: chain_id.to_string(), params, ..Default::default() };
        for (a, v) in balances {
            let acc = s.accounts.entry(*a).or_default();
            acc.balance = add(acc.balance, *v)?;
            s.supply = add(s.supply, *v)?;
        }
        Ok(s)
    }

    /// The account of `a` (empty if unknown).
    pub fn account(&self, a: &Address) -> Account {
        self.accounts.get(a).cloned().unwrap_or_default()
    }

    /// Voting power: own stake plus delegations made.
    pub fn voting_power(&self, a: &Address) -> u128 {
        let own = self.workers.get(a).map_or(0, |w| w.self_stake.0);
        let del: u128 =
            self.delegations.range((*a, Address([0; 32]))..=(*a, Address([255; 32]))).map(|(_, v)| v.0).sum();
        own.saturating_add(del)
    }

    fn total_bonded(&self) -> u128 {
        self.workers
            .values()
            .map(|w| w.self_stake.0.saturating_add(w.delegated.0))
            .fold(0, u128::saturating_add)
    }

    /// Checks and applies one transaction whose signature has already been verified.
    /// On error the state is unchanged.
    pub fn apply_verified(&mut self, stx: &SignedTx) -> Result<(), TxError> {
        let tx = &stx.tx;
        if tx.chain_id != self.chain_id {
            return Err(TxError::WrongChain { expected: self.chain_id.clone(), got: tx.chain_id.clone() });
        }
        let me = tx.signer;
        let acc = self.account(&me);
        if tx.nonce != acc.nonce {
            return Err(TxError::BadNonce { expected: acc.nonce, got: tx.nonce });
        }
        let need_fee = |extra: Amount| -> Result<Amount, TxError> {
            let needed = add(tx.fee, extra)?;
            acc.balance
                .checked_sub(needed)
                .ok_or(TxError::InsufficientBalance { balance: acc.balance, needed })
        };
        let positive = |a: Amount| if a.0 == 0 { Err(TxError::ZeroAmount) } else { Ok(()) };
        // Validate fully, then mutate: every branch below computes before it writes.
        let mut after = need_fee(Amount::ZERO)?;
        match &tx.body {
            TxBody::Transfer { to, amount } => {
                positive(*amount)?;
                after = need_fee(*amount)?;
                if *to != me {
                    // One lookup for an existing recipient; a new one is only inserted once valid.
                    match self.accounts.get_mut(to) {
                        Some(acc) => acc.balance = add(acc.balance, *amount)?,
                        None => {
                            self.accounts.insert(*to, Account { balance: *amount, ..Default::default() });
                        }
                    }
                } else {
                    after = add(after, *amount)?;
                }
            }
            TxBody::RegisterWorker { commission_bps } => {
                if u128::from(*commission_bps) > BPS {
                    return Err(TxError::BadCommission(*commission_bps));
                }
                if self.workers.contains_key(&me) {
                    return Err(TxError::AlreadyWorker);
                }
                self.workers.insert(me, Worker { commission_bps: *commission_bps, ..Default::default() });
            }
            TxBody::Stake { amount } => {
                positive(*amount)?;
                after = need_fee(*amount)?;
                let w = self.workers.get(&me).ok_or(TxError::NotWorker)?;
                let s = add(w.self_stake, *amount)?;
                add(s, w.delegated)?;
                self.workers.get_mut(&me).ok_or(TxError::NotWorker)?.self_stake = s;
            }
            TxBody::Unstake { amount } => {
                positive(*amount)?;
                let w = self.workers.get(&me).ok_or(TxError::NotWorker)?;
                let s = w
                    .self_stake
                    .checked_sub(*amount)
                    .ok_or(TxError::InsufficientStake { bonded: w.self_stake, requested: *amount })?;
                let release = self.epoch.saturating_add(self.params.unbonding_epochs);
                let u = add(self.unbonding.get(&(release, me)).copied().unwrap_or_default(), *amount)?;
                self.workers.get_mut(&me).ok_or(TxError::NotWorker)?.self_stake = s;
                self.unbonding.insert((release, me), u);
            }
            TxBody::Delegate { worker, amount } => {
                positive(*amount)?;
                after = need_fee(*amount)?;
                let w = self.workers.get(worker).ok_or(TxError::NotWorker)?;
                if w.jailed {
                    return Err(TxError::Jailed);
                }
                let total = add(w.delegated, *amount)?;
                add(total, w.self_stake)?;
                let d = add(self.delegations.get(&(me, *worker)).copied().unwrap_or_default(), *amount)?;
                self.workers.get_mut(worker).ok_or(TxError::NotWorker)?.delegated = total;
                self.delegations.insert((me, *worker), d);
            }
            TxBody::Undelegate { worker, amount } => {
                positive(*amount)?;
                let bonded = self.delegations.get(&(me, *worker)).copied().unwrap_or_default();
                let left = bonded
                    .checked_sub(*amount)
                    .ok_or(TxError::InsufficientStake { bonded, requested: *amount })?;
                let w = self.workers.get(worker).ok_or(TxError::NotWorker)?;
                let total = w.delegated.checked_sub(*amount).ok_or(TxError::Overflow)?;
                let release = self.epoch.saturating_add(self.params.unbonding_epochs);
                let u = add(self.unbonding.get(&(release, me)).copied().unwrap_or_default(), *amount)?;
                self.workers.get_mut(worker).ok_or(TxError::NotWorker)?.delegated = total;
                if left.0 == 0 {
                    self.delegations.remove(&(me, *worker));
                } else {
                    self.delegations.insert((me, *worker), left);
                }
                self.unbonding.insert((release, me), u);
            }
            TxBody::WithdrawRewards => {
                if acc.rewards.0 == 0 {
                    return Err(TxError::NoRewards);
                }
                after = add(after, acc.rewards)?;
                self.accounts.entry(me).or_default().rewards = Amount::ZERO;
            }
            TxBody::WorkClaim { epoch, receipts_root, count, tokens } => {
                self.current_epoch(*epoch)?;
                let w = self.workers.get(&me).ok_or(TxError::NotWorker)?;
                if w.jailed {
                    return Err(TxError::Jailed);
                }
                match self.claims.entry((*epoch, me)) {
                    Entry::Occupied(_) => return Err(TxError::Duplicate),
                    Entry::Vacant(v) => {
                        v.insert(Work { root: *receipts_root, count: *count, tokens: *tokens })
                    }
                };
            }
            TxBody::Attestation { epoch, worker, receipts_root, count, tokens } => {
                self.current_epoch(*epoch)?;
                if !self.workers.contains_key(worker) {
                    return Err(TxError::NotWorker);
                }
                match self.attestations.entry((*epoch, *worker, me)) {
                    Entry::Occupied(_) => return Err(TxError::Duplicate),
                    Entry::Vacant(v) => {
                        v.insert(Work { root: *receipts_root, count: *count, tokens: *tokens })
                    }
                };
            }
            TxBody::FraudProof { a, b } => {
                let (worker, job) = check_fraud(a, b)?;
                if self.proven_jobs.contains(&job) {
                    return Err(TxError::Duplicate);
                }
                if !self.workers.contains_key(&worker) {
                    return Err(TxError::NotWorker);
                }
                let reward = self.slash(&worker)?;
                after = add(after, reward)?;
                self.proven_jobs.insert(job);
            }
            TxBody::AuditProof { ticket, receipts, accused } => {
                let job = crate::audit_proof::check(ticket, receipts, accused)?;
                if self.proven_jobs.contains(&job) {
                    return Err(TxError::Duplicate);
                }
                if !self.workers.contains_key(accused) {
                    return Err(TxError::NotWorker);
                }
                let reward = self.slash(accused)?;
                after = add(after, reward)?;
                self.proven_jobs.insert(job);
            }
            TxBody::Propose { key, value } => {
                Params::check(*key, *value)?;
                if self.voting_power(&me) == 0 {
                    return Err(TxError::NoVotingPower);
                }
                let id = self.proposals.keys().next_back().map_or(0, |k| k + 1);
                let voting_end = self.epoch.saturating_add(self.params.voting_epochs).saturating_sub(1);
                let p =
                    Proposal { key: *key, value: *value, voting_end, votes: BTreeMap::new(), passed: None };
                self.proposals.insert(id, p);
            }
            TxBody::Vote { proposal, yes } => {
                let p = self.proposals.get(proposal).ok_or(TxError::NoProposal(*proposal))?;
                if p.passed.is_some() || self.epoch > p.voting_end {
                    return Err(TxError::VotingClosed { proposal: *proposal, ended: p.voting_end });
                }
                if p.votes.contains_key(&me) {
                    return Err(TxError::AlreadyVoted(*proposal));
                }
                if self.voting_power(&me) == 0 {
                    return Err(TxError::NoVotingPower);
                }
                self.proposals
                    .get_mut(proposal)
                    .ok_or(TxError::NoProposal(*proposal))?
                    .votes
                    .insert(me, *yes);
            }
        }
        let a = self.accounts.entry(me).or_default();
        a.balance = after;
        a.nonce += 1;
        self.supply = self.supply.checked_sub(tx.fee).ok_or(TxError::Overflow)?;
        self.burned = add(self.burned, tx.fee)?;
        Ok(())
    }

    fn current_epoch(&self, got: u64) -> Result<(), TxError> {
        if got == self.epoch { Ok(()) } else { Err(TxError::WrongEpoch { current: self.epoch, got }) }
    }

    /// Slashes `worker` and its delegators by `slash_bps`; returns the reporter's part. The rest is
    /// burned. Jails the worker.
    fn slash(&mut self, worker: &Address) -> Result<Amount, TxError> {
        let bps = self.params.slash_bps;
        let w = self.workers.get(worker).ok_or(TxError::NotWorker)?.clone();
        let mut total = mul_div(w.self_stake.0, bps, BPS).ok_or(TxError::Overflow)?;
        let own_cut = total;
        let mut cuts = Vec::new();
        for ((d, wk), v) in &self.delegations {
            if wk == worker {
                let cut = mul_div(v.0, bps, BPS).ok_or(TxError::Overflow)?;
                total += cut;
                cuts.push(((*d, *wk), Amount(v.0 - cut), cut));
            }
        }
        let del_cut: u128 = cuts.iter().map(|c| c.2).sum();
        for (k, left, _) in cuts {
            self.delegations.insert(k, left);
        }
        let wm = self.workers.get_mut(worker).ok_or(TxError::NotWorker)?;
        wm.self_stake = Amount(w.self_stake.0 - own_cut);
        wm.delegated = Amount(w.delegated.0 - del_cut);
        wm.jailed = true;
        let reporter = mul_div(total, self.params.reporter_bps, BPS).ok_or(TxError::Overflow)?;
        let burn = total - reporter;
        self.supply = Amount(self.supply.0 - burn);
        self.burned = add(self.burned, Amount(burn))?;
        Ok(Amount(reporter))
    }

    /// Verifies signatures (batched) and applies a block's transactions in order, then advances
    /// the height. Returns each transaction's result; the new root is [`State::root`], left to
    /// callers that need it, since it hashes the whole state.
    pub fn apply_block(&mut self, txs: &[SignedTx]) -> Vec<Result<(), TxError>> {
        let sigs = verify_all(txs);
        let results = txs.iter().zip(sigs).map(|(t, ok)| ok.and_then(|()| self.apply_verified(t))).collect();
        self.height += 1;
        results
    }

    /// Ends the current epoch (see the crate docs for the formula) and starts the next one.
    pub fn end_epoch(&mut self) {
        let e = self.epoch;
        // 1. Credited work per worker: claim tokens, capped by the largest attestation with the same root.
        let mut credit: BTreeMap<Address, u128> = BTreeMap::new();
        for ((ep, worker), claim) in self.claims.range((e, Address([0; 32]))..=(e, Address([255; 32]))) {
            let _ = ep;
            let attested = self
                .attestations
                .range((e, *worker, Address([0; 32]))..=(e, *worker, Address([255; 32])))
                .filter(|(_, a)| a.root == claim.root)
                .map(|(_, a)| a.tokens)
                .max()
                .unwrap_or(0);
            let c = u128::from(claim.tokens.min(attested));
            let w = &self.workers[worker];
            if c > 0 && !w.jailed {
                credit.insert(*worker, c);
            }
        }
        self.last_epoch_credited = credit.len() as u64;
        // Claims and attestations are only ever for the current epoch, and it is ending.
        let lo = Address([0; 32]);
        self.claims = self.claims.split_off(&(e + 1, lo));
        self.attestations = self.attestations.split_off(&(e + 1, lo, lo));
        // 2. Weights: credited work × bonded stake (saturating).
        let weights: Vec<(Address, u128)> = credit
            .iter()
            .map(|(a, c)| {
                let w = &self.workers[a];
                (*a, c.saturating_mul(w.self_stake.0.saturating_add(w.delegated.0)))
            })
            .filter(|(_, w)| *w > 0)
            .collect();
        let total_weight = weights.iter().fold(0u128, |s, (_, w)| s.saturating_add(*w));
        let reward = self.params.epoch_reward;
        // Each credited worker's delegators, in delegator order (one pass over all delegations).
        let mut delegators: BTreeMap<Address, Vec<(Address, u128)>> = BTreeMap::new();
        for ((d, wk), v) in &self.delegations {
            if credit.contains_key(wk) {
                delegators.entry(*wk).or_default().push((*d, v.0));
            }
        }
        let mut pay: Vec<(Address, u128)> = Vec::new();
        for (addr, weight) in &weights {
            let share = mul_div(reward, *weight, total_weight).unwrap_or(0);
            let w = &self.workers[addr];
            let bonded = w.self_stake.0 + w.delegated.0;
            let commission = mul_div(share, u128::from(w.commission_bps), BPS).unwrap_or(0);
            let rest = share - commission;
            let mut paid = 0u128;
            for (d, v) in delegators.get(addr).into_iter().flatten() {
                let p = mul_div(rest, *v, bonded).unwrap_or(0);
                paid += p;
                pay.push((*d, p));
            }
            pay.push((*addr, share - paid));
        }
        for (a, p) in pay {
            let acc = self.accounts.entry(a).or_default();
            acc.rewards = Amount(acc.rewards.0.saturating_add(p));
            self.supply = Amount(self.supply.0.saturating_add(p));
            self.minted = Amount(self.minted.0.saturating_add(p));
        }
        // 3. Tally proposals whose voting ends with this epoch; apply passed changes for the next.
        let bonded = self.total_bonded();
        let ending: Vec<u64> = self
            .proposals
            .iter()
            .filter(|(_, p)| p.voting_end == e && p.passed.is_none())
            .map(|(k, _)| *k)
            .collect();
        for id in ending {
            let (mut yes, mut no) = (0u128, 0u128);
            for (voter, v) in &self.proposals[&id].votes {
                let p = self.voting_power(voter);
                if *v { yes = yes.saturating_add(p) } else { no = no.saturating_add(p) }
            }
            let cast = yes.saturating_add(no);
            let quorum = mul_div(bonded, self.params.quorum_bps, BPS).unwrap_or(u128::MAX);
            let threshold = mul_div(cast, self.params.threshold_bps, BPS).unwrap_or(u128::MAX);
            let passed = cast > 0 && cast >= quorum && yes > threshold;
            if let Some(p) = self.proposals.get_mut(&id) {
                p.passed = Some(passed);
            }
        }
        let passed: Vec<(ParamKey, u128)> = self
            .proposals
            .values()
            .filter(|p| p.voting_end == e && p.passed == Some(true))
            .map(|p| (p.key, p.value))
            .collect();
        for (k, v) in passed {
            self.params.set(k, v);
        }
        // 4. Next epoch; release matured unbonding.
        self.epoch += 1;
        let matured: Vec<(u64, Address)> =
            self.unbonding.range(..=(self.epoch, Address([255; 32]))).map(|(k, _)| *k).collect();
        for k in matured {
            if let Some(v) = self.unbonding.remove(&k) {
                let acc = self.accounts.entry(k.1).or_default();
                acc.balance = Amount(acc.balance.0.saturating_add(v.0));
            }
        }
    }

    /// sha256 over the canonical encoding of the whole state.
    pub fn root(&self) -> [u8; 32] {
        // Streamed into the hash in 64 KiB pieces: the same digest as hashing the whole
        // encoding, without building megabytes each block.
        let mut hasher = Sha256::new();
        let mut w = CanonicalWriter::new("wick.v1.LedgerState");
        let mut flush = |w: &mut CanonicalWriter| {
            if w.len() >= 1 << 16 {
                w.hash_into(&mut hasher);
            }
        };
        w.str(&self.chain_id).u64(self.height).u64(self.epoch).u64(self.last_epoch_credited);
        let p = &self.params;
        w.u128(p.epoch_reward).u64(p.unbonding_epochs).u128(p.slash_bps).u128(p.reporter_bps);
        w.u128(p.quorum_bps).u128(p.threshold_bps).u64(p.voting_epochs);
        w.u64(self.accounts.len() as u64);
        for (a, acc) in &self.accounts {
            w.bytes(&a.0).u128(acc.balance.0).u64(acc.nonce).u128(acc.rewards.0);
            flush(&mut w);
        }
        w.u64(self.workers.len() as u64);
        for (a, wk) in &self.workers {
            w.bytes(&a.0)
                .u32(wk.commission_bps)
                .u128(wk.self_stake.0)
                .u128(wk.delegated.0)
                .u32(wk.jailed.into());
            flush(&mut w);
        }
        w.u64(self.delegations.len() as u64);
        for ((d, wk), v) in &self.delegations {
            w.bytes(&d.0).bytes(&wk.0).u128(v.0);
            flush(&mut w);
        }
        w.u64(self.unbonding.len() as u64);
        for ((e, a), v) in &self.unbonding {
            w.u64(*e).bytes(&a.0).u128(v.0);
            flush(&mut w);
        }
        w.u64(self.claims.len() as u64);
        for ((e, a), c) in &self.claims {
            w.u64(*e).bytes(&a.0).bytes(&c.root).u64(c.count).u64(c.tokens);
            flush(&mut w);
        }
        w.u64(self.attestations.len() as u64);
        for ((e, a, r), c) in &self.attestations {
            w.u64(*e).bytes(&a.0).bytes(&r.0).bytes(&c.root).u64(c.count).u64(c.tokens);
            flush(&mut w);
        }
        w.u64(self.proposals.len() as u64);
        for (id, p) in &self.proposals {
            w.u64(*id).u32(p.key.code()).u128(p.value).u64(p.voting_end);
            w.u32(p.passed.map_or(0, |b| 1 + u32::from(b)));
            w.u64(p.votes.len() as u64);
            for (v, y) in &p.votes {
                w.bytes(&v.0).u32((*y).into());
            }
            flush(&mut w);
        }
        w.u64(self.proven_jobs.len() as u64);
        for j in &self.proven_jobs {
            w.bytes(j);
            flush(&mut w);
        }
        w.u128(self.supply.0).u128(self.minted.0).u128(self.burned.0);
        w.hash_into(&mut hasher);
        hasher.finalize().into()
    }
}

/// Checks a fraud proof: two receipts for the same job, both validly signed by the same worker,
/// with different outputs. Returns the worker and the job hash.
fn check_fraud(
    a: &wick_proto::v1::SignedReceipt,
    b: &wick_proto::v1::SignedReceipt,
) -> Result<(Address, Vec<u8>), TxError> {
    let bad = |m: &str| TxError::BadFraudProof(m.to_string());
    let ra = a.receipt.as_ref().ok_or_else(|| bad("first receipt missing"))?;
    let rb = b.receipt.as_ref().ok_or_else(|| bad("second receipt missing"))?;
    for (s, r) in [(a, ra), (b, rb)] {
        let vk = ed25519_consensus::VerificationKey::try_from(r.worker_public_key.as_slice())
            .map_err(|_| bad("bad worker key"))?;
        let sig: [u8; 64] =
            s.worker_signature.as_slice().try_into().map_err(|_| bad("bad signature length"))?;
        vk.verify(&ed25519_consensus::Signature::from(sig), &wick_proto::signing::receipt_bytes(r))
            .map_err(|_| bad("receipt signature does not verify"))?;
    }
    if ra.worker_public_key != rb.worker_public_key {
        return Err(bad("receipts are from different workers"));
    }
    if ra.job_hash != rb.job_hash {
        return Err(bad("receipts are for different jobs"));
    }
    if ra.output_hash == rb.output_hash && ra.tokens_out == rb.tokens_out {
        return Err(bad("receipts do not conflict"));
    }
    let key: [u8; 32] = ra.worker_public_key.as_slice().try_into().map_err(|_| bad("bad worker key"))?;
    Ok((Address(key), ra.job_hash.clone()))
}
