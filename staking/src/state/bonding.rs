//! Bonding: registering a worker, own stake in each role (a worker's, a router's, a
//! validator's: one path for all three), delegations, and unbonding into the queue that the
//! epoch end releases. Unbonding stake stays slashable for infractions committed while it was
//! bonded; a jailed key cannot start unbonding its own stake until the evidence window of its
//! slash has closed.

use super::apply::{Signer, positive};
use super::{BPS, Bond, Jail, State, Unbonding, Worker, add};
use crate::error::TxError;
use crate::types::{Address, Amount};

/// A key's own stake in one role, what must not overflow with it, and the role's jail.
#[derive(Default)]
struct OwnStake {
    stake: Amount,
    jail: Option<Jail>,
    /// Delegations to a worker (the sum with its own stake must fit).
    delegated: Amount,
}

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
        self.bond_own(me, Bond::Worker, amount)
    }

    /// Starts unbonding `amount` of the signer's own stake.
    pub(crate) fn unstake(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        self.unbond_own(me, Bond::Worker, amount)
    }

    /// Bonds `amount` of the signer's balance as its own stake in role `bond` (a worker's own
    /// stake, a router's or a validator's stake; a first validator bond registers the validator).
    pub(crate) fn bond_own(&mut self, me: &Signer, bond: Bond, amount: Amount) -> Result<Amount, TxError> {
        positive(amount)?;
        let after = me.spend(amount)?;
        let own = match self.own_stake(&me.address, bond) {
            Err(TxError::NotValidator) => OwnStake::default(),
            r => r?,
        };
        let stake = add(own.stake, amount)?;
        add(stake, own.delegated)?;
        self.set_own_stake(me.address, bond, stake)?;
        Ok(after)
    }

    /// Starts unbonding `amount` of the signer's own stake in role `bond`: refused while the key
    /// is jailed within its slash's evidence window; slashable until released.
    pub(crate) fn unbond_own(&mut self, me: &Signer, bond: Bond, amount: Amount) -> Result<Amount, TxError> {
        positive(amount)?;
        let after = me.spend(Amount::ZERO)?;
        let own = self.own_stake(&me.address, bond)?;
        self.may_unbond(own.jail)?;
        let stake = own
            .stake
            .checked_sub(amount)
            .ok_or(TxError::InsufficientStake { bonded: own.stake, requested: amount })?;
        let (key, entry) = self.unbonding_plus(me.address, me.address, bond, amount)?;
        self.set_own_stake(me.address, bond, stake)?;
        self.unbonding.insert(key, entry);
        Ok(after)
    }

    /// `a`'s own stake in role `bond` (a router's escrow for [`Bond::Escrow`]), or the error
    /// naming the role it does not have.
    fn own_stake(&self, a: &Address, bond: Bond) -> Result<OwnStake, TxError> {
        let own = |stake, jail| OwnStake { stake, jail, delegated: Amount::ZERO };
        match bond {
            Bond::Worker => self
                .workers
                .get(a)
                .map(|w| OwnStake { stake: w.self_stake, jail: w.jail, delegated: w.delegated })
                .ok_or(TxError::NotWorker),
            Bond::Router => self.routers.get(a).map(|r| own(r.stake, r.jail)).ok_or(TxError::NotRouter),
            Bond::Escrow => self.routers.get(a).map(|r| own(r.escrow, None)).ok_or(TxError::NotRouter),
            Bond::Validator => {
                self.validators.get(a).map(|v| own(v.stake, v.jail)).ok_or(TxError::NotValidator)
            }
        }
    }

    /// Sets `a`'s own stake in role `bond` (registering a validator that is not yet one).
    fn set_own_stake(&mut self, a: Address, bond: Bond, stake: Amount) -> Result<(), TxError> {
        match bond {
            Bond::Worker => self.workers.get_mut(&a).ok_or(TxError::NotWorker)?.self_stake = stake,
            Bond::Router => self.routers.get_mut(&a).ok_or(TxError::NotRouter)?.stake = stake,
            Bond::Escrow => self.routers.get_mut(&a).ok_or(TxError::NotRouter)?.escrow = stake,
            Bond::Validator => self.validators.entry(a).or_default().stake = stake,
        }
        Ok(())
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

    /// Ends the signer's jail terms (as a worker, a router and a validator) once all are over:
    /// a key jailed in two roles cannot leave the later term early on the strength of the
    /// earlier one.
    pub(crate) fn unjail(&mut self, me: &Signer) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let a = &me.address;
        let jails = [
            self.workers.get(a).and_then(|w| w.jail),
            self.routers.get(a).and_then(|r| r.jail),
            self.validators.get(a).and_then(|v| v.jail),
        ];
        let until = jails.iter().flatten().map(|j| j.until).max().ok_or(TxError::NotJailed)?;
        if self.epoch < until {
            return Err(TxError::StillJailed { until });
        }
        if let Some(w) = self.workers.get_mut(a) {
            w.jail = None;
        }
        if let Some(r) = self.routers.get_mut(a) {
            r.jail = None;
        }
        if let Some(v) = self.validators.get_mut(a) {
            v.jail = None;
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
