//! Bonding: registering a worker, its own stake, delegations, and unbonding into the queue that
//! the epoch end releases.

use super::apply::{Signer, positive};
use super::{BPS, State, Worker, add};
use crate::error::TxError;
use crate::types::{Address, Amount};

impl State {
    /// Registers the signer as a worker.
    pub(crate) fn register_worker(&mut self, me: &Signer, commission_bps: u32) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        if u128::from(commission_bps) > BPS {
            return Err(TxError::BadCommission(commission_bps));
        }
        if self.workers.contains_key(&me.address) {
            return Err(TxError::AlreadyWorker);
        }
        self.workers.insert(me.address, Worker { commission_bps, ..Default::default() });
        Ok(after)
    }

    /// Bonds `amount` of the signer's balance to its own worker.
    pub(crate) fn stake(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        positive(amount)?;
        let after = me.spend(amount)?;
        let w = self.workers.get_mut(&me.address).ok_or(TxError::NotWorker)?;
        let stake = add(w.self_stake, amount)?;
        add(stake, w.delegated)?;
        w.self_stake = stake;
        Ok(after)
    }

    /// Starts unbonding `amount` of the signer's own stake.
    pub(crate) fn unstake(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        positive(amount)?;
        let after = me.spend(Amount::ZERO)?;
        let w = self.workers.get(&me.address).ok_or(TxError::NotWorker)?;
        let stake = w
            .self_stake
            .checked_sub(amount)
            .ok_or(TxError::InsufficientStake { bonded: w.self_stake, requested: amount })?;
        let (release, unbonding) = self.unbonding_plus(me.address, amount)?;
        self.workers.get_mut(&me.address).ok_or(TxError::NotWorker)?.self_stake = stake;
        self.unbonding.insert((release, me.address), unbonding);
        Ok(after)
    }

    /// Bonds `amount` of the signer's balance to `worker`.
    pub(crate) fn delegate(
        &mut self,
        me: &Signer,
        worker: Address,
        amount: Amount,
    ) -> Result<Amount, TxError> {
        positive(amount)?;
        let after = me.spend(amount)?;
        let w = self.workers.get(&worker).ok_or(TxError::NotWorker)?;
        if w.jailed {
            return Err(TxError::Jailed);
        }
        let total = add(w.delegated, amount)?;
        add(total, w.self_stake)?;
        let delegation =
            add(self.delegations.get(&(me.address, worker)).copied().unwrap_or_default(), amount)?;
        self.workers.get_mut(&worker).ok_or(TxError::NotWorker)?.delegated = total;
        self.delegations.insert((me.address, worker), delegation);
        Ok(after)
    }

    /// Starts unbonding `amount` of the signer's delegation to `worker`.
    pub(crate) fn undelegate(
        &mut self,
        me: &Signer,
        worker: Address,
        amount: Amount,
    ) -> Result<Amount, TxError> {
        positive(amount)?;
        let after = me.spend(Amount::ZERO)?;
        let bonded = self.delegations.get(&(me.address, worker)).copied().unwrap_or_default();
        let left =
            bonded.checked_sub(amount).ok_or(TxError::InsufficientStake { bonded, requested: amount })?;
        let w = self.workers.get(&worker).ok_or(TxError::NotWorker)?;
        let total = w.delegated.checked_sub(amount).ok_or(TxError::Overflow)?;
        let (release, unbonding) = self.unbonding_plus(me.address, amount)?;
        self.workers.get_mut(&worker).ok_or(TxError::NotWorker)?.delegated = total;
        if left.0 == 0 {
            self.delegations.remove(&(me.address, worker));
        } else {
            self.delegations.insert((me.address, worker), left);
        }
        self.unbonding.insert((release, me.address), unbonding);
        Ok(after)
    }

    /// The epoch `owner`'s unbonding started now is released in, and that entry plus `amount`.
    fn unbonding_plus(&self, owner: Address, amount: Amount) -> Result<(u64, Amount), TxError> {
        let release = self.epoch.saturating_add(self.params.unbonding_epochs);
        let entry = self.unbonding.get(&(release, owner)).copied().unwrap_or_default();
        Ok((release, add(entry, amount)?))
    }
}
