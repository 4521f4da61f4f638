//! Why a transaction was refused or failed.
//!
//! A *refused* transaction ([`TxError::is_refusal`]: wrong chain, bad signature, wrong nonce, a
//! fee below the minimum or more than the balance, malformed bytes) changes nothing and is never
//! stored: it pays no fee, so a block must not carry it. Any other error is a *failure*: the
//! transaction is stored with its reason, its fee is charged and its nonce used, and nothing else
//! changes. So every stored transaction has paid for its bytes.
//!
//! Block execution reports its own errors with this type too, and they change nothing: a block
//! time that does not move forward ([`TxError::BlockTime`], a refusal of the whole block) and
//! equivocation evidence that cannot be applied (see `State::slash_equivocation`).

use crate::types::Amount;

/// A precise reason. Variants carry what the message needs; [`TxError::code`] is the stable
/// machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The chain id does not match this ledger's.
    #[error("wrong chain id: transaction is for {got:?}, this ledger is {expected:?}")]
    WrongChain {
        /// This ledger's chain id.
        expected: String,
        /// The transaction's.
        got: String,
    },
    /// The signer is not a valid ed25519 key.
    #[error("signer is not a valid ed25519 public key")]
    BadPublicKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Nonce is not the account's next nonce (replayed or out of order).
    #[error("bad nonce: expected {expected}, got {got}")]
    BadNonce {
        /// Next nonce.
        expected: u64,
        /// Given nonce.
        got: u64,
    },
    /// The fee is below what the transaction's size requires.
    #[error("fee {offered} is below the required {required} (min_fee + fee_per_byte × size)")]
    FeeTooLow {
        /// The fee the transaction must pay at least.
        required: Amount,
        /// The fee it offers.
        offered: Amount,
    },
    /// The balance cannot pay the fee.
    #[error("balance {balance} cannot pay the fee {fee}")]
    CannotPayFee {
        /// Balance.
        balance: Amount,
        /// Fee.
        fee: Amount,
    },
    /// Not enough balance for the amount (and fee).
    #[error("insufficient balance: have {balance}, need {needed}")]
    InsufficientBalance {
        /// Balance.
        balance: Amount,
        /// Amount needed (including fee).
        needed: Amount,
    },
    /// An amount would overflow.
    #[error("amount overflow")]
    Overflow,
    /// Zero amount where a positive one is required.
    #[error("amount must be positive")]
    ZeroAmount,
    /// The address is not a registered worker.
    #[error("not a registered worker")]
    NotWorker,
    /// Already a worker.
    #[error("already registered as a worker")]
    AlreadyWorker,
    /// The address is not a registered router.
    #[error("not a registered router")]
    NotRouter,
    /// Already a router.
    #[error("already registered as a router")]
    AlreadyRouter,
    /// The key has no bonded stake (as a worker, a router or a delegator) to answer for what
    /// it asserts.
    #[error("{0} has no bonded stake: only keys with something to lose may do this")]
    NotBonded(&'static str),
    /// The worker or router is jailed.
    #[error("jailed")]
    Jailed,
    /// Unjailing before the jail period ended.
    #[error("jailed until epoch {until}")]
    StillJailed {
        /// First epoch in which unjailing is allowed.
        until: u64,
    },
    /// Unjailing while not jailed.
    #[error("not jailed")]
    NotJailed,
    /// A jailed worker or router tried to unbond within the evidence window.
    #[error("a jailed stake cannot unbond before epoch {until} (the evidence window)")]
    JailedUnbonding {
        /// First epoch in which unbonding is allowed.
        until: u64,
    },
    /// Commission above 10 000 bps.
    #[error("commission {0} bps is above 10000")]
    BadCommission(u32),
    /// Unbonding more than bonded.
    #[error("cannot unbond {requested}: only {bonded} bonded")]
    InsufficientStake {
        /// Bonded.
        bonded: Amount,
        /// Requested.
        requested: Amount,
    },
    /// The router's escrow cannot cover what it attests or withdraws.
    #[error("escrow {escrow} cannot cover {needed}")]
    InsufficientEscrow {
        /// Escrow.
        escrow: Amount,
        /// Amount needed.
        needed: Amount,
    },
    /// No rewards to withdraw.
    #[error("no rewards to withdraw")]
    NoRewards,
    /// A claim or attestation names an epoch other than the current one.
    #[error("epoch {got} is not the current epoch {current}")]
    WrongEpoch {
        /// Current epoch.
        current: u64,
        /// Given.
        got: u64,
    },
    /// A second claim, attestation or proof of the same thing.
    #[error("already submitted")]
    Duplicate,
    /// The evidence is invalid.
    #[error("invalid evidence: {0}")]
    BadFraudProof(String),
    /// The reporter is the accused.
    #[error("the reporter is the accused: a key cannot report itself")]
    SelfReport,
    /// The infraction is older than the evidence window (or from the future).
    #[error(
        "the infraction's epoch {infraction} is outside the evidence window (epochs {oldest} to {current})"
    )]
    EvidenceTooOld {
        /// The ticket's epoch.
        infraction: u64,
        /// Oldest provable epoch.
        oldest: u64,
        /// Current epoch.
        current: u64,
    },
    /// Unknown proposal.
    #[error("no proposal {0}")]
    NoProposal(u64),
    /// Voting is not open.
    #[error("voting on proposal {proposal} is open in epochs {start} to {end}")]
    VotingClosed {
        /// Proposal.
        proposal: u64,
        /// First epoch of voting.
        start: u64,
        /// Last epoch of voting.
        end: u64,
    },
    /// The voter or proposer has no (snapshotted) bonded stake.
    #[error("no bonded stake to vote or propose with")]
    NoVotingPower,
    /// Already voted.
    #[error("already voted on proposal {0}")]
    AlreadyVoted(u64),
    /// The parameter value is out of range.
    #[error("bad parameter value: {0}")]
    BadParam(String),
    /// The address is not a registered validator.
    #[error("not a registered validator")]
    NotValidator,
    /// An equivocation's height is not one whose infractions can still be proven: not yet
    /// decided, or older than the evidence window.
    #[error(
        "height {height} is outside the heights whose equivocation can be proven ({oldest} to {current})"
    )]
    EquivocationHeight {
        /// The equivocation's height.
        height: u64,
        /// First height of the oldest epoch still within the evidence window.
        oldest: u64,
        /// The last applied height.
        current: u64,
    },
    /// A block's time is not later than the last block's.
    #[error("block time {got} ms is not after the last block's {last} ms")]
    BlockTime {
        /// The last block's time, ms.
        last: u64,
        /// The refused block's time, ms.
        got: u64,
    },
    /// The wire bytes are not a canonical encoding of a transaction (see [`crate::wire`]).
    #[error("malformed transaction at byte {offset}: {reason}")]
    Malformed {
        /// Where decoding stopped.
        offset: usize,
        /// What was wrong there.
        reason: &'static str,
    },
}

