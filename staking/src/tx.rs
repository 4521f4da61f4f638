//! Transactions, their canonical signing bytes, signing, and the single ZIP-215 check
//! (batches: [`crate::verify`]).

use ed25519_dalek::{Signer, SigningKey};
use wick_proto::signing::CanonicalWriter;
use wick_proto::v1::{JobTicket, SignedReceipt};

use crate::error::TxError;
use crate::types::{Address, Amount};

/// Domain tag of ledger transaction signatures.
pub const TX_TAG: &str = "wick.v1.LedgerTx";

/// A governance parameter that a proposal can change (bounds: [`crate::Params::bounds`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ParamKey {
    /// Tokens minted per epoch at most.
    EpochReward,
    /// Epochs between unbonding and release.
    UnbondingEpochs,
    /// Fraction of stake slashed by a proven infraction, in basis points.
    SlashBps,
    /// Fraction of the slashed amount paid to the reporter, in basis points.
    ReporterBps,
    /// Share of bonded stake that must vote, in basis points.
    QuorumBps,
    /// Share of the votes cast that must be yes, in basis points.
    ThresholdBps,
    /// Epochs a proposal stays open for votes.
    VotingEpochs,
    /// Epochs a passed change waits before it applies.
    TimelockEpochs,
    /// Epochs during which an infraction can be proven.
    EvidenceEpochs,
    /// Epochs a slashed worker or router stays jailed.
    JailEpochs,
    /// Smallest transaction fee.
    MinFee,
    /// Fee per byte of a transaction's wire encoding.
    FeePerByte,
    /// Part of every work payment burned, in basis points.
    WorkFeeBps,
    /// Most validators in the active set.
    MaxValidators,
    /// Least stake that puts a validator in the active set.
    MinValidatorStake,
}

impl ParamKey {
    /// Every parameter, in wire-code order.
    pub const ALL: [ParamKey; 15] = [
        ParamKey::EpochReward,
        ParamKey::UnbondingEpochs,
        ParamKey::SlashBps,
        ParamKey::ReporterBps,
        ParamKey::QuorumBps,
        ParamKey::ThresholdBps,
        ParamKey::VotingEpochs,
        ParamKey::TimelockEpochs,
        ParamKey::EvidenceEpochs,
        ParamKey::JailEpochs,
        ParamKey::MinFee,
        ParamKey::FeePerByte,
        ParamKey::WorkFeeBps,
        ParamKey::MaxValidators,
        ParamKey::MinValidatorStake,
    ];

    /// Stable wire code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The key with wire code `code`, if any.
    pub fn from_code(code: u32) -> Option<ParamKey> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The snake_case name (as in genesis files and the CLI).
    pub fn name(self) -> &'static str {
        match self {
            ParamKey::EpochReward => "epoch_reward",
            ParamKey::UnbondingEpochs => "unbonding_epochs",
            ParamKey::SlashBps => "slash_bps",
            ParamKey::ReporterBps => "reporter_bps",
            ParamKey::QuorumBps => "quorum_bps",
            ParamKey::ThresholdBps => "threshold_bps",
            ParamKey::VotingEpochs => "voting_epochs",
            ParamKey::TimelockEpochs => "timelock_epochs",
            ParamKey::EvidenceEpochs => "evidence_epochs",
            ParamKey::JailEpochs => "jail_epochs",
            ParamKey::MinFee => "min_fee",
            ParamKey::FeePerByte => "fee_per_byte",
            ParamKey::WorkFeeBps => "work_fee_bps",
            ParamKey::MaxValidators => "max_validators",
            ParamKey::MinValidatorStake => "min_validator_stake",
        }
    }

    /// The parameter named `name` (see [`ParamKey::name`]).
    pub fn from_name(name: &str) -> Option<ParamKey> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// What a worker claims, or a router attests, for one (epoch, worker, router): the receipts of
