//! Slashing: only deserved, and never profitable to provoke.
//!
//! - The reporter must have bonded stake and must not be the accused.
//! - The ticket must come from a router registered, bonded and unjailed now; audit witnesses
//!   must be bonded, unjailed workers other than the accused.
//! - The infraction (the ticket's epoch) must lie within the last `evidence_epochs` epochs, and
//!   each infraction is proven once (its key is kept until the window has passed).
//! - The slash cuts `slash_bps` of the accused's bonded stake, of every delegation to it, and of
//!   every unbonding entry bonded to it that started at or after the infraction's epoch (Cosmos
//!   x/slashing semantics: stake that left before the infraction is not touched).
//! - The reporter gets `reporter_bps` of the cut, but never more than the accused's own loss, so
//!   reporting oneself through another key never gains; the rest is burned. The accused is
//!   jailed for `jail_epochs` and cannot unbond until the evidence window of the slash closes.
//! - A validator's equivocation (two signed votes for one height and round, verified by the
//!   consensus crate) arrives with the decided block that carries it, not from a reporter:
//!   [`State::slash_equivocation`] cuts and jails the same way, and burns all of the cut, so the
//!   proposer that includes the evidence gains nothing.

use wick_proto::v1::{JobTicket, SignedReceipt};

use super::apply::Signer;
use sha2::{Digest, Sha256};

use super::{BPS, Bond, Jail, State, add};
use crate::error::TxError;
use crate::evidence::{self, TicketFacts};
use crate::types::{Address, Amount, mul_div};

/// What one slash cut.
struct Cut {
    /// Cut from the accused's own stake and own unbonding entries.
    own: u128,
    /// Cut in all (own, delegations, delegators' unbonding entries).
    total: u128,
}

impl State {
    /// Two conflicting receipts signed by one worker for one ticket.
    pub(crate) fn fraud_proof(
        &mut self,
        me: &Signer,
        ticket: &JobTicket,
        a: &SignedReceipt,
        b: &SignedReceipt,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let c = evidence::check_conflicting_receipts(ticket, a, b)?;
        self.admissible(me, &c.worker, &c.ticket)?;
        let cut = self.slash_worker(&c.worker, c.ticket.epoch)?;
        self.reward_reporter(after, c.ticket.job_hash, c.ticket.epoch, cut)
    }

    /// A router's audit evidence: the job's ticket and three or more workers' receipts.
    pub(crate) fn audit_proof(
        &mut self,
        me: &Signer,
        ticket: &JobTicket,
        receipts: &[SignedReceipt],
        accused: &Address,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let audit = evidence::check_audit(ticket, receipts, accused)?;
        self.admissible(me, accused, &audit.ticket)?;
        for w in &audit.witnesses {
            let ok = self.workers.get(w).is_some_and(|w| w.self_stake.0 > 0 && !w.jailed());
            if !ok {
                return Err(TxError::NotBonded("a witness"));
            }
        }
        let cut = self.slash_worker(accused, audit.ticket.epoch)?;
        self.reward_reporter(after, audit.ticket.job_hash, audit.ticket.epoch, cut)
    }

    /// Two different tickets of one router for one job id.
    pub(crate) fn router_equivocation(
        &mut self,
        me: &Signer,
        a: &JobTicket,
        b: &JobTicket,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let e = evidence::check_router_equivocation(a, b)?;
        self.reporter_may_report(me, &e.router)?;
        self.within_window(e.epoch)?;
        if self.proven.contains_key(&e.key) {
            return Err(TxError::Duplicate);
        }
        if !self.routers.contains_key(&e.router) {
            return Err(TxError::NotRouter);
        }
        let cut = self.slash_router(&e.router, e.epoch)?;
        self.reward_reporter(after, e.key, e.epoch, cut)
    }

