//! Why a transaction was rejected.

use crate::types::Amount;

/// A precise rejection reason. A rejected transaction leaves the state unchanged.
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
    /// Not enough balance.
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
    /// The worker is jailed.
    #[error("worker is jailed")]
    Jailed,
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
    /// A second claim or attestation for the same epoch.
    #[error("already submitted for this epoch")]
    Duplicate,
    /// The fraud proof is invalid.
    #[error("invalid fraud proof: {0}")]
    BadFraudProof(String),
    /// Unknown proposal.
    #[error("no proposal {0}")]
    NoProposal(u64),
    /// The voting period is over.
    #[error("voting on proposal {proposal} ended in epoch {ended}")]
    VotingClosed {
        /// Proposal.
        proposal: u64,
        /// Last epoch of voting.
        ended: u64,
    },
    /// The voter has no bonded stake.
    #[error("no bonded stake to vote or propose with")]
    NoVotingPower,
    /// Already voted.
    #[error("already voted on proposal {0}")]
    AlreadyVoted(u64),
    /// The parameter value is out of range.
    #[error("bad parameter value: {0}")]
    BadParam(String),
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
            TxError::InsufficientBalance { .. } => "insufficient_balance",
            TxError::Overflow => "overflow",
            TxError::ZeroAmount => "zero_amount",
            TxError::NotWorker => "not_worker",
            TxError::AlreadyWorker => "already_worker",
            TxError::Jailed => "jailed",
            TxError::BadCommission(_) => "bad_commission",
            TxError::InsufficientStake { .. } => "insufficient_stake",
            TxError::NoRewards => "no_rewards",
            TxError::WrongEpoch { .. } => "wrong_epoch",
            TxError::Duplicate => "duplicate",
            TxError::BadFraudProof(_) => "bad_fraud_proof",
            TxError::NoProposal(_) => "no_proposal",
            TxError::VotingClosed { .. } => "voting_closed",
            TxError::NoVotingPower => "no_voting_power",
            TxError::AlreadyVoted(_) => "already_voted",
            TxError::BadParam(_) => "bad_param",
            TxError::Malformed { .. } => "malformed",
        }
    }

    /// Whether the rejection can never succeed whatever the state (wrong chain, bad signature,
    /// bad values): `INVALID_ARGUMENT` on the wire; the rest depend on the state
    /// (`FAILED_PRECONDITION`).
    pub fn is_invalid_argument(&self) -> bool {
        match self {
            TxError::WrongChain { .. }
            | TxError::BadPublicKey
            | TxError::BadSignature
            | TxError::ZeroAmount
            | TxError::BadCommission(_)
            | TxError::BadFraudProof(_)
            | TxError::BadParam(_)
            | TxError::Malformed { .. } => true,
            TxError::BadNonce { .. }
            | TxError::InsufficientBalance { .. }
            | TxError::Overflow
            | TxError::NotWorker
            | TxError::AlreadyWorker
            | TxError::Jailed
            | TxError::InsufficientStake { .. }
            | TxError::NoRewards
            | TxError::WrongEpoch { .. }
            | TxError::Duplicate
            | TxError::NoProposal(_)
            | TxError::VotingClosed { .. }
            | TxError::NoVotingPower
            | TxError::AlreadyVoted(_) => false,
        }
    }
}