/// that worker's jobs under that router's tickets that finished in the epoch's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkReport {
    /// Epoch (the current one; see [`crate::state`] for the window).
    pub epoch: u64,
    /// Merkle root over the receipts (kept so either side can later prove what it counted).
    pub receipts_root: [u8; 32],
    /// Number of receipts.
    pub count: u64,
    /// Tokens in plus tokens out.
    pub tokens: u64,
    /// What the receipts are worth at their tickets' prices, in base units.
    pub amount: u128,
}

/// What a transaction does. Wire kind codes are in [`TxBody::kind`].
#[derive(Clone, Debug, PartialEq)]
pub enum TxBody {
    /// Move tokens to another account.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount moved.
        amount: Amount,
    },
    /// Register the signer as a worker.
    RegisterWorker {
        /// Commission on delegators' rewards, basis points (≤ 10 000).
        commission_bps: u32,
    },
    /// Bond the signer's own tokens to its worker.
    Stake {
        /// Amount bonded.
        amount: Amount,
    },
    /// Start unbonding own stake.
    Unstake {
        /// Amount unbonded.
        amount: Amount,
    },
    /// Bond tokens to a worker.
    Delegate {
        /// Worker.
        worker: Address,
        /// Amount.
        amount: Amount,
    },
    /// Start unbonding a delegation.
    Undelegate {
        /// Worker.
        worker: Address,
        /// Amount.
        amount: Amount,
    },
    /// Move accrued rewards to the balance.
    WithdrawRewards,
    /// A worker's claim of the work it did for one router in an epoch.
    WorkClaim {
        /// The router whose tickets the work was done under.
        router: Address,
        /// The work.
        work: WorkReport,
    },
    /// A router's attestation of one worker's work for it in an epoch; reserves `amount` of the
    /// router's escrow until the epoch end pays it.
    Attestation {
        /// Worker attested.
        worker: Address,
        /// The work.
        work: WorkReport,
    },
    /// Two receipts signed by one worker for the same ticket with different outputs.
    FraudProof {
        /// The router-signed ticket both receipts are for.
        ticket: Box<JobTicket>,
        /// First receipt.
        a: Box<SignedReceipt>,
        /// Conflicting receipt.
        b: Box<SignedReceipt>,
    },
    /// Propose a parameter change.
    Propose {
        /// Parameter.
        key: ParamKey,
        /// New value.
        value: u128,
    },
    /// Vote on a proposal.
    Vote {
        /// Proposal id.
        proposal: u64,
        /// Yes or no.
        yes: bool,
    },
    /// A router's audit evidence: the job's ticket and the receipts of three or more workers
    /// that ran it, the accused's output differing from the others' (see
    /// [`crate::evidence::audit`]).
    AuditProof {
        /// The router-signed ticket of the job.
        ticket: Box<JobTicket>,
        /// Worker-signed receipts of the job, the accused's among them.
        receipts: Vec<SignedReceipt>,
        /// The worker whose output differs.
        accused: Address,
    },
    /// Register the signer as a router.
    RegisterRouter,
    /// Bond the signer's own tokens to its router.
    BondRouter {
        /// Amount bonded.
        amount: Amount,
    },
    /// Start unbonding the router's stake.
    UnbondRouter {
        /// Amount unbonded.
        amount: Amount,
    },
    /// Move tokens into the router's escrow, which pays for the work it attests.
    FundEscrow {
        /// Amount.
        amount: Amount,
    },
    /// Start moving escrow back to the balance (through the unbonding queue, so attested work
    /// is paid first).
    WithdrawEscrow {
        /// Amount.
        amount: Amount,
    },
    /// Leave jail after the jail period (a worker, a router or a validator; every jail term the
    /// key serves must be over).
    Unjail,
    /// Two different tickets signed by one router for one job id.
    RouterEquivocation {
        /// First ticket.
        a: Box<JobTicket>,
        /// The other ticket.
        b: Box<JobTicket>,
    },
    /// Bond the signer's own tokens as validator stake (registering it as a validator on the
    /// first bond); it joins the active set at the next epoch end.
    BondValidator {
        /// Amount bonded.
        amount: Amount,
    },
    /// Start unbonding validator stake (slashable until released).
    UnbondValidator {
        /// Amount unbonded.
        amount: Amount,
    },
}

