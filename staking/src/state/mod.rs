//! The deterministic state machine: accounts, stakes, delegations, unbonding, epochs, claims,
//! parameters and proposals. Each concern has its module: [`apply`] checks a transaction and
//! hands it to the function of its kind ([`accounts`], [`bonding`], [`work`], [`slashing`],
//! [`governance`]); [`epoch`] ends an epoch step by step; [`root`] hashes the whole state.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::TxError;
use crate::tx::ParamKey;
use crate::types::{Address, Amount};

mod accounts;
mod apply;
mod bonding;
mod epoch;
mod governance;
mod params;
mod root;
mod slashing;
mod work;

pub(crate) use params::BPS;
pub use params::Params;

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

/// `a + b`, or [`TxError::Overflow`].
pub(crate) fn add(a: Amount, b: Amount) -> Result<Amount, TxError> {
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
            self.delegations.range((*a, Address::MIN)..=(*a, Address::MAX)).map(|(_, v)| v.0).sum();
        own.saturating_add(del)
    }

    /// Own stake plus delegations of every worker (saturating).
    pub(crate) fn total_bonded(&self) -> u128 {
        self.workers
            .values()
            .map(|w| w.self_stake.0.saturating_add(w.delegated.0))
            .fold(0, u128::saturating_add)
    }
}

impl State {
    /// Applies a block's transactions in order (`sigs[i]` is the signature check of `txs[i]`, see
    /// [`crate::verify`]; a failed check rejects the transaction) and advances the height.
    /// Returns each transaction's result; the new root is [`State::root`], left to callers that
    /// need it, since it hashes the whole state.
    pub fn apply_block(
        &mut self,
        txs: &[crate::tx::SignedTx],
        mut sigs: Vec<Result<(), TxError>>,
    ) -> Vec<Result<(), TxError>> {
        sigs.resize(txs.len(), Err(TxError::BadSignature));
        let results = txs.iter().zip(sigs).map(|(t, ok)| ok.and_then(|()| self.apply_verified(t))).collect();
        self.height += 1;
        results
    }
}
