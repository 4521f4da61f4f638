//! The deterministic state machine: accounts, workers, routers and their escrow, validators,
//! stakes, delegations, unbonding, epochs, work reports, parameters and proposals. Each concern
//! has its module: [`apply`] checks what every transaction shares (chain, nonce, fee) and hands it
//! to the function of its kind ([`accounts`], [`bonding`], [`routers`], [`validators`], [`work`],
//! [`slashing`], [`governance`]); [`clock`] holds the agreed block time that decides epoch ends;
//! [`epoch`] ends an epoch step by step; [`root`] hashes the whole state.

use std::collections::BTreeMap;

use crate::error::TxError;
use crate::tx::ParamKey;
use crate::types::{Address, Amount};

mod accounts;
mod apply;
mod bonding;
mod clock;
mod epoch;
mod governance;
mod params;
mod root;
mod routers;
mod slashing;
mod validators;
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
    /// Accrued, unwithdrawn rewards and work payments.
    pub rewards: Amount,
}

/// A jail term: set by a proven infraction, ended by an `Unjail` transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jail {
    /// Epoch of the slash; the stake cannot unbond before `since + evidence_epochs`.
    pub since: u64,
    /// First epoch in which the key may unjail.
    pub until: u64,
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
    /// Jailed by a proven infraction: earns nothing, gets no traffic.
    pub jail: Option<Jail>,
}

impl Worker {
    /// Own stake plus delegations (saturating).
    pub fn bonded(&self) -> u128 {
        self.self_stake.0.saturating_add(self.delegated.0)
    }

    /// Whether the worker is jailed.
    pub fn jailed(&self) -> bool {
        self.jail.is_some()
    }
}

/// A registered router: it signs tickets, attests work and pays for it from its escrow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Router {
    /// Own bonded stake (slashable).
    pub stake: Amount,
    /// Tokens that pay for attested work.
    pub escrow: Amount,
    /// Jailed by a proven infraction: its tickets, attestations and evidence count for nothing.
    pub jail: Option<Jail>,
}

impl Router {
    /// Whether the router's word counts: bonded stake and not jailed.
    pub fn in_good_standing(&self) -> bool {
        self.stake.0 > 0 && self.jail.is_none()
    }
}

/// A validator: a key that signs consensus votes, with bonded (slashable) stake. It is in the
/// active set ([`State::validator_set()`]) from the epoch end after it qualifies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validator {
    /// Own bonded stake: its voting power in consensus (from the next epoch end) and in
    /// governance.
    pub stake: Amount,
    /// Jailed by a proven equivocation: out of the set from the next epoch end.
    pub jail: Option<Jail>,
}

/// A worker's claim or a router's attestation for one (epoch, worker, router).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    /// Merkle root over the receipts.
    pub root: [u8; 32],
    /// Receipts.
    pub count: u64,
    /// Tokens in plus out.
    pub tokens: u64,
    /// Their worth at their tickets' prices; for an attestation, reserved from the escrow.
    pub amount: u128,
}

/// Stake on its way out: released to `owner`'s balance at the key's epoch, slashable meanwhile
/// for infractions of the worker or router it was bonded to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unbonding {
    /// Amount.
    pub amount: Amount,
    /// Epoch the unbonding started: an infraction in this epoch or later reaches it.
    pub started: u64,
}

/// What unbonding stake was bonded as: a slash of a worker reaches its `Worker` entries, a slash
/// of a router its `Router` entries, a slash of a validator its `Validator` entries; escrow on
/// its way out is not stake and is not slashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bond {
    /// A worker's own stake or a delegation to it.
    Worker,
    /// A router's stake.
    Router,
    /// A router's escrow.
    Escrow,
    /// A validator's stake.
    Validator,
}

impl Bond {
    /// Stable code (in the state root).
    pub fn code(self) -> u32 {
        match self {
            Bond::Worker => 0,
            Bond::Router => 1,
            Bond::Escrow => 2,
            Bond::Validator => 3,
        }
    }
}

