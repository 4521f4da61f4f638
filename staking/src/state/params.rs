//! Governance parameters: their defaults and the bounds every value must respect, at genesis, in
//! a proposal and again when a passed change takes effect.
//!
//! | parameter | bounds | why |
//! | --- | --- | --- |
//! | `epoch_reward` | 0 ..= supply / 100 (proposals; a genesis may set any) | inflation per epoch stays a small part of the supply |
//! | `unbonding_epochs` | `evidence_epochs` + 1 ..= 1000 | stake stays slashable for the whole evidence window |
//! | `slash_bps` | 100 ..= 5000 | a proven lie always costs, and never takes everything |
//! | `reporter_bps` | 0 ..= 5000 | the reporter's part of a slash (capped again by the accused's own loss) |
//! | `quorum_bps` | 3340 ..= 10000 | no decision by fewer than a third of the bonded stake |
//! | `threshold_bps` | 5000 ..= 9000 | a majority at least; unanimity never required |
//! | `voting_epochs` | 1 ..= 100 | every vote lasts at least one full epoch |
//! | `timelock_epochs` | 1 ..= 100 | a passed change waits at least one epoch before it applies |
//! | `evidence_epochs` | 1 ..= `unbonding_epochs` − 1 | how old an infraction can still be proven |
//! | `jail_epochs` | 1 ..= 1000 | how long a slashed worker or router stays jailed |
//! | `min_fee` | 1 ..= 10^9 | every transaction pays something |
//! | `fee_per_byte` | 0 ..= 10^6 | larger transactions pay more |
//! | `work_fee_bps` | 0 ..= 5000 | the part of every work payment that is burned |
//! | `max_validators` | 1 ..= 150 | a set small enough for every validator to hear every vote, never none |
//! | `min_validator_stake` | 1 ..= supply / 100 (proposals; a genesis may set any) | a validator always has stake to lose; governance cannot price out everyone but the richest |

use crate::error::TxError;
use crate::tx::ParamKey;

/// Basis points in one.
pub(crate) const BPS: u128 = 10_000;

/// Governance parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Tokens minted per epoch at most (R), shared by paid work.
    pub epoch_reward: u128,
    /// Epochs an unbonding waits before release.
    pub unbonding_epochs: u64,
    /// Slash fraction, bps.
    pub slash_bps: u128,
    /// Reporter's part of a slash, bps (never more than the accused's own loss).
    pub reporter_bps: u128,
    /// Quorum, bps of the bonded stake snapshotted when voting opened.
    pub quorum_bps: u128,
    /// Yes threshold, bps of the votes cast.
    pub threshold_bps: u128,
    /// Epochs a proposal is open for votes.
    pub voting_epochs: u64,
    /// Epochs a passed change waits before it applies.
    pub timelock_epochs: u64,
    /// Epochs after an infraction during which it can be proven.
    pub evidence_epochs: u64,
    /// Epochs a slashed worker or router stays jailed before it may unjail.
    pub jail_epochs: u64,
    /// Smallest fee of any transaction.
    pub min_fee: u128,
    /// Fee per byte of the transaction's wire encoding, on top of `min_fee`.
    pub fee_per_byte: u128,
    /// Part of every work payment burned, bps; also the cap of a worker's inflation share per
    /// unit paid, so fake work never mints more than it burns.
    pub work_fee_bps: u128,
    /// Most validators in the active set (the largest stakes).
    pub max_validators: u64,
    /// Least stake that puts a validator in the active set.
    pub min_validator_stake: u128,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            epoch_reward: 1_000_000,
            unbonding_epochs: 3,
            slash_bps: 1_000,
            reporter_bps: 5_000,
            quorum_bps: 3_340,
            threshold_bps: 5_000,
            voting_epochs: 1,
            timelock_epochs: 1,
            evidence_epochs: 2,
            jail_epochs: 2,
            min_fee: 10,
            fee_per_byte: 1,
            work_fee_bps: 1_000,
            max_validators: 100,
            min_validator_stake: 1,
        }
    }
}

