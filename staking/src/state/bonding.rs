//! Bonding: registering a worker, its own stake, delegations, and unbonding into the queue that
//! the epoch end releases. Unbonding stake stays slashable for infractions committed while it
//! was bonded; a jailed worker cannot start unbonding its own stake until the evidence window of
//! its slash has closed.

use super::apply::{Signer, positive};
use super::{BPS, Bond, Jail, State, Unbonding, Worker, add};
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
        self.may_unbond(w.jail)?;
        let stake = w
            .self_stake
            .checked_sub(amount)
            .ok_or(TxError::InsufficientStake { bonded: w.self_stake, requested: amount })?;
        let (key, entry) = self.unbonding_plus(me.address, me.address, Bond::Worker, amount)?;
        self.workers.get_mut(&me.address).ok_or(TxError::NotWorker)?.self_stake = stake;
        self.unbonding.insert(key, entry);
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
        if w.jailed() {
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

    /// Starts unbonding `amount` of the signer's delegation to `worker` (allowed while the
    /// worker is jailed: the entry stays slashable for what the worker did while it was bonded).
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
        let (key, entry) = self.unbonding_plus(me.address, worker, Bond::Worker, amount)?;
        self.workers.get_mut(&worker).ok_or(TxError::NotWorker)?.delegated = total;
        if left.0 == 0 {
            self.delegations.remove(&(me.address, worker));
        } else {
            self.delegations.insert((me.address, worker), left);
        }
        self.unbonding.insert(key, entry);
        Ok(after)
    }

    /// Ends the signer's jail term (a worker's or a router's) once it is over.
    pub(crate) fn unjail(&mut self, me: &Signer) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let jail = match (self.workers.get(&me.address), self.routers.get(&me.address)) {
            (Some(w), _) if w.jail.is_some() => w.jail,
            (_, Some(r)) if r.jail.is_some() => r.jail,
            _ => return Err(TxError::NotJailed),
        };
        if let Some(j) = jail
            && self.epoch < j.until
        {
            return Err(TxError::StillJailed { until: j.until });
        }
        if let Some(w) = self.workers.get_mut(&me.address) {
            w.jail = None;
        }
        if let Some(r) = self.routers.get_mut(&me.address) {
            r.jail = None;
        }
        Ok(after)
    }

    /// Refuses unbonding by a jailed key whose slash's evidence window is still open.
    pub(crate) fn may_unbond(&self, jail: Option<Jail>) -> Result<(), TxError> {
        match jail {
            Some(j) if self.epoch < j.since.saturating_add(self.params.evidence_epochs) => {
                Err(TxError::JailedUnbonding { until: j.since.saturating_add(self.params.evidence_epochs) })
            }
            _ => Ok(()),
        }
    }

    /// The unbonding entry for `amount` of `owner`'s stake bonded to `from` as `bond`, started
    /// now, merged with an entry released in the same epoch.
    pub(crate) fn unbonding_plus(
        &self,
        owner: Address,
        from: Address,
        bond: Bond,
        amount: Amount,
    ) -> Result<(super::UnbondingKey, Unbonding), TxError> {
        let key = (self.epoch.saturating_add(self.params.unbonding_epochs), owner, from, bond);
        let mut entry = self
            .unbonding
            .get(&key)
            .copied()
            .unwrap_or(Unbonding { amount: Amount::ZERO, started: self.epoch });
        entry.amount = add(entry.amount, amount)?;
        // Merged entries keep the earliest start: the more slashable choice.
        entry.started = entry.started.min(self.epoch);
        Ok((key, entry))
    }
}
