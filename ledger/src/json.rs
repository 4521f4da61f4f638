//! The JSON form of the ledger's answers and of transactions: one serializer that the CLI's
//! `--json` output and the explorer's JSON both use, so the two always agree. Amounts are
//! decimal strings (they are u128), addresses and hashes lower-case hex.

use serde::Serialize;
use serde_json::{Value, json};
use wick_proto::v1::{
    AccountResponse, EpochResponse, HeadResponse, ParamsResponse, Proposal, RouterResponse, StakeResponse,
    SupplyResponse, WorkerResponse,
};
use wick_staking::wire;
use wick_staking::{Address, SignedTx, TxBody, WorkReport};

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
    /// What it was bonded as: worker | router | escrow.
    pub kind: String,
    /// The worker or router it was bonded to (slashable until released).
    pub bonded_to: String,
    /// The epoch its unbonding started.
    pub started_epoch: u64,
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
                .map(|u| UnbondingJson {
                    release_epoch: u.release_epoch,
                    amount: u.amount.clone(),
                    kind: u.kind.clone(),
                    bonded_to: hex::encode(&u.bonded_to),
                    started_epoch: u.started_epoch,
                })
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
    /// First epoch it may unjail (0 when not jailed).
    pub jailed_until: u64,
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
            jailed_until: w.jailed_until,
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
    /// Epochs a passed change waits before it applies.
    pub timelock_epochs: u64,
    /// How many epochs old an infraction can still be proven.
    pub evidence_epochs: u64,
    /// Epochs a slashed key stays jailed.
    pub jail_epochs: u64,
    /// Fee every transaction pays at least.
    pub min_fee: String,
    /// Fee per byte of a transaction's wire size, on top.
    pub fee_per_byte: String,
    /// Part of every work payment burned, bps.
    pub work_fee_bps: u32,
    /// Epoch length.
    pub epoch_seconds: u64,
    /// Every parameter's bounds now (what governance may set).
    pub bounds: Vec<BoundJson>,
}

/// A parameter's value and the range governance may set it to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoundJson {
    /// Parameter.
    pub param: String,
    /// Its value now.
    pub value: String,
    /// Smallest allowed value.
    pub min: String,
    /// Largest allowed value.
    pub max: String,
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
            timelock_epochs: p.timelock_epochs,
            evidence_epochs: p.evidence_epochs,
            jail_epochs: p.jail_epochs,
            min_fee: p.min_fee.clone(),
            fee_per_byte: p.fee_per_byte.clone(),
            work_fee_bps: p.work_fee_bps,
            epoch_seconds: p.epoch_seconds,
            bounds: p
                .bounds
                .iter()
                .map(|b| BoundJson {
                    param: b.param.clone(),
                    value: b.value.clone(),
                    min: b.min.clone(),
                    max: b.max.clone(),
                })
                .collect(),
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
    /// Work paid from routers' escrow at the last epoch end.
    pub last_epoch_paid: String,
    /// Work fees burned then.
    pub last_epoch_burned: String,
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
            last_epoch_paid: e.last_epoch_paid.clone(),
            last_epoch_burned: e.last_epoch_burned.clone(),
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
    /// First epoch that accepts votes (voting power snapshotted then).
    pub voting_start: u64,
    /// Last epoch that accepts votes.
    pub voting_end: u64,
    /// When a passed change applies (0 otherwise).
    pub effective_epoch: u64,
    /// pending | voting | passed | applied | rejected | void.
    pub status: String,
    /// Who proposed it.
    pub proposer: String,
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
            voting_start: p.voting_start,
            voting_end: p.voting_end,
            effective_epoch: p.effective_epoch,
            status: p.status.clone(),
            proposer: hex::encode(&p.proposer),
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
    /// Routers' stake and escrow.
    pub routers: String,
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
            routers: s.routers.clone(),
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

fn work(w: &WorkReport) -> Value {
    json!({
        "epoch": w.epoch,
        "receipts_root": hex::encode(w.receipts_root),
        "count": w.count,
        "tokens": w.tokens,
        "amount": w.amount.to_string(),
    })
}

/// A transaction body's fields.
fn body(b: &TxBody) -> Value {
    match b {
        TxBody::Transfer { to, amount } => json!({"to": to.to_string(), "amount": amount.to_string()}),
        TxBody::RegisterWorker { commission_bps } => json!({"commission_bps": commission_bps}),
        TxBody::Stake { amount }
        | TxBody::Unstake { amount }
        | TxBody::BondRouter { amount }
        | TxBody::UnbondRouter { amount }
        | TxBody::FundEscrow { amount }
        | TxBody::WithdrawEscrow { amount }
        | TxBody::BondValidator { amount }
        | TxBody::UnbondValidator { amount } => json!({"amount": amount.to_string()}),
        TxBody::Delegate { worker, amount } | TxBody::Undelegate { worker, amount } => {
            json!({"worker": worker.to_string(), "amount": amount.to_string()})
        }
        TxBody::WithdrawRewards | TxBody::RegisterRouter | TxBody::Unjail => json!({}),
        TxBody::WorkClaim { router, work: w } => json!({"router": router.to_string(), "work": work(w)}),
        TxBody::Attestation { worker, work: w } => json!({"worker": worker.to_string(), "work": work(w)}),
        TxBody::FraudProof { ticket, a, .. } => {
            let worker = a.receipt.as_ref().map(|r| hex::encode(&r.worker_public_key)).unwrap_or_default();
            json!({"worker": worker, "router": hex::encode(&ticket.router_public_key),
                   "job_id": hex::encode(&ticket.job_id)})
        }
        TxBody::AuditProof { accused, receipts, ticket } => {
            json!({"accused": accused.to_string(), "receipts": receipts.len(),
                   "router": hex::encode(&ticket.router_public_key), "job_id": hex::encode(&ticket.job_id)})
        }
        TxBody::RouterEquivocation { a, .. } => {
            json!({"router": hex::encode(&a.router_public_key), "job_id": hex::encode(&a.job_id)})
        }
        TxBody::Propose { key, value } => json!({"param": key.name(), "value": value.to_string()}),
        TxBody::Vote { proposal, yes } => json!({"proposal": proposal, "yes": yes}),
    }
}

impl From<&SignedTx> for TxJson {
    fn from(tx: &SignedTx) -> Self {
        let t = &tx.tx;
        let bytes = wire::encode(tx);
        Self {
            kind: t.body.name(),
            body: body(&t.body),
            chain_id: t.chain_id.clone(),
            signer: t.signer.to_string(),
            nonce: t.nonce,
            fee: t.fee.to_string(),
            hash: hex::encode(wire::tx_hash(&bytes)),
            bytes: hex::encode(&bytes),
        }
    }
}

/// A router's ledger record: `wick router show --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterJson {
    /// Address.
    pub address: String,
    /// Whether it is registered.
    pub registered: bool,
    /// Own bonded stake.
    pub stake: String,
    /// Escrow that pays for the work it attests.
    pub escrow: String,
    /// Jailed by a proven equivocation.
    pub jailed: bool,
    /// First epoch it may unjail (0 when not jailed).
    pub jailed_until: u64,
    /// The current epoch.
    pub epoch: u64,
}

impl From<&RouterResponse> for RouterJson {
    fn from(r: &RouterResponse) -> Self {
        Self {
            address: hex::encode(&r.address),
            registered: r.registered,
            stake: r.stake.clone(),
            escrow: r.escrow.clone(),
            jailed: r.jailed,
            jailed_until: r.jailed_until,
            epoch: r.epoch,
        }
    }
}
