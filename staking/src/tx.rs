//! Transactions, their canonical signing bytes, signing, and the single ZIP-215 check
//! (batches: [`crate::verify`]).

use ed25519_dalek::{Signer, SigningKey};
use wick_proto::signing::CanonicalWriter;
use wick_proto::v1::{JobTicket, SignedReceipt};

use crate::error::TxError;
use crate::types::{Address, Amount};

/// Domain tag of ledger transaction signatures.
pub const TX_TAG: &str = "wick.v1.LedgerTx";

/// A governance parameter that a proposal can change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ParamKey {
    /// Tokens minted per epoch.
    EpochReward,
    /// Epochs between unstake and release.
    UnbondingEpochs,
    /// Fraction of stake slashed by a fraud proof, in basis points.
    SlashBps,
    /// Fraction of the slashed amount paid to the reporter, in basis points.
    ReporterBps,
    /// Share of bonded stake that must vote, in basis points.
    QuorumBps,
    /// Share of the votes cast that must be yes, in basis points.
    ThresholdBps,
    /// Epochs a proposal stays open for votes.
    VotingEpochs,
}

impl ParamKey {
    /// Stable wire code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The key with wire code `code`, if any.
    pub fn from_code(code: u32) -> Option<ParamKey> {
        use ParamKey::*;
        [EpochReward, UnbondingEpochs, SlashBps, ReporterBps, QuorumBps, ThresholdBps, VotingEpochs]
            .into_iter()
            .find(|k| k.code() == code)
    }
}

/// What a transaction does.
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
    /// A worker's claim of the work it did in an epoch.
    WorkClaim {
        /// Epoch (must be the current one).
        epoch: u64,
        /// Merkle root of the worker's receipts.
        receipts_root: [u8; 32],
        /// Number of receipts.
        count: u64,
        /// Tokens served.
        tokens: u64,
    },
    /// A router's attestation of a worker's work in an epoch.
    Attestation {
        /// Epoch (must be the current one).
        epoch: u64,
        /// Worker attested.
        worker: Address,
        /// Merkle root of the receipts the router countersigned.
        receipts_root: [u8; 32],
        /// Number of receipts.
        count: u64,
        /// Tokens.
        tokens: u64,
    },
    /// Two receipts signed by one worker for the same job with different outputs.
    FraudProof {
        /// First receipt.
        a: Box<SignedReceipt>,
        /// Conflicting receipt.
        b: Box<SignedReceipt>,
    },
    /// A router's audit evidence: the job's ticket and the receipts of three or more workers
    /// that ran it, the accused's output differing from the others' (see `audit_proof`).
    AuditProof {
        /// The router-signed ticket of the job.
        ticket: Box<JobTicket>,
        /// Worker-signed receipts of the job, the accused's among them.
        receipts: Vec<SignedReceipt>,
        /// The worker whose output differs.
        accused: Address,
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

fn receipt_canonical(w: &mut CanonicalWriter, r: &SignedReceipt) {
    let bytes = r.receipt.as_ref().map(wick_proto::signing::receipt_bytes).unwrap_or_default();
    w.bytes(&bytes).bytes(&r.worker_signature).bytes(&r.router_public_key).bytes(&r.router_signature);
}

impl Tx {
    /// Canonical bytes signed by the signer: tag, chain id, signer, nonce, fee, kind, fields.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut w = CanonicalWriter::new(TX_TAG);
        w.str(&self.chain_id).bytes(&self.signer.0).u64(self.nonce).u128(self.fee.0);
        match &self.body {
            TxBody::Transfer { to, amount } => w.u32(1).bytes(&to.0).u128(amount.0),
            TxBody::RegisterWorker { commission_bps } => w.u32(2).u32(*commission_bps),
            TxBody::Stake { amount } => w.u32(3).u128(amount.0),
            TxBody::Unstake { amount } => w.u32(4).u128(amount.0),
            TxBody::Delegate { worker, amount } => w.u32(5).bytes(&worker.0).u128(amount.0),
            TxBody::Undelegate { worker, amount } => w.u32(6).bytes(&worker.0).u128(amount.0),
            TxBody::WithdrawRewards => w.u32(7),
            TxBody::WorkClaim { epoch, receipts_root, count, tokens } => {
                w.u32(8).u64(*epoch).bytes(receipts_root).u64(*count).u64(*tokens)
            }
            TxBody::Attestation { epoch, worker, receipts_root, count, tokens } => {
                w.u32(9).u64(*epoch).bytes(&worker.0).bytes(receipts_root).u64(*count).u64(*tokens)
            }
            TxBody::FraudProof { a, b } => {
                w.u32(10);
                receipt_canonical(&mut w, a);
                receipt_canonical(&mut w, b);
                &mut w
            }
            TxBody::AuditProof { ticket, receipts, accused } => {
                w.u32(13).bytes(&wick_proto::signing::ticket_bytes(ticket)).bytes(&ticket.signature);
                w.bytes(&accused.0).u32(receipts.len() as u32);
                for r in receipts {
                    receipt_canonical(&mut w, r);
                }
                &mut w
            }
            TxBody::Propose { key, value } => w.u32(11).u32(key.code()).u128(*value),
            TxBody::Vote { proposal, yes } => w.u32(12).u64(*proposal).u32(u32::from(*yes)),
        };
        w.finish()
    }

    /// The accounts this transaction names: the signer, a transfer's recipient, the worker of a
    /// delegation, attestation or fraud proof. A fraud proof also touches the worker's
    /// delegators (its slash cuts their delegations), which depend on the state, and a proposal
    /// or vote touches the proposal table: the complete, state-aware access set used for
    /// parallel scheduling is [`crate::State::access`].
    pub fn touched(&self) -> Vec<Address> {
        let mut v = vec![self.signer];
        match &self.body {
            TxBody::Transfer { to, .. } => v.push(*to),
            TxBody::Delegate { worker, .. } | TxBody::Undelegate { worker, .. } => v.push(*worker),
            TxBody::Attestation { worker, .. } => v.push(*worker),
            TxBody::AuditProof { accused, .. } => v.push(*accused),
            TxBody::FraudProof { a, .. } => {
                let key = a
                    .receipt
                    .as_ref()
                    .and_then(|r| <[u8; 32]>::try_from(r.worker_public_key.as_slice()).ok());
                v.extend(key.map(Address));
            }
            _ => {}
        }
        v
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
