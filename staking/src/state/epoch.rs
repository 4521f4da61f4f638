//! The epoch end, one function per numbered step of the formula in the crate docs.

use std::collections::BTreeMap;

use super::{BPS, EpochSummary, State};
use crate::types::{Address, Amount, mul_div};

impl State {
    /// Ends the current epoch in the block of time `time_ms` (see the crate docs for the
    /// formula; whether a block ends it is [`State::epoch_due`]) and starts the next one, whose
    /// clock starts at `time_ms`.
    pub fn end_epoch(&mut self, time_ms: u64) {
        let e = self.epoch;
        let paid = self.pay_work(e);
        let total_paid = paid.values().fold(0u128, |s, p| s.saturating_add(*p));
        let mut summary =
            EpochSummary { credited_workers: paid.len() as u64, paid: total_paid, ..Default::default() };
        let delegators = self.delegators_of(&paid);
        let mut pay = Vec::new();
        for (worker, p) in &paid {
            let fee = self.work_fee(*p);
            let minted = self.inflation_share(*p, total_paid, fee);
            summary.burned += fee;
            summary.minted += minted;
            let income = p - fee + minted;
            pay.extend(self.split_income(worker, income, delegators.get(worker).map_or(&[], Vec::as_slice)));
        }
        self.settle_epoch_money(pay, &summary);
        self.last_epoch = summary;
        self.tally_proposals(e);
        self.advance_epoch();
        self.open_and_apply_proposals();
        // After the parameter changes due now: the new epoch's set follows the new epoch's rules.
        self.update_validator_set();
        self.epoch_started_ms = time_ms;
    }

    /// Step 1: for each (worker, router) with a claim and an attestation, the router pays the
    /// smaller amount from what it reserved; the rest of every reservation returns to its
    /// escrow. A jailed worker is paid nothing. Claims and attestations leave the state (the
    /// blocks keep them). Returns each worker's payment `P_w`.
    fn pay_work(&mut self, e: u64) -> BTreeMap<Address, u128> {
        let next = (e + 1, Address::MIN, Address::MIN);
        let later = self.claims.split_off(&next);
        let claims = std::mem::replace(&mut self.claims, later);
        let later = self.attestations.split_off(&next);
        let attestations = std::mem::replace(&mut self.attestations, later);
        let mut paid: BTreeMap<Address, u128> = BTreeMap::new();
        for ((_, worker, router), att) in attestations {
            let claimed = claims.get(&(e, worker, router)).map_or(0, |c| c.amount);
            let jailed = self.workers.get(&worker).is_none_or(|w| w.jailed());
            let p = if jailed { 0 } else { claimed.min(att.amount) };
            if let Some(r) = self.routers.get_mut(&router) {
                r.escrow = Amount(r.escrow.0.saturating_add(att.amount - p));
            }
            if p > 0 {
                let total = paid.entry(worker).or_default();
                *total = total.saturating_add(p);
            }
        }
        paid
    }

    /// Step 2: the work fee `F_w = P_w · work_fee_bps / 10000`, burned.
    fn work_fee(&self, paid: u128) -> u128 {
        mul_div(paid, self.params.work_fee_bps, BPS).unwrap_or(0)
    }

    /// Step 3: the inflation share `I_w = min(R · P_w / ΣP, F_w)`: paid work shares the epoch's
    /// reward, and no work mints more than its own fee burned.
    fn inflation_share(&self, paid: u128, total_paid: u128, fee: u128) -> u128 {
        mul_div(self.params.epoch_reward, paid, total_paid).unwrap_or(0).min(fee)
    }

    /// Each paid worker's delegators with their delegations, in delegator order (one pass over
    /// all delegations).
    fn delegators_of(&self, paid: &BTreeMap<Address, u128>) -> BTreeMap<Address, Vec<(Address, u128)>> {
        let mut delegators: BTreeMap<Address, Vec<(Address, u128)>> = BTreeMap::new();
        for ((d, wk), v) in &self.delegations {
            if paid.contains_key(wk) {
                delegators.entry(*wk).or_default().push((*d, v.0));
            }
        }
        delegators
    }

    /// Step 4: the worker's income `X_w = P_w − F_w + I_w` less its commission `C_w` goes to its
    /// delegators pro rata to their delegations over its bonded stake `S_w`; the worker gets the
    /// rest (commission, its own part, rounding dust).
    fn split_income(
        &self,
        worker: &Address,
        income: u128,
        delegators: &[(Address, u128)],
    ) -> Vec<(Address, u128)> {
        let Some(w) = self.workers.get(worker) else { return Vec::new() };
        let bonded = w.bonded();
        let commission = mul_div(income, u128::from(w.commission_bps), BPS).unwrap_or(0);
        let rest = income - commission;
        let mut distributed = 0u128;
        let mut pay = Vec::with_capacity(delegators.len() + 1);
        for (d, v) in delegators {
            let p = mul_div(rest, *v, bonded).unwrap_or(0);
            distributed += p;
            pay.push((*d, p));
        }
        pay.push((*worker, income - distributed));
        pay
    }

    /// Step 5: payments accrue as rewards to be withdrawn; the work fees are burned and the
    /// inflation shares minted (payments themselves only move tokens out of escrow).
    fn settle_epoch_money(&mut self, pay: Vec<(Address, u128)>, summary: &EpochSummary) {
        for (a, p) in pay {
            let acc = self.accounts.entry(a).or_default();
            acc.rewards = Amount(acc.rewards.0.saturating_add(p));
        }
        self.supply = Amount(self.supply.0.saturating_add(summary.minted).saturating_sub(summary.burned));
        self.minted = Amount(self.minted.0.saturating_add(summary.minted));
        self.burned = Amount(self.burned.0.saturating_add(summary.burned));
    }

    /// Step 7: the next epoch starts; unbonding entries released by it return to their owners'
    /// balances; proven infractions older than the evidence window are forgotten.
    fn advance_epoch(&mut self) {
        self.epoch += 1;
        let released =
            self.unbonding.split_off(&(self.epoch + 1, Address::MIN, Address::MIN, super::Bond::Worker));
        let matured = std::mem::replace(&mut self.unbonding, released);
        for ((_, owner, _, _), entry) in matured {
            let acc = self.accounts.entry(owner).or_default();
            acc.balance = Amount(acc.balance.0.saturating_add(entry.amount.0));
        }
        let oldest = self.epoch.saturating_sub(self.params.evidence_epochs);
        self.proven.retain(|_, e| *e >= oldest);
        self.record_epoch_height();
    }
}