    /// Applies verified double-vote evidence of `validator` at `height`: slashes `slash_bps` of
    /// its stake and of its stake unbonding since the infraction's epoch, burns all of it and
    /// jails it (it leaves the active set at the next epoch end). Returns the amount burned.
    /// Refused, changing nothing: a key that is not a validator, a height not yet applied or
    /// older than the evidence window, the same (validator, height) a second time, a validator
    /// already jailed (one slash per jail term).
    pub fn slash_equivocation(&mut self, validator: Address, height: u64) -> Result<Amount, TxError> {
        if !self.validators.contains_key(&validator) {
            return Err(TxError::NotValidator);
        }
        let epoch = self.epoch_of_height(height).ok_or(TxError::EquivocationHeight {
            height,
            oldest: self.epoch_heights.values().next().copied().unwrap_or(1),
            current: self.height,
        })?;
        // Governance may have shortened the window since the epoch's height was recorded.
        self.within_window(epoch)?;
        let key = equivocation_key(&validator, height);
        if self.proven.contains_key(&key) {
            return Err(TxError::Duplicate);
        }
        // One slash per jail term (as Cosmos tombstones a double signer): a validator that
        // equivocates at every height until its jail takes effect loses `slash_bps` once.
        if self.validators.get(&validator).is_some_and(|v| v.jail.is_some()) {
            return Err(TxError::Jailed);
        }
        let cut = self.slash_validator(&validator, epoch)?;
        self.burn(cut)?;
        self.proven.insert(key, epoch);
        Ok(Amount(cut))
    }

    /// The state's part of a worker's evidence: reporter, ticket router, window, once.
    fn admissible(&self, me: &Signer, accused: &Address, ticket: &TicketFacts) -> Result<(), TxError> {
        self.reporter_may_report(me, accused)?;
        if !self.routers.get(&ticket.router).is_some_and(|r| r.in_good_standing()) {
            return Err(TxError::NotBonded("the ticket's router"));
        }
        self.within_window(ticket.epoch)?;
        if self.proven.contains_key(&ticket.job_hash) {
            return Err(TxError::Duplicate);
        }
        if !self.workers.contains_key(accused) {
            return Err(TxError::NotWorker);
        }
        Ok(())
    }

    /// The reporter must be bonded and must not be the accused.
    fn reporter_may_report(&self, me: &Signer, accused: &Address) -> Result<(), TxError> {
        if me.address == *accused {
            return Err(TxError::SelfReport);
        }
        if !self.is_bonded(&me.address) {
            return Err(TxError::NotBonded("the reporter"));
        }
        Ok(())
    }

    /// An infraction in `epoch` can be proven until `evidence_epochs` epochs have passed.
    fn within_window(&self, epoch: u64) -> Result<(), TxError> {
        let oldest = self.epoch.saturating_sub(self.params.evidence_epochs);
        if epoch < oldest || epoch > self.epoch {
            return Err(TxError::EvidenceTooOld { infraction: epoch, oldest, current: self.epoch });
        }
        Ok(())
    }

    /// Records the infraction as proven, pays the reporter (capped by the accused's own loss)
    /// and burns the rest of the cut.
    fn reward_reporter(
        &mut self,
        after: Amount,
        key: [u8; 32],
        epoch: u64,
        cut: Cut,
    ) -> Result<Amount, TxError> {
        let share = mul_div(cut.total, self.params.reporter_bps, BPS).ok_or(TxError::Overflow)?;
        let reward = share.min(cut.own);
        let after = add(after, Amount(reward))?;
        self.burn(cut.total - reward)?;
        self.proven.insert(key, epoch);
        Ok(after)
    }

    /// Burns `amount` of slashed stake (it was part of the supply, so this cannot underflow).
    fn burn(&mut self, amount: u128) -> Result<(), TxError> {
        self.burned = add(self.burned, Amount(amount))?;
        self.supply = Amount(self.supply.0 - amount);
        Ok(())
    }

