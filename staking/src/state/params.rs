//! Governance parameters: their defaults and the bounds a proposal must respect.

use crate::error::TxError;
use crate::tx::ParamKey;

/// Basis points in one.
pub(crate) const BPS: u128 = 10_000;

/// Governance parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Tokens minted per epoch (R).
    pub epoch_reward: u128,
    /// Epochs an unbonding waits before release.
    pub unbonding_epochs: u64,
    /// Slash fraction, bps.
    pub slash_bps: u128,
    /// Reporter's part of a slash, bps.
    pub reporter_bps: u128,
    /// Quorum, bps of bonded stake.
    pub quorum_bps: u128,
    /// Yes threshold, bps of votes cast.
    pub threshold_bps: u128,
    /// Epochs a proposal is open.
    pub voting_epochs: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            epoch_reward: 1_000_000,
            unbonding_epochs: 2,
            slash_bps: 1_000,
            reporter_bps: 5_000,
            quorum_bps: 3_340,
            threshold_bps: 5_000,
            voting_epochs: 1,
        }
    }
}

impl Params {
    /// Sets `key` to `v` (already checked by [`Params::check`]).
    pub(crate) fn set(&mut self, key: ParamKey, v: u128) {
        match key {
            ParamKey::EpochReward => self.epoch_reward = v,
            ParamKey::UnbondingEpochs => self.unbonding_epochs = v as u64,
            ParamKey::SlashBps => self.slash_bps = v,
            ParamKey::ReporterBps => self.reporter_bps = v,
            ParamKey::QuorumBps => self.quorum_bps = v,
            ParamKey::ThresholdBps => self.threshold_bps = v,
            ParamKey::VotingEpochs => self.voting_epochs = v as u64,
        }
    }

    /// Whether `v` is an allowed value of `key`.
    pub(crate) fn check(key: ParamKey, v: u128) -> Result<(), TxError> {
        let ok = match key {
            ParamKey::EpochReward => true,
            ParamKey::UnbondingEpochs | ParamKey::VotingEpochs => (1..=1_000).contains(&v),
            ParamKey::SlashBps | ParamKey::ReporterBps | ParamKey::QuorumBps | ParamKey::ThresholdBps => {
                v <= BPS
            }
        };
        if ok { Ok(()) } else { Err(TxError::BadParam(format!("{key:?} = {v}"))) }
    }
}