/// Key of an unbonding entry: (release epoch, owner, the worker or router it was bonded to, what
/// it was bonded as).
pub type UnbondingKey = (u64, Address, Address, Bond);

/// Where a proposal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalStatus {
    /// Submitted; voting opens at the next epoch, with the voting power snapshotted then.
    Pending,
    /// Voting is open.
    Voting,
    /// Voting ended without quorum or majority.
    Rejected,
    /// Passed; the change applies at the start of this epoch (after the timelock).
    Passed {
        /// Epoch the change takes effect in.
        effective: u64,
    },
    /// The change took effect.
    Applied,
    /// Passed, but by the time it was due its value was no longer within bounds.
    Void,
}

/// A parameter-change proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Who proposed it (one open proposal per proposer at a time).
    pub proposer: Address,
    /// Parameter.
    pub key: ParamKey,
    /// New value.
    pub value: u128,
    /// First epoch of voting (the epoch after submission); its power snapshot is
    /// `State::snapshots[voting_start]`.
    pub voting_start: u64,
    /// Last epoch of voting; tallied when it ends.
    pub voting_end: u64,
    /// Votes: voter → yes.
    pub votes: BTreeMap<Address, bool>,
    /// Where it stands.
    pub status: ProposalStatus,
}

impl Proposal {
    /// Whether the proposal is still to be decided.
    pub fn is_open(&self) -> bool {
        matches!(self.status, ProposalStatus::Pending | ProposalStatus::Voting)
    }
}

/// Every staker's voting power when an epoch started, shared by the proposals that opened then.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PowerSnapshot {
    /// Voting power by staker (only stakers with power).
    pub power: BTreeMap<Address, u128>,
    /// Their total: the quorum's base.
    pub bonded: u128,
}

/// What the last epoch end did (for explorers and the `Epoch` query).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpochSummary {
    /// Workers paid for work.
    pub credited_workers: u64,
    /// Work paid from routers' escrow.
    pub paid: u128,
    /// Part of it burned (the work fee).
    pub burned: u128,
    /// Rewards minted.
    pub minted: u128,
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
    /// Routers.
    pub routers: BTreeMap<Address, Router>,
    /// Validators (registered by their first bond; kept, like routers, so that a slash still
    /// finds one that unbonded everything).
    pub validators: BTreeMap<Address, Validator>,
    /// The active validator set: address → voting power (stake saturated to u64). Recomputed
    /// only at epoch ends (and built at genesis), see [`State::validator_set()`].
    pub validator_set: BTreeMap<Address, u64>,
    /// (delegator, worker) → amount.
    pub delegations: BTreeMap<(Address, Address), Amount>,
    /// Stake and escrow on their way out.
    pub unbonding: BTreeMap<UnbondingKey, Unbonding>,
    /// (epoch, worker, router) → the worker's claim, for the current epoch only: its end pays
    /// and drops them (the blocks keep them), so the state does not grow with the chain's age.
    pub claims: BTreeMap<(u64, Address, Address), Work>,
    /// (epoch, worker, router) → the router's attestation, for the current epoch only.
    pub attestations: BTreeMap<(u64, Address, Address), Work>,
    /// What the last epoch end did.
    pub last_epoch: EpochSummary,
    /// Proposals by id.
    pub proposals: BTreeMap<u64, Proposal>,
    /// Power snapshots by the epoch they were taken at, while an open proposal uses them.
    pub snapshots: BTreeMap<u64, PowerSnapshot>,
    /// Proven infractions (a ticket hash, or a router's job id) → the epoch of the infraction;
    /// dropped once the evidence window has passed, when proofs of them are refused anyway.
    pub proven: BTreeMap<[u8; 32], u64>,
    /// Total supply (balances + rewards + bonded + unbonding + escrow).
    pub supply: Amount,
    /// Minted so far.
    pub minted: Amount,
    /// Burned so far (fees, work fees and slashes).
    pub burned: Amount,
    /// Epoch length in block time, seconds (at least 1 in use; see [`State::epoch_due`]).
    pub epoch_seconds: u64,
    /// Block time at which the current epoch started, ms (set by the first block, then by each
    /// epoch end).
    pub epoch_started_ms: u64,
    /// Time of the last applied block, ms: the next block's must be later.
    pub last_block_ms: u64,
    /// Epoch → its first height, for the epochs whose infractions can still be proven: maps an
    /// equivocation's height to its epoch.
    pub epoch_heights: BTreeMap<u64, u64>,
}

