//! Evidence of equivocation: two votes of one validator for the same height, round and step,
//! for different values, both signed. The engine reports what it saw; a block carries it; every
//! validator checks it again (with this module) before the state machine slashes.

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types::SignedVote;

use crate::codec;
use crate::context::{Address, Height, Vote, WickContext};
use crate::signing::{ChainVerifier, PublicKey, Signature};

/// A vote with its signature, as evidence carries it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedVoteBytes {
    /// The vote.
    pub vote: Vote,
    /// Its signature.
    pub signature: Signature,
}

/// Two conflicting signed votes of one validator.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Equivocation {
    /// First vote.
    pub first: SignedVoteBytes,
    /// Second vote.
    pub second: SignedVoteBytes,
}

/// Why evidence proves nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// Malformed bytes.
    #[error("malformed evidence")]
    Malformed,
    /// The votes are of different validators, heights, rounds or steps.
    #[error("the two votes are not for the same validator, height, round and step")]
    NotComparable,
    /// The votes are for the same value (not a conflict).
    #[error("the two votes agree")]
    NoConflict,
    /// The voter's key is not a valid point.
    #[error("the voter's key is invalid")]
    BadKey,
    /// A signature does not verify.
    #[error("a vote's signature does not verify")]
    BadSignature,
}

impl Equivocation {
    /// Evidence from the engine's pair of votes.
    pub fn from_engine(first: &SignedVote<WickContext>, second: &SignedVote<WickContext>) -> Self {
        let side =
            |v: &SignedVote<WickContext>| SignedVoteBytes { vote: v.message.clone(), signature: v.signature };
        Equivocation { first: side(first), second: side(second) }
    }

    /// Its wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes and verifies evidence of chain `chain_id`: both votes signed by one validator,
    /// for one height, round and step, for different values. Returns who and at what height.
    pub fn verify(chain_id: &str, bytes: &[u8]) -> Result<(Address, Height), EvidenceError> {
        let e: Equivocation = codec::decode(bytes).map_err(|_| EvidenceError::Malformed)?;
        let (a, b) = (&e.first.vote, &e.second.vote);
        if a.validator != b.validator || a.height != b.height || a.round != b.round || a.typ != b.typ {
            return Err(EvidenceError::NotComparable);
        }
        if a.value == b.value {
            return Err(EvidenceError::NoConflict);
        }
        let key = PublicKey::from_bytes(a.validator.0).ok_or(EvidenceError::BadKey)?;
        let verifier = ChainVerifier::new(chain_id);
        if !verifier.vote_is_signed(a, &e.first.signature, &key)
            || !verifier.vote_is_signed(b, &e.second.signature, &key)
        {
            return Err(EvidenceError::BadSignature);
        }
        Ok((a.validator, a.height))
    }
}
