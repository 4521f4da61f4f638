//! Consensus signatures: ed25519 verified with ZIP-215 rules (`ed25519-consensus`, as the
//! ledger verifies transactions), so every validator accepts exactly the same votes. Every
//! signed message starts with a domain tag and the chain id, so a vote of one chain (or a
//! ledger transaction) can never be replayed as a vote of another.

use async_trait::async_trait;
use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_consensus::{SigningKey, VerificationKey};
use malachitebft_core_types::SignedMessage;
use malachitebft_core_types::{
    SignedExtension, SignedProposal, SignedVote, SigningScheme, ValidatorProof, VoteExtensionScope,
};
use malachitebft_signing::{Error as SigningError, Signer, VerificationResult, Verifier};

use crate::context::{BlockHash, Extension, Height, Proposal, Vote, WickContext};

/// Domain tag of consensus votes.
pub const VOTE_TAG: &[u8] = b"wick.v1.ConsensusVote";
/// Domain tag of consensus proposals.
pub const PROPOSAL_TAG: &[u8] = b"wick.v1.ConsensusProposal";
/// Domain tag of the signature that ends a streamed proposal.
pub const BLOCK_TAG: &[u8] = b"wick.v1.ConsensusBlock";
/// Domain tag of a validator's proof that it runs a network peer.
pub const PEER_TAG: &[u8] = b"wick.v1.ConsensusPeer";

/// The scheme: ed25519, ZIP-215.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ed25519;

/// A 64-byte ed25519 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

/// A validator's verification key (decoded once, checked to be a point).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerificationKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", &hex::encode(self.0.as_bytes())[..12])
    }
}

impl PublicKey {
    /// The key of these bytes, if they are a valid ed25519 point.
    pub fn from_bytes(bytes: [u8; 32]) -> Option<Self> {
        VerificationKey::try_from(bytes).ok().map(PublicKey)
    }

    /// The key's bytes (a validator's address).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Whether `sig` signs `msg` under this key.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        self.0.verify(&ed25519_consensus::Signature::from(sig.0), msg).is_ok()
    }
}

/// Why bytes are not a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodingError(&'static str);

impl SigningScheme for Ed25519 {
    type DecodingError = DecodingError;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = SigningKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, DecodingError> {
        <[u8; 64]>::try_from(bytes).map(Signature).map_err(|_| DecodingError("a signature has 64 bytes"))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, DecodingError> {
        let bytes = <[u8; 32]>::try_from(bytes).map_err(|_| DecodingError("a public key has 32 bytes"))?;
        PublicKey::from_bytes(bytes).ok_or(DecodingError("not an ed25519 point"))
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.to_bytes().to_vec()
    }
}

/// `tag ‖ len(chain) ‖ chain ‖ body`: what every consensus signature covers.
fn signing_bytes(tag: &[u8], chain_id: &str, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len() + chain_id.len() + 128);
    out.extend_from_slice(tag);
    out.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
    out.extend_from_slice(chain_id.as_bytes());
    body(&mut out);
    out
}

/// The bytes a vote's signature covers (the vote without its extension).
pub fn vote_bytes(chain_id: &str, vote: &Vote) -> Vec<u8> {
    signing_bytes(VOTE_TAG, chain_id, |out| {
        let bare = Vote { extension: None, ..vote.clone() };
        // Writing into a Vec cannot fail.
        let _ = borsh::to_writer(out, &bare);
    })
}

/// The bytes a proposal's signature covers.
pub fn proposal_bytes(chain_id: &str, proposal: &Proposal) -> Vec<u8> {
    signing_bytes(PROPOSAL_TAG, chain_id, |out| {
        let _ = borsh::to_writer(out, proposal);
    })
}

/// The bytes the last part of a streamed block signs: its height, round and hash.
pub fn block_bytes(chain_id: &str, height: Height, round: u32, hash: &BlockHash) -> Vec<u8> {
    signing_bytes(BLOCK_TAG, chain_id, |out| {
        out.extend_from_slice(&height.0.to_be_bytes());
        out.extend_from_slice(&round.to_be_bytes());
        out.extend_from_slice(&hash.0);
    })
}