impl TxBody {
    /// The kind's stable wire code.
    pub fn kind(&self) -> u32 {
        match self {
            TxBody::Transfer { .. } => 1,
            TxBody::RegisterWorker { .. } => 2,
            TxBody::Stake { .. } => 3,
            TxBody::Unstake { .. } => 4,
            TxBody::Delegate { .. } => 5,
            TxBody::Undelegate { .. } => 6,
            TxBody::WithdrawRewards => 7,
            TxBody::WorkClaim { .. } => 8,
            TxBody::Attestation { .. } => 9,
            TxBody::FraudProof { .. } => 10,
            TxBody::Propose { .. } => 11,
            TxBody::Vote { .. } => 12,
            TxBody::AuditProof { .. } => 13,
            TxBody::RegisterRouter => 14,
            TxBody::BondRouter { .. } => 15,
            TxBody::UnbondRouter { .. } => 16,
            TxBody::FundEscrow { .. } => 17,
            TxBody::WithdrawEscrow { .. } => 18,
            TxBody::Unjail => 19,
            TxBody::RouterEquivocation { .. } => 20,
            TxBody::BondValidator { .. } => 21,
            TxBody::UnbondValidator { .. } => 22,
        }
    }

    /// The kind's stable name (snake case), for people and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            TxBody::Transfer { .. } => "transfer",
            TxBody::RegisterWorker { .. } => "register_worker",
            TxBody::Stake { .. } => "stake",
            TxBody::Unstake { .. } => "unstake",
            TxBody::Delegate { .. } => "delegate",
            TxBody::Undelegate { .. } => "undelegate",
            TxBody::WithdrawRewards => "withdraw_rewards",
            TxBody::WorkClaim { .. } => "work_claim",
            TxBody::Attestation { .. } => "attestation",
            TxBody::FraudProof { .. } => "fraud_proof",
            TxBody::Propose { .. } => "propose",
            TxBody::Vote { .. } => "vote",
            TxBody::AuditProof { .. } => "audit_proof",
            TxBody::RegisterRouter => "register_router",
            TxBody::BondRouter { .. } => "bond_router",
            TxBody::UnbondRouter { .. } => "unbond_router",
            TxBody::FundEscrow { .. } => "fund_escrow",
            TxBody::WithdrawEscrow { .. } => "withdraw_escrow",
            TxBody::Unjail => "unjail",
            TxBody::RouterEquivocation { .. } => "router_equivocation",
            TxBody::BondValidator { .. } => "bond_validator",
            TxBody::UnbondValidator { .. } => "unbond_validator",
        }
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Tx {
    /// Chain the transaction is for.
    pub chain_id: String,
    /// Signer (its public key).
    pub signer: Address,
    /// The signer's next nonce.
    pub nonce: u64,
    /// Fee, burned.
    pub fee: Amount,
    /// What it does.
    pub body: TxBody,
}

fn ticket_canonical(w: &mut CanonicalWriter, t: &JobTicket) {
    w.bytes(&wick_proto::signing::ticket_bytes(t)).bytes(&t.signature);
}

fn receipt_canonical(w: &mut CanonicalWriter, r: &SignedReceipt) {
    let bytes = r.receipt.as_ref().map(wick_proto::signing::receipt_bytes).unwrap_or_default();
    w.bytes(&bytes).bytes(&r.worker_signature).bytes(&r.router_public_key).bytes(&r.router_signature);
}