    /// Cuts `slash_bps` of `worker`'s own stake, of each delegation to it and of the unbonding
    /// entries bonded to it since `infraction`; jails it. Supply and burn are the caller's.
    fn slash_worker(&mut self, worker: &Address, infraction: u64) -> Result<Cut, TxError> {
        let bps = self.params.slash_bps;
        let cut_of = |v: Amount| mul_div(v.0, bps, BPS).ok_or(TxError::Overflow);
        let w = self.workers.get(worker).ok_or(TxError::NotWorker)?.clone();
        let own_stake_cut = cut_of(w.self_stake)?;
        let mut delegation_cut = 0u128;
        for ((_, wk), v) in self.delegations.iter_mut() {
            if wk == worker {
                let c = cut_of(*v)?;
                v.0 -= c;
                delegation_cut += c;
            }
        }
        let (own_unbonding, other_unbonding) = self.cut_unbonding(worker, Bond::Worker, infraction)?;
        let jail = self.jail_term();
        let wm = self.workers.get_mut(worker).ok_or(TxError::NotWorker)?;
        wm.self_stake = Amount(w.self_stake.0 - own_stake_cut);
        wm.delegated = Amount(w.delegated.0 - delegation_cut);
        wm.jail = Some(jail);
        let own = own_stake_cut + own_unbonding;
        Ok(Cut { own, total: own + delegation_cut + other_unbonding })
    }

    /// Cuts `slash_bps` of `router`'s stake and of its stake unbonding since `infraction`; jails it.
    fn slash_router(&mut self, router: &Address, infraction: u64) -> Result<Cut, TxError> {
        let r = self.routers.get(router).ok_or(TxError::NotRouter)?.clone();
        let stake_cut = mul_div(r.stake.0, self.params.slash_bps, BPS).ok_or(TxError::Overflow)?;
        let (own_unbonding, _) = self.cut_unbonding(router, Bond::Router, infraction)?;
        let jail = self.jail_term();
        let rm = self.routers.get_mut(router).ok_or(TxError::NotRouter)?;
        rm.stake = Amount(r.stake.0 - stake_cut);
        rm.jail = Some(jail);
        let own = stake_cut + own_unbonding;
        Ok(Cut { own, total: own })
    }

    /// Cuts `slash_bps` of `validator`'s stake and of its stake unbonding since `infraction`;
    /// jails it. Returns the cut; supply and burn are the caller's. Within the bounds of
    /// `slash_bps` no cut exceeds what it cuts, so this fails before any write or not at all.
    fn slash_validator(&mut self, validator: &Address, infraction: u64) -> Result<u128, TxError> {
        let v = self.validators.get(validator).ok_or(TxError::NotValidator)?.clone();
        let stake_cut = mul_div(v.stake.0, self.params.slash_bps, BPS).ok_or(TxError::Overflow)?;
        let (unbonding_cut, _) = self.cut_unbonding(validator, Bond::Validator, infraction)?;
        let jail = self.jail_term();
        let vm = self.validators.get_mut(validator).ok_or(TxError::NotValidator)?;
        vm.stake = Amount(v.stake.0 - stake_cut);
        vm.jail = Some(jail);
        Ok(stake_cut + unbonding_cut)
    }

    /// Cuts the unbonding entries bonded to `from` as `bond` that started at or after
    /// `infraction`; returns (cut from `from`'s own entries, cut from others').
    fn cut_unbonding(
        &mut self,
        from: &Address,
        bond: Bond,
        infraction: u64,
    ) -> Result<(u128, u128), TxError> {
        let (mut own, mut others) = (0u128, 0u128);
        for ((_, owner, f, b), entry) in self.unbonding.iter_mut() {
            if f == from && *b == bond && entry.started >= infraction {
                let c = mul_div(entry.amount.0, self.params.slash_bps, BPS).ok_or(TxError::Overflow)?;
                entry.amount.0 -= c;
                if owner == from { own += c } else { others += c }
            }
        }
        Ok((own, others))
    }

    fn jail_term(&self) -> Jail {
        Jail { since: self.epoch, until: self.epoch.saturating_add(self.params.jail_epochs) }
    }
}

/// The `proven` key of `validator`'s equivocation at `height`: one slash per (validator,
/// height), however many conflicting vote pairs show it.
fn equivocation_key(validator: &Address, height: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"wick.v1.Equivocation");
    h.update(validator.0);
    h.update(height.to_le_bytes());
    h.finalize().into()
}
