//! The JSON form of the ledger's answers and of transactions: one serializer that the CLI's
//! `--json` output and the explorer's JSON both use, so the two always agree. Amounts are
//! decimal strings (they are u128), addresses and hashes lower-case hex.

use serde::Serialize;
use serde_json::{Value, json};
use wick_proto::v1::{
    AccountResponse, EpochResponse, HeadResponse, ParamsResponse, Proposal, StakeResponse, SupplyResponse,
    WorkerResponse,
};
use wick_staking::wire::{self, param_name};
use wick_staking::{Address, SignedTx, TxBody};

/// A delegation an account made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DelegationJson {
    /// The worker delegated to.
    pub worker: String,
    /// Amount bonded.
    pub amount: String,
}

/// Stake on its way back to a balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnbondingJson {
    /// The epoch that releases it.
    pub release_epoch: u64,
    /// Amount.
    pub amount: String,
}

/// An account: `wick balance --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountJson {
    /// Address.
    pub address: String,
    /// Spendable balance.
    pub balance: String,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
    /// Accrued, not yet withdrawn rewards.
    pub rewards: String,
    /// Delegations it made.
    pub delegations: Vec<DelegationJson>,
    /// Its unbonding entries.
    pub unbonding: Vec<UnbondingJson>,
    /// Its own bonded stake, if it is a worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_stake: Option<String>,
    /// What others delegated to it, if it is a worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegated_to_me: Option<String>,
}

impl AccountJson {
    /// From the ledger's `Account` and `Stake` answers for `address`.
    pub fn new(address: &Address, acc: &AccountResponse, stake: &StakeResponse) -> Self {
        Self {
            address: address.to_string(),
            balance: acc.balance.clone(),
            nonce: acc.nonce,
            rewards: acc.rewards.clone(),
            delegations: stake
                .delegations
                .iter()
                .map(|d| DelegationJson { worker: hex::encode(&d.worker), amount: d.amount.clone() })
                .collect(),
            unbonding: acc
                .unbonding
                .iter()
                .map(|u| UnbondingJson { release_epoch: u.release_epoch, amount: u.amount.clone() })
                .collect(),
            self_stake: stake.is_worker.then(|| stake.self_stake.clone()),
            delegated_to_me: stake.is_worker.then(|| stake.delegated_to.clone()),
        }
    }
}

/// A worker's ledger record: `wick worker show --json`, one item of `wick worker list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerJson {
    /// Address.
    pub address: String,
    /// Whether it is registered.
    pub registered: bool,
    /// Commission on its delegators' rewards, basis points.
    pub commission_bps: u32,
    /// Own bonded stake.
    pub self_stake: String,
    /// Delegated to it.
    pub delegated: String,
    /// Own plus delegated.
    pub bonded: String,
    /// Jailed by a fraud or audit proof.
    pub jailed: bool,
    /// Whether it has claimed work in the current epoch.
    pub claimed_this_epoch: bool,
    /// The current epoch.
    pub epoch: u64,
}

impl From<&WorkerResponse> for WorkerJson {
    fn from(w: &WorkerResponse) -> Self {
        Self {
            address: hex::encode(&w.address),
            registered: w.registered,
            commission_bps: w.commission_bps,
            self_stake: w.self_stake.clone(),
            delegated: w.delegated.clone(),
            bonded: w.bonded.clone(),
            jailed: w.jailed,
            claimed_this_epoch: w.claimed_this_epoch,
            epoch: w.epoch,
        }
    }
}

/// The governance parameters: `wick params --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamsJson {
    /// Chain id.
    pub chain_id: String,
    /// Tokens minted per epoch.
    pub epoch_reward: String,
    /// Epochs an unbonding waits.
    pub unbonding_epochs: u64,
    /// Slash fraction, bps.
    pub slash_bps: u32,
    /// Reporter's part of a slash, bps.
    pub reporter_bps: u32,
    /// Quorum, bps of bonded stake.
    pub quorum_bps: u32,
    /// Yes threshold, bps of votes cast.
    pub threshold_bps: u32,
    /// Epochs a proposal is open.
    pub voting_epochs: u64,
    /// Epoch length.
    pub epoch_seconds: u64,
}

impl From<&ParamsResponse> for ParamsJson {
    fn from(p: &ParamsResponse) -> Self {
        Self {
            chain_id: p.chain_id.clone(),
            epoch_reward: p.epoch_reward.clone(),
            unbonding_epochs: p.unbonding_epochs,
            slash_bps: p.slash_bps,
            reporter_bps: p.reporter_bps,
            quorum_bps: p.quorum_bps,
            threshold_bps: p.threshold_bps,
            voting_epochs: p.voting_epochs,
            epoch_seconds: p.epoch_seconds,
        }
    }
}

/// The epoch clock and the head: `wick epoch --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpochJson {
    /// Current epoch.
    pub epoch: u64,
    /// Seconds until the ledger ends it.
    pub seconds_left: u64,
    /// When the ledger will end it.
    pub ends_unix_ms: u64,
    /// Epoch length.
    pub epoch_seconds: u64,
    /// Height.
    pub height: u64,
    /// State root at the head, hex.
    pub state_root: String,
    /// Rewards minted by the last epoch end.
    pub last_epoch_minted: String,
    /// Workers credited at the last epoch end.
    pub last_epoch_credited_workers: u64,
    /// Total supply.
    pub supply: String,
}

