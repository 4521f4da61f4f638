//! Governance: parameter-change proposals, votes weighted by bonded stake, and the tally at the
//! end of a proposal's last voting epoch (step 6 of the epoch end).

use std::collections::BTreeMap;

use super::apply::Signer;
use super::{BPS, Params, Proposal, State};
use crate::error::TxError;
use crate::tx::ParamKey;
use crate::types::{Amount, mul_div};

impl State {
    /// Opens a proposal to set `key` to `value`; only holders of voting power may propose.
    pub(crate) fn propose(&mut self, me: &Signer, key: ParamKey, value: u128) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        Params::check(key, value)?;
        if self.voting_power(&me.address) == 0 {
            return Err(TxError::NoVotingPower);
        }
        let id = self.proposals.keys().next_back().map_or(0, |k| k + 1);
        let voting_end = self.epoch.saturating_add(self.params.voting_epochs).saturating_sub(1);
        self.proposals.insert(id, Proposal { key, value, voting_end, votes: BTreeMap::new(), passed: None });
        Ok(after)
    }

    /// Records the signer's vote on an open proposal.
    pub(crate) fn vote(&mut self, me: &Signer, proposal: u64, yes: bool) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let p = self.proposals.get(&proposal).ok_or(TxError::NoProposal(proposal))?;
        if p.passed.is_some() || self.epoch > p.voting_end {
            return Err(TxError::VotingClosed { proposal, ended: p.voting_end });
        }
        if p.votes.contains_key(&me.address) {
            return Err(TxError::AlreadyVoted(proposal));
        }
        if self.voting_power(&me.address) == 0 {
            return Err(TxError::NoVotingPower);
        }
        let p = self.proposals.get_mut(&proposal).ok_or(TxError::NoProposal(proposal))?;
        p.votes.insert(me.address, yes);
        Ok(after)
    }

    /// Step 6: tallies the proposals whose voting ends with epoch `e` by current voting power;
    /// passed changes apply from the next epoch.
    pub(crate) fn tally_proposals(&mut self, e: u64) {
        let bonded = self.total_bonded();
        let ending: Vec<u64> = self
            .proposals
            .iter()
            .filter(|(_, p)| p.voting_end == e && p.passed.is_none())
            .map(|(k, _)| *k)
            .collect();
        for id in ending {
            let passed = self.passes(&self.proposals[&id], bonded);
            if let Some(p) = self.proposals.get_mut(&id) {
                p.passed = Some(passed);
            }
        }
        let passed: Vec<(ParamKey, u128)> = self
            .proposals
            .values()
            .filter(|p| p.voting_end == e && p.passed == Some(true))
            .map(|p| (p.key, p.value))
            .collect();
        for (k, v) in passed {
            self.params.set(k, v);
        }
    }

    /// Whether `p` has its quorum of `bonded` and more yes than the threshold of the votes cast.
    fn passes(&self, p: &Proposal, bonded: u128) -> bool {
        let (mut yes, mut no) = (0u128, 0u128);
        for (voter, v) in &p.votes {
            let power = self.voting_power(voter);
            if *v { yes = yes.saturating_add(power) } else { no = no.saturating_add(power) }
        }
        let cast = yes.saturating_add(no);
        let quorum = mul_div(bonded, self.params.quorum_bps, BPS).unwrap_or(u128::MAX);
        let threshold = mul_div(cast, self.params.threshold_bps, BPS).unwrap_or(u128::MAX);
        cast > 0 && cast >= quorum && yes > threshold
    }
}