impl Tx {
    /// Canonical bytes signed by the signer: tag, chain id, signer, nonce, fee, kind, fields.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut w = CanonicalWriter::new(TX_TAG);
        w.str(&self.chain_id).bytes(&self.signer.0).u64(self.nonce).u128(self.fee.0);
        w.u32(self.body.kind());
        match &self.body {
            TxBody::Transfer { to, amount } => w.bytes(&to.0).u128(amount.0),
            TxBody::RegisterWorker { commission_bps } => w.u32(*commission_bps),
            TxBody::Stake { amount }
            | TxBody::Unstake { amount }
            | TxBody::BondRouter { amount }
            | TxBody::UnbondRouter { amount }
            | TxBody::FundEscrow { amount }
            | TxBody::WithdrawEscrow { amount }
            | TxBody::BondValidator { amount }
            | TxBody::UnbondValidator { amount } => w.u128(amount.0),
            TxBody::Delegate { worker, amount } | TxBody::Undelegate { worker, amount } => {
                w.bytes(&worker.0).u128(amount.0)
            }
            TxBody::WithdrawRewards | TxBody::RegisterRouter | TxBody::Unjail => &mut w,
            TxBody::WorkClaim { router: party, work } | TxBody::Attestation { worker: party, work } => {
                w.bytes(&party.0).u64(work.epoch).bytes(&work.receipts_root);
                w.u64(work.count).u64(work.tokens).u128(work.amount)
            }
            TxBody::FraudProof { ticket, a, b } => {
                ticket_canonical(&mut w, ticket);
                receipt_canonical(&mut w, a);
                receipt_canonical(&mut w, b);
                &mut w
            }
            TxBody::AuditProof { ticket, receipts, accused } => {
                ticket_canonical(&mut w, ticket);
                w.bytes(&accused.0).u32(receipts.len() as u32);
                for r in receipts {
                    receipt_canonical(&mut w, r);
                }
                &mut w
            }
            TxBody::RouterEquivocation { a, b } => {
                ticket_canonical(&mut w, a);
                ticket_canonical(&mut w, b);
                &mut w
            }
            TxBody::Propose { key, value } => w.u32(key.code()).u128(*value),
            TxBody::Vote { proposal, yes } => w.u64(*proposal).u32(u32::from(*yes)),
        };
        w.finish()
    }

    /// The length of the wire encoding ([`crate::wire::encode`]): what the fee is charged on.
    pub fn wire_len(&self) -> usize {
        self.signing_bytes().len() + 64
    }

    /// This transaction paying the smallest fee `params` accept for it (the fee is a
    /// fixed-width field, so the size it is charged on does not depend on it).
    pub fn paying(mut self, params: &crate::Params) -> Tx {
        self.fee = Amount(params.required_fee(self.wire_len()));
        self
    }

    /// Signs with `key`, setting the signer to its public key.
    pub fn sign(mut self, key: &SigningKey) -> SignedTx {
        self.signer = Address(key.verifying_key().to_bytes());
        let signature = key.sign(&self.signing_bytes()).to_bytes();
        SignedTx { tx: self, signature }
    }
}

/// A transaction and the signer's signature over its canonical bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedTx {
    /// The transaction.
    pub tx: Tx,
    /// ed25519 signature by `tx.signer`.
    pub signature: [u8; 64],
}

impl SignedTx {
    /// Verifies the signature with ZIP-215 rules.
    pub fn verify(&self) -> Result<(), TxError> {
        self.verify_message(&self.tx.signing_bytes())
    }

    /// [`SignedTx::verify`] against `signed`, which must be this transaction's signing bytes.
    pub(crate) fn verify_message(&self, signed: &[u8]) -> Result<(), TxError> {
        let vk = ed25519_consensus::VerificationKey::try_from(self.tx.signer.0)
            .map_err(|_| TxError::BadPublicKey)?;
        let sig = ed25519_consensus::Signature::from(self.signature);
        vk.verify(&sig, signed).map_err(|_| TxError::BadSignature)
    }
}