/// The epoch length a state has unless its genesis says otherwise (the genesis file's default).
pub const DEFAULT_EPOCH_SECONDS: u64 = 20;

/// `a + b`, or [`TxError::Overflow`].
pub(crate) fn add(a: Amount, b: Amount) -> Result<Amount, TxError> {
    a.checked_add(b).ok_or(TxError::Overflow)
}

impl State {
    /// A genesis state with balances; the parameters must be within their bounds.
    pub fn genesis(chain_id: &str, params: Params, balances: &[(Address, Amount)]) -> Result<Self, TxError> {
        params.check_genesis()?;
        let mut s = State {
            chain_id: chain_id.to_string(),
            params,
            epoch_seconds: DEFAULT_EPOCH_SECONDS,
            epoch_heights: BTreeMap::from([(0, 1)]),
            ..Default::default()
        };
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

    /// Voting power: own stake as a worker, as a router and as a validator, plus delegations made.
    pub fn voting_power(&self, a: &Address) -> u128 {
        let own = self.workers.get(a).map_or(0, |w| w.self_stake.0);
        let router = self.routers.get(a).map_or(0, |r| r.stake.0);
        let validator = self.validators.get(a).map_or(0, |v| v.stake.0);
        let delegated: u128 =
            self.delegations.range((*a, Address::MIN)..=(*a, Address::MAX)).map(|(_, v)| v.0).sum();
        own.saturating_add(router).saturating_add(validator).saturating_add(delegated)
    }

    /// Whether `a` has stake at risk: a worker's own stake, a router's or a validator's stake, or
    /// a delegation.
    pub fn is_bonded(&self, a: &Address) -> bool {
        self.voting_power(a) > 0
    }

    /// Every staker's voting power, and their total (a proposal's snapshot).
    pub(crate) fn power_snapshot(&self) -> PowerSnapshot {
        let mut power: BTreeMap<Address, u128> = BTreeMap::new();
        let mut add_to = |a: Address, v: u128| {
            if v > 0 {
                let p = power.entry(a).or_default();
                *p = p.saturating_add(v);
            }
        };
        for (a, w) in &self.workers {
            add_to(*a, w.self_stake.0);
        }
        for (a, r) in &self.routers {
            add_to(*a, r.stake.0);
        }
        for (a, v) in &self.validators {
            add_to(*a, v.stake.0);
        }
        for ((d, _), v) in &self.delegations {
            add_to(*d, v.0);
        }
        let bonded = power.values().fold(0u128, |s, v| s.saturating_add(*v));
        PowerSnapshot { power, bonded }
    }

    /// Applies a block's transactions in order (`sigs[i]` is the signature check of `txs[i]`, see
    /// [`crate::verify`]; a failed check refuses the transaction), then closes the block at its
    /// agreed time `time_ms` ([`State::close_block`]). Returns each transaction's result; the new
    /// root is [`State::root`], left to callers that need it, since it hashes the whole state.
    /// Whether the block also ends the epoch is [`State::epoch_due`], asked before it.
    pub fn apply_block(
        &mut self,
        txs: &[crate::tx::SignedTx],
        mut sigs: Vec<Result<(), TxError>>,
        time_ms: u64,
    ) -> Vec<Result<(), TxError>> {
        sigs.resize(txs.len(), Err(TxError::BadSignature));
        let results = txs.iter().zip(sigs).map(|(t, ok)| ok.and_then(|()| self.apply_verified(t))).collect();
        self.close_block(time_ms);
        results
    }
}