impl EpochJson {
    /// From the ledger's `Epoch` and `Head` answers.
    pub fn new(e: &EpochResponse, head: &HeadResponse) -> Self {
        Self {
            epoch: e.epoch,
            seconds_left: e.seconds_left,
            ends_unix_ms: e.ends_unix_ms,
            epoch_seconds: e.epoch_seconds,
            height: e.height,
            state_root: hex::encode(&head.state_root),
            last_epoch_minted: e.last_epoch_minted.clone(),
            last_epoch_credited_workers: e.last_epoch_credited_workers,
            supply: head.supply.clone(),
        }
    }
}

/// A governance proposal and its tally: `wick proposal list|show --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalJson {
    /// Id.
    pub id: u64,
    /// Parameter.
    pub param: String,
    /// Proposed value.
    pub value: String,
    /// Last epoch that accepts votes.
    pub voting_end: u64,
    /// open | passed | rejected.
    pub status: String,
    /// Voting power of the yes voters.
    pub yes_power: String,
    /// Voting power of the no voters.
    pub no_power: String,
    /// Number of voters.
    pub voters: u32,
}

impl From<&Proposal> for ProposalJson {
    fn from(p: &Proposal) -> Self {
        Self {
            id: p.id,
            param: p.param.clone(),
            value: p.value.clone(),
            voting_end: p.voting_end,
            status: p.status.clone(),
            yes_power: p.yes_power.clone(),
            no_power: p.no_power.clone(),
            voters: p.voters,
        }
    }
}

/// Where the supply is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupplyJson {
    /// Total supply.
    pub total: String,
    /// Account balances.
    pub liquid: String,
    /// Bonded stake (workers' own plus delegations).
    pub bonded: String,
    /// Unbonding.
    pub unbonding: String,
    /// Accrued, unwithdrawn rewards.
    pub rewards: String,
    /// Minted so far.
    pub minted: String,
    /// Burned so far.
    pub burned: String,
    /// Number of accounts.
    pub accounts: u64,
}

impl From<&SupplyResponse> for SupplyJson {
    fn from(s: &SupplyResponse) -> Self {
        Self {
            total: s.total.clone(),
            liquid: s.liquid.clone(),
            bonded: s.bonded.clone(),
            unbonding: s.unbonding.clone(),
            rewards: s.rewards.clone(),
            minted: s.minted.clone(),
            burned: s.burned.clone(),
            accounts: s.accounts,
        }
    }
}

/// A decoded transaction: what `--dry-run` and `--json` print for a transaction the CLI sends,
/// and what the explorer shows for one in a block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxJson {
    /// Kind, snake_case (`transfer`, `work_claim`…).
    pub kind: &'static str,
    /// Chain id.
    pub chain_id: String,
    /// Signer's address.
    pub signer: String,
    /// Nonce.
    pub nonce: u64,
    /// Fee, burned.
    pub fee: String,
    /// The kind's fields.
    pub body: Value,
    /// sha256 of the wire bytes.
    pub hash: String,
    /// The wire bytes (signing bytes, then the signature), hex.
    pub bytes: String,
}

/// A transaction body's kind and fields.
fn body(b: &TxBody) -> (&'static str, Value) {
    match b {
        TxBody::Transfer { to, amount } => {
            ("transfer", json!({"to": to.to_string(), "amount": amount.to_string()}))
        }
        TxBody::RegisterWorker { commission_bps } => {
            ("register_worker", json!({"commission_bps": commission_bps}))
        }
        TxBody::Stake { amount } => ("stake", json!({"amount": amount.to_string()})),
        TxBody::Unstake { amount } => ("unstake", json!({"amount": amount.to_string()})),
        TxBody::Delegate { worker, amount } => {
            ("delegate", json!({"worker": worker.to_string(), "amount": amount.to_string()}))
        }
        TxBody::Undelegate { worker, amount } => {
            ("undelegate", json!({"worker": worker.to_string(), "amount": amount.to_string()}))
        }
        TxBody::WithdrawRewards => ("withdraw_rewards", json!({})),
        TxBody::WorkClaim { epoch, receipts_root, count, tokens } => (
            "work_claim",
            json!({"epoch": epoch, "receipts_root": hex::encode(receipts_root), "count": count, "tokens": tokens}),
        ),
        TxBody::Attestation { epoch, worker, receipts_root, count, tokens } => (
            "attestation",
            json!({"epoch": epoch, "worker": worker.to_string(), "receipts_root": hex::encode(receipts_root),
                   "count": count, "tokens": tokens}),
        ),
        TxBody::FraudProof { a, .. } => {
            let worker = a.receipt.as_ref().map(|r| hex::encode(&r.worker_public_key)).unwrap_or_default();
            let job = a.receipt.as_ref().map(|r| hex::encode(&r.job_hash)).unwrap_or_default();
            ("fraud_proof", json!({"worker": worker, "job_hash": job}))
        }
        TxBody::AuditProof { accused, receipts, ticket } => (
            "audit_proof",
            json!({"accused": accused.to_string(), "receipts": receipts.len(),
                   "router": hex::encode(&ticket.router_public_key), "job_id": hex::encode(&ticket.job_id)}),
        ),
        TxBody::Propose { key, value } => {
            ("propose", json!({"param": param_name(*key), "value": value.to_string()}))
        }
        TxBody::Vote { proposal, yes } => ("vote", json!({"proposal": proposal, "yes": yes})),
    }
}

impl From<&SignedTx> for TxJson {
    fn from(tx: &SignedTx) -> Self {
        let t = &tx.tx;
        let (kind, body) = body(&t.body);
        let bytes = wire::encode(tx);
        Self {
            kind,
            chain_id: t.chain_id.clone(),
            signer: t.signer.to_string(),
            nonce: t.nonce,
            fee: t.fee.to_string(),
            body,
            hash: hex::encode(wire::tx_hash(&bytes)),
            bytes: hex::encode(&bytes),
        }
    }
}