impl Params {
    /// The value of `key`.
    pub fn get(&self, key: ParamKey) -> u128 {
        match key {
            ParamKey::EpochReward => self.epoch_reward,
            ParamKey::UnbondingEpochs => self.unbonding_epochs.into(),
            ParamKey::SlashBps => self.slash_bps,
            ParamKey::ReporterBps => self.reporter_bps,
            ParamKey::QuorumBps => self.quorum_bps,
            ParamKey::ThresholdBps => self.threshold_bps,
            ParamKey::VotingEpochs => self.voting_epochs.into(),
            ParamKey::TimelockEpochs => self.timelock_epochs.into(),
            ParamKey::EvidenceEpochs => self.evidence_epochs.into(),
            ParamKey::JailEpochs => self.jail_epochs.into(),
            ParamKey::MinFee => self.min_fee,
            ParamKey::FeePerByte => self.fee_per_byte,
            ParamKey::WorkFeeBps => self.work_fee_bps,
            ParamKey::MaxValidators => self.max_validators.into(),
            ParamKey::MinValidatorStake => self.min_validator_stake,
        }
    }

    /// Sets `key` to `v` (checked by [`Params::check`] first).
    pub(crate) fn set(&mut self, key: ParamKey, v: u128) {
        // The u64 parameters (epochs, a count): their bounds keep them far below u64::MAX.
        let epochs = u64::try_from(v).unwrap_or(u64::MAX);
        match key {
            ParamKey::EpochReward => self.epoch_reward = v,
            ParamKey::UnbondingEpochs => self.unbonding_epochs = epochs,
            ParamKey::SlashBps => self.slash_bps = v,
            ParamKey::ReporterBps => self.reporter_bps = v,
            ParamKey::QuorumBps => self.quorum_bps = v,
            ParamKey::ThresholdBps => self.threshold_bps = v,
            ParamKey::VotingEpochs => self.voting_epochs = epochs,
            ParamKey::TimelockEpochs => self.timelock_epochs = epochs,
            ParamKey::EvidenceEpochs => self.evidence_epochs = epochs,
            ParamKey::JailEpochs => self.jail_epochs = epochs,
            ParamKey::MinFee => self.min_fee = v,
            ParamKey::FeePerByte => self.fee_per_byte = v,
            ParamKey::WorkFeeBps => self.work_fee_bps = v,
            ParamKey::MaxValidators => self.max_validators = epochs,
            ParamKey::MinValidatorStake => self.min_validator_stake = v,
        }
    }

    /// The allowed range of `key`, given the other parameters and the supply (see the table).
    pub fn bounds(&self, key: ParamKey, supply: u128) -> (u128, u128) {
        let unbonding = u128::from(self.unbonding_epochs);
        let percent = if supply == u128::MAX { u128::MAX } else { supply / 100 };
        match key {
            ParamKey::EpochReward => (0, percent),
            ParamKey::UnbondingEpochs => (u128::from(self.evidence_epochs) + 1, 1_000),
            ParamKey::SlashBps => (100, 5_000),
            ParamKey::ReporterBps => (0, 5_000),
            ParamKey::QuorumBps => (3_340, BPS),
            ParamKey::ThresholdBps => (5_000, 9_000),
            ParamKey::VotingEpochs | ParamKey::TimelockEpochs => (1, 100),
            ParamKey::EvidenceEpochs => (1, unbonding.saturating_sub(1)),
            ParamKey::JailEpochs => (1, 1_000),
            ParamKey::MinFee => (1, 1_000_000_000),
            ParamKey::FeePerByte => (0, 1_000_000),
            ParamKey::WorkFeeBps => (0, 5_000),
            ParamKey::MaxValidators => (1, 150),
            ParamKey::MinValidatorStake => (1, percent),
        }
    }

    /// Whether `key = v` is within its bounds (see [`Params::bounds`]).
    pub fn check(&self, key: ParamKey, v: u128, supply: u128) -> Result<(), TxError> {
        let (lo, hi) = self.bounds(key, supply);
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(TxError::BadParam(format!("{} = {v} is outside {lo} ..= {hi}", key.name())))
        }
    }

    /// Whether every parameter is within its bounds, but for the supply-relative bound of
    /// `epoch_reward`, which only proposals face: a genesis's parameters must be.
    pub fn check_genesis(&self) -> Result<(), TxError> {
        ParamKey::ALL.iter().try_for_each(|k| self.check(*k, self.get(*k), u128::MAX))
    }

    /// The fee a transaction of `wire_len` bytes must at least pay.
    pub fn required_fee(&self, wire_len: usize) -> u128 {
        self.min_fee.saturating_add(self.fee_per_byte.saturating_mul(wire_len as u128))
    }
}