impl TxError {
    /// The stable, machine-readable reason code (stored in blocks and sent as gRPC metadata).
    /// Every variant names its own: a new variant does not compile until it has one.
    pub fn code(&self) -> &'static str {
        match self {
            TxError::WrongChain { .. } => "wrong_chain",
            TxError::BadPublicKey => "bad_public_key",
            TxError::BadSignature => "bad_signature",
            TxError::BadNonce { .. } => "bad_nonce",
            TxError::FeeTooLow { .. } => "fee_too_low",
            TxError::CannotPayFee { .. } => "cannot_pay_fee",
            TxError::InsufficientBalance { .. } => "insufficient_balance",
            TxError::Overflow => "overflow",
            TxError::ZeroAmount => "zero_amount",
            TxError::NotWorker => "not_worker",
            TxError::AlreadyWorker => "already_worker",
            TxError::NotRouter => "not_router",
            TxError::AlreadyRouter => "already_router",
            TxError::NotBonded(_) => "not_bonded",
            TxError::Jailed => "jailed",
            TxError::StillJailed { .. } => "still_jailed",
            TxError::NotJailed => "not_jailed",
            TxError::JailedUnbonding { .. } => "jailed_unbonding",
            TxError::BadCommission(_) => "bad_commission",
            TxError::InsufficientStake { .. } => "insufficient_stake",
            TxError::InsufficientEscrow { .. } => "insufficient_escrow",
            TxError::NoRewards => "no_rewards",
            TxError::WrongEpoch { .. } => "wrong_epoch",
            TxError::Duplicate => "duplicate",
            TxError::BadFraudProof(_) => "bad_fraud_proof",
            TxError::SelfReport => "self_report",
            TxError::EvidenceTooOld { .. } => "evidence_too_old",
            TxError::NoProposal(_) => "no_proposal",
            TxError::VotingClosed { .. } => "voting_closed",
            TxError::NoVotingPower => "no_voting_power",
            TxError::AlreadyVoted(_) => "already_voted",
            TxError::BadParam(_) => "bad_param",
            TxError::Malformed { .. } => "malformed",
            TxError::NotValidator => "not_validator",
            TxError::EquivocationHeight { .. } => "equivocation_height",
            TxError::BlockTime { .. } => "block_time",
        }
    }

    /// Whether the transaction is refused outright: it changes nothing, pays nothing and is not
    /// stored (see the module docs). Any other error charges the fee.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            TxError::WrongChain { .. }
                | TxError::BadPublicKey
                | TxError::BadSignature
                | TxError::BadNonce { .. }
                | TxError::FeeTooLow { .. }
                | TxError::CannotPayFee { .. }
                | TxError::Malformed { .. }
                | TxError::BlockTime { .. }
        )
    }

    /// Whether the error can never go away whatever the state (wrong chain, bad signature, bad
    /// values): `INVALID_ARGUMENT` on the wire; the rest depend on the state
    /// (`FAILED_PRECONDITION`).
    pub fn is_invalid_argument(&self) -> bool {
        match self {
            TxError::WrongChain { .. }
            | TxError::BadPublicKey
            | TxError::BadSignature
            | TxError::ZeroAmount
            | TxError::BadCommission(_)
            | TxError::BadFraudProof(_)
            | TxError::SelfReport
            | TxError::BadParam(_)
            | TxError::Malformed { .. } => true,
            TxError::BadNonce { .. }
            | TxError::FeeTooLow { .. }
            | TxError::CannotPayFee { .. }
            | TxError::InsufficientBalance { .. }
            | TxError::Overflow
            | TxError::NotWorker
            | TxError::AlreadyWorker
            | TxError::NotRouter
            | TxError::AlreadyRouter
            | TxError::NotBonded(_)
            | TxError::Jailed
            | TxError::StillJailed { .. }
            | TxError::NotJailed
            | TxError::JailedUnbonding { .. }
            | TxError::InsufficientStake { .. }
            | TxError::InsufficientEscrow { .. }
            | TxError::NoRewards
            | TxError::WrongEpoch { .. }
            | TxError::Duplicate
            | TxError::EvidenceTooOld { .. }
            | TxError::NoProposal(_)
            | TxError::VotingClosed { .. }
            | TxError::NoVotingPower
            | TxError::AlreadyVoted(_)
            | TxError::NotValidator
            | TxError::EquivocationHeight { .. }
            | TxError::BlockTime { .. } => false,
        }
    }
}
