//! Governance: bounded parameter changes. A proposal submitted in epoch `e` opens for votes in
//! `e + 1` with every staker's voting power snapshotted at that moment, stays open for
//! `voting_epochs` full epochs, is tallied against the snapshot when its last voting epoch ends,
//! and a passed change waits `timelock_epochs` more before it applies, if its value is still
//! within bounds then (see [`super::Params::bounds`]).

use std::collections::BTreeMap;

use super::apply::Signer;
use super::{BPS, Params, PowerSnapshot, Proposal, ProposalStatus, State};
use crate::error::TxError;
use crate::tx::ParamKey;
use crate::types::{Amount, mul_div};

impl State {
    /// Submits a proposal to set `key` to `value`; only holders of voting power may propose.
    pub(crate) fn propose(&mut self, me: &Signer, key: ParamKey, value: u128) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        self.params.check(key, value, self.supply.0)?;
        if self.voting_power(&me.address) == 0 {
            return Err(TxError::NoVotingPower);
        }
        if self.proposals.values().any(|p| p.proposer == me.address && p.is_open()) {
            return Err(TxError::Duplicate);
        }
        let id = self.proposals.keys().next_back().map_or(0, |k| k + 1);
        let voting_start = self.epoch.saturating_add(1);
        let voting_end = voting_start.saturating_add(self.params.voting_epochs).saturating_sub(1);
        let p = Proposal {
            proposer: me.address,
            key,
            value,
            voting_start,
            voting_end,
            votes: BTreeMap::new(),
            status: ProposalStatus::Pending,
        };
        self.proposals.insert(id, p);
        Ok(after)
    }

    /// Records the signer's vote on a proposal open for votes, weighted by its snapshotted power.
    pub(crate) fn vote(&mut self, me: &Signer, proposal: u64, yes: bool) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let p = self.proposals.get(&proposal).ok_or(TxError::NoProposal(proposal))?;
        if p.status != ProposalStatus::Voting || !(p.voting_start..=p.voting_end).contains(&self.epoch) {
            return Err(TxError::VotingClosed { proposal, start: p.voting_start, end: p.voting_end });
        }
        if p.votes.contains_key(&me.address) {
            return Err(TxError::AlreadyVoted(proposal));
        }
        let power = self.snapshots.get(&p.voting_start).and_then(|s| s.power.get(&me.address));
        if power.copied().unwrap_or(0) == 0 {
            return Err(TxError::NoVotingPower);
        }
        let p = self.proposals.get_mut(&proposal).ok_or(TxError::NoProposal(proposal))?;
        p.votes.insert(me.address, yes);
        Ok(after)
    }

    /// Step 6a: tallies the proposals whose voting ends with epoch `e`; a passed change is due
    /// `timelock_epochs` after the next epoch starts.
    pub(crate) fn tally_proposals(&mut self, e: u64) {
        let timelock = self.params.timelock_epochs;
        let (quorum_bps, threshold_bps) = (self.params.quorum_bps, self.params.threshold_bps);
        for p in self.proposals.values_mut() {
            if p.status == ProposalStatus::Voting && p.voting_end == e {
                let snapshot = self.snapshots.get(&p.voting_start).cloned().unwrap_or_default();
                p.status = if passes(p, &snapshot, quorum_bps, threshold_bps) {
                    ProposalStatus::Passed { effective: e.saturating_add(1).saturating_add(timelock) }
                } else {
                    ProposalStatus::Rejected
                };
            }
        }
    }

    /// Step 6b (once the new epoch has started): opens voting on the proposals submitted in the
    /// last epoch, snapshotting voting power, and applies the passed changes due now, in
    /// proposal order, each still within bounds or void.
    pub(crate) fn open_and_apply_proposals(&mut self) {
        let epoch = self.epoch;
        if self.proposals.values().any(|p| p.status == ProposalStatus::Pending && p.voting_start <= epoch) {
            let snapshot = self.power_snapshot();
            self.snapshots.insert(epoch, snapshot);
        }
        let mut params = self.params.clone();
        let supply = self.supply.0;
        for p in self.proposals.values_mut() {
            match p.status {
                ProposalStatus::Pending if p.voting_start <= epoch => {
                    p.status = ProposalStatus::Voting;
                }
                ProposalStatus::Passed { effective } if effective <= epoch => {
                    p.status = apply_change(&mut params, p.key, p.value, supply);
                }
                _ => {}
            }
        }
        self.params = params;
        let in_use: std::collections::BTreeSet<u64> =
            self.proposals.values().filter(|p| p.is_open()).map(|p| p.voting_start).collect();
        self.snapshots.retain(|e, _| in_use.contains(e));
    }
}

/// Whether `p` has its quorum of the snapshotted bonded stake and more yes than the threshold
/// of the votes cast, weighing each vote by the voter's snapshotted power.
fn passes(p: &Proposal, snapshot: &PowerSnapshot, quorum_bps: u128, threshold_bps: u128) -> bool {
    let (mut yes, mut no) = (0u128, 0u128);
    for (voter, v) in &p.votes {
        let power = snapshot.power.get(voter).copied().unwrap_or(0);
        if *v { yes = yes.saturating_add(power) } else { no = no.saturating_add(power) }
    }
    let cast = yes.saturating_add(no);
    let quorum = mul_div(snapshot.bonded, quorum_bps, BPS).unwrap_or(u128::MAX);
    let threshold = mul_div(cast, threshold_bps, BPS).unwrap_or(u128::MAX);
    cast > 0 && cast >= quorum && yes > threshold
}

fn apply_change(params: &mut Params, key: ParamKey, value: u128, supply: u128) -> ProposalStatus {
    if params.check(key, value, supply).is_ok() {
        params.set(key, value);
        ProposalStatus::Applied
    } else {
        ProposalStatus::Void
    }
}