/// Signs and verifies consensus messages of one chain with one validator key.
#[derive(Clone)]
pub struct Keys {
    chain_id: String,
    key: SigningKey,
}

impl Keys {
    /// A validator's keys on a chain.
    pub fn new(chain_id: &str, key: SigningKey) -> Self {
        Keys { chain_id: chain_id.to_string(), key }
    }

    /// The validator's public key bytes (its address).
    pub fn public(&self) -> [u8; 32] {
        self.key.verification_key().to_bytes()
    }

    /// The chain.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Signs raw bytes.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.key.sign(msg).to_bytes())
    }

    /// A verifier of the same chain that holds no key.
    pub fn verifier(&self) -> ChainVerifier {
        ChainVerifier { chain_id: self.chain_id.clone() }
    }
}

/// Verifies consensus messages of one chain.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    chain_id: String,
}

impl ChainVerifier {
    /// A verifier for `chain_id`.
    pub fn new(chain_id: &str) -> Self {
        ChainVerifier { chain_id: chain_id.to_string() }
    }

    /// Whether `sig` is `key`'s signature of `vote`.
    pub fn vote_is_signed(&self, vote: &Vote, sig: &Signature, key: &PublicKey) -> bool {
        key.verify(&vote_bytes(&self.chain_id, vote), sig)
    }
}

fn result(ok: bool) -> Result<VerificationResult, SigningError> {
    Ok(VerificationResult::from_bool(ok))
}

/// The extension bytes a signature covers (Wick attaches none; the engine may still ask).
fn extension_bytes(chain_id: &str, scope: &VoteExtensionScope<WickContext>, ext: &Extension) -> Vec<u8> {
    signing_bytes(b"wick.v1.ConsensusExtension", chain_id, |out| {
        out.extend_from_slice(&scope.height.0.to_be_bytes());
        out.extend_from_slice(&scope.round.as_i64().to_be_bytes());
        out.extend_from_slice(&scope.value_id.0);
        out.extend_from_slice(&scope.validator_address.0);
        out.extend_from_slice(&ext.0);
    })
}

#[async_trait]
impl Verifier<WickContext> for ChainVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        sig: &Signature,
        key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(self.vote_is_signed(vote, sig, key))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        sig: &Signature,
        key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(key.verify(&proposal_bytes(&self.chain_id, proposal), sig))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<WickContext>,
        ext: &Extension,
        sig: &Signature,
        key: &PublicKey,
    ) -> Result<VerificationResult, SigningError> {
        result(key.verify(&extension_bytes(&self.chain_id, scope, ext), sig))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<WickContext>,
    ) -> Result<VerificationResult, SigningError> {
        let Ok(key) = proof.decoded_public_key() else { return result(false) };
        result(
            key.verify(
                &peer_proof_bytes(&self.chain_id, &proof.public_key, &proof.peer_id),
                &proof.signature,
            ),
        )
    }
}

/// What a validator signs to show that a network peer is its own.
fn peer_proof_bytes(chain_id: &str, public_key: &[u8], peer_id: &[u8]) -> Vec<u8> {
    signing_bytes(PEER_TAG, chain_id, |out| {
        out.extend_from_slice(&ValidatorProof::<WickContext>::signing_bytes(public_key, peer_id))
    })
}

#[async_trait]
impl Signer<WickContext> for Keys {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedVote<WickContext>, SigningError> {
        let signature = self.sign(&vote_bytes(&self.chain_id, &vote));
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(&self, proposal: Proposal) -> Result<SignedProposal<WickContext>, SigningError> {
        let signature = self.sign(&proposal_bytes(&self.chain_id, &proposal));
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<WickContext>,
        ext: Extension,
    ) -> Result<SignedExtension<WickContext>, SigningError> {
        let signature = self.sign(&extension_bytes(&self.chain_id, &scope, &ext));
        Ok(SignedMessage::new(ext, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<WickContext>, SigningError> {
        let signature = self.sign(&peer_proof_bytes(&self.chain_id, &public_key, &peer_id));
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}
