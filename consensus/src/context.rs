//! Wick's consensus context: what Malachite's `Context` names — heights, validator addresses,
//! validator sets, the decided value (a block's hash), proposals, their parts and votes.

use std::fmt;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types::{
    self as core, LinearTimeouts, NilOrVal, Round, SignedExtension, ValidatorSet as _, VoteType, VotingPower,
};

use crate::signing::{Ed25519, PublicKey};

/// Wick's context for the engine. Stateless: the chain id lives in the signer and verifier.
#[derive(Clone, Copy, Debug, Default)]
pub struct WickContext;

/// A block height (the first decided block is height 1).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its ed25519 public key, as for every other ledger identity.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 32]);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", &hex::encode(self.0)[..12])
    }
}

impl core::Address for Address {}

/// What consensus decides: the sha256 of the proposed block's bytes. The block itself travels
/// as proposal parts, so votes and proposals stay small whatever the block's size.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct BlockHash(pub [u8; 32]);

impl BlockHash {
    /// The hash of a block's bytes.
    pub fn of(block: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        BlockHash(Sha256::digest(block).into())
    }
}

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0[..8]))
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({self})")
    }
}

impl core::Value for BlockHash {
    type Id = BlockHash;

    fn id(&self) -> BlockHash {
        *self
    }
}

/// A validator of one height: key and voting power (its bonded stake, as the ledger says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// Its address (the key's bytes).
    pub address: Address,
    /// Its key, decoded once.
    pub public_key: PublicKey,
    /// Voting power.
    pub voting_power: VotingPower,
}

impl core::Validator<WickContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// The validators of one height, by power (descending) then address, as the engine requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Arc<Vec<Validator>>,
}

/// Why a validator set could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    /// No validator with power.
    #[error("the validator set is empty")]
    Empty,
    /// A key that is not a valid ed25519 point.
    #[error("validator {0} has an invalid ed25519 key")]
    BadKey(String),
    /// The same key twice.
    #[error("validator {0} is listed twice")]
    Duplicate(String),
}

impl ValidatorSet {
    /// A set from (key, power) pairs; validators without power are left out.
    pub fn new(members: impl IntoIterator<Item = ([u8; 32], u64)>) -> Result<Self, ValidatorSetError> {
        let mut validators = Vec::new();
        for (key, power) in members {
            if power == 0 {
                continue;
            }
            let public_key =
                PublicKey::from_bytes(key).ok_or_else(|| ValidatorSetError::BadKey(hex::encode(key)))?;
            validators.push(Validator { address: Address(key), public_key, voting_power: power });
        }
        validators.sort_by(|a, b| b.voting_power.cmp(&a.voting_power).then(a.address.cmp(&b.address)));
        if let Some(w) = validators.windows(2).find(|w| w[0].address == w[1].address) {
            return Err(ValidatorSetError::Duplicate(w[0].address.to_string()));
        }
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        Ok(ValidatorSet { validators: Arc::new(validators) })
    }

    /// The validators, in the engine's order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl core::ValidatorSet<WickContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().fold(0u64, |s, v| s.saturating_add(v.voting_power))
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A proposal: the block's hash, which the proposer streams as parts.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed block's hash.
    pub value: BlockHash,
    /// Proof-of-lock round (Nil for a new value).
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl core::Proposal<WickContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockHash {
        &self.value
    }

    fn take_value(self) -> BlockHash {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// A prevote or precommit.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Prevote or precommit.
    pub typ: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockHash>,
    /// The voter.
    pub validator: Address,
    /// Vote extensions are not used by Wick: any the engine attaches is refused by the app.
    pub extension: Option<SignedExtension<WickContext>>,
}

impl core::Vote<WickContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.typ
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<WickContext>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<WickContext>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<WickContext>) -> Self {
        Vote { extension: Some(extension), ..self }
    }
}

/// A vote extension's bytes (unused by Wick; the type must exist for the engine).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Extension(pub Vec<u8>);

impl core::Extension for Extension {
    fn size_bytes(&self) -> usize {
        self.0.len()
    }
}

/// One part of a streamed proposal: who proposes at which height and round, the block's bytes
/// in chunks, and the proposer's signature over the whole.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    /// First part.
    Init(ProposalInit),
    /// A chunk of the block's bytes.
    Data(Vec<u8>),
    /// Last part: the proposer's signature over (height, round, block hash).
    Fin(crate::signing::Signature),
}

/// What the first part of a proposal says.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProposalInit {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Proof-of-lock round.
    pub pol_round: Round,
    /// Proposer.
    pub proposer: Address,
}

impl core::ProposalPart<WickContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init(_))
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

impl core::Context for WickContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockHash;
    type Vote = Vote;
    type Extension = Extension;
    type SigningScheme = Ed25519;

    /// Weighted by voting power: a hash of (height, round) picks a point in the set's total
    /// power, and the validator whose share holds it proposes. Deterministic (every node picks
    /// the same one), and many small validators get no more turns than one with their
    /// combined stake.
    fn select_proposer<'a>(&self, set: &'a ValidatorSet, height: Height, round: Round) -> &'a Validator {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"wick.v1.Proposer");
        h.update(height.0.to_be_bytes());
        h.update(round.as_i64().to_be_bytes());
        let digest = h.finalize();
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest[..8]);
        let total = u128::from(set.total_voting_power().max(1));
        let mut point = u128::from(u64::from_be_bytes(seed)) % total;
        for v in set.validators.iter() {
            let power = u128::from(v.voting_power);
            if point < power {
                return v;
            }
            point -= power;
        }
        // Unreachable: the powers sum to `total`, and a set is never empty (`ValidatorSet::new`).
        &set.validators[0]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockHash,
        pol_round: Round,
        proposer: Address,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockHash>,
        validator: Address,
    ) -> Vote {
        Vote { typ: VoteType::Prevote, height, round, value, validator, extension: None }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockHash>,
        validator: Address,
    ) -> Vote {
        Vote { typ: VoteType::Precommit, height, round, value, validator, extension: None }
    }
}
