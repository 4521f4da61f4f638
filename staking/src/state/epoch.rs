//! The epoch end, one function per numbered step of the formula in the crate docs.

use std::collections::BTreeMap;

use super::{BPS, State};
use crate::types::{Address, Amount, mul_div};

impl State {
    /// Ends the current epoch (see the crate docs for the formula) and starts the next one.
    pub fn end_epoch(&mut self) {
        let e = self.epoch;
        let credit = self.credited_work(e);
        self.last_epoch_credited = credit.len() as u64;
        self.drop_epoch_work(e);
        let weights = self.weights(&credit);
        let total_weight = weights.iter().fold(0u128, |s, (_, w)| s.saturating_add(*w));
        let delegators = self.delegators_of(&credit);
        let mut pay = Vec::new();
        for (worker, weight) in &weights {
            let share = mul_div(self.params.epoch_reward, *weight, total_weight).unwrap_or(0);
            pay.extend(self.split_share(worker, share, delegators.get(worker).map_or(&[], Vec::as_slice)));
        }
        self.mint(pay);
        self.tally_proposals(e);
        self.advance_epoch();
    }

    /// Step 1: credited work of each unjailed worker, its claimed tokens capped by the largest
    /// attestation of the same root (workers credited nothing are left out).
    fn credited_work(&self, e: u64) -> BTreeMap<Address, u128> {
        let mut credit = BTreeMap::new();
        for ((_, worker), claim) in self.claims.range((e, Address::MIN)..=(e, Address::MAX)) {
            let attested = self
                .attestations
                .range((e, *worker, Address::MIN)..=(e, *worker, Address::MAX))
                .filter(|(_, a)| a.root == claim.root)
                .map(|(_, a)| a.tokens)
                .max()
                .unwrap_or(0);
            let c = u128::from(claim.tokens.min(attested));
            if c > 0 && !self.workers[worker].jailed {
                credit.insert(*worker, c);
            }
        }
        credit
    }

    /// Step 1 is the last use of epoch `e`'s claims and attestations (they are only ever for
    /// the current epoch): they leave the state, the blocks keep them.
    fn drop_epoch_work(&mut self, e: u64) {
        let lo = Address::MIN;
        self.claims = self.claims.split_off(&(e + 1, lo));
        self.attestations = self.attestations.split_off(&(e + 1, lo, lo));
    }

    /// Step 2: weight `x_w = c_w · S_w`, credited work times bonded stake (saturating); zero
    /// weights are left out.
    fn weights(&self, credit: &BTreeMap<Address, u128>) -> Vec<(Address, u128)> {
        credit
            .iter()
            .map(|(a, c)| {
                let w = &self.workers[a];
                (*a, c.saturating_mul(w.self_stake.0.saturating_add(w.delegated.0)))
            })
            .filter(|(_, w)| *w > 0)
            .collect()
    }

    /// Each credited worker's delegators with their delegations, in delegator order (one pass
    /// over all delegations).
    fn delegators_of(&self, credit: &BTreeMap<Address, u128>) -> BTreeMap<Address, Vec<(Address, u128)>> {
        let mut delegators: BTreeMap<Address, Vec<(Address, u128)>> = BTreeMap::new();
        for ((d, wk), v) in &self.delegations {
            if credit.contains_key(wk) {
                delegators.entry(*wk).or_default().push((*d, v.0));
            }
        }
        delegators
    }

    /// Steps 3 and 4: the worker's share `P_w` less its commission `C_w` goes to its delegators
    /// pro rata to their delegations; the worker gets the rest (commission, its own part, dust).
    fn split_share(
        &self,
        worker: &Address,
        share: u128,
        delegators: &[(Address, u128)],
    ) -> Vec<(Address, u128)> {
        let w = &self.workers[worker];
        let bonded = w.self_stake.0 + w.delegated.0;
        let commission = mul_div(share, u128::from(w.commission_bps), BPS).unwrap_or(0);
        let rest = share - commission;
        let mut paid = 0u128;
        let mut pay = Vec::with_capacity(delegators.len() + 1);
        for (d, v) in delegators {
            let p = mul_div(rest, *v, bonded).unwrap_or(0);
            paid += p;
            pay.push((*d, p));
        }
        pay.push((*worker, share - paid));
        pay
    }

    /// Step 5: only the amounts paid are minted; they accrue as rewards to be withdrawn.
    fn mint(&mut self, pay: Vec<(Address, u128)>) {
        for (a, p) in pay {
            let acc = self.accounts.entry(a).or_default();
            acc.rewards = Amount(acc.rewards.0.saturating_add(p));
            self.supply = Amount(self.supply.0.saturating_add(p));
            self.minted = Amount(self.minted.0.saturating_add(p));
        }
    }

    /// Step 7: the next epoch starts; unbonding entries released by it return to balances.
    fn advance_epoch(&mut self) {
        self.epoch += 1;
        let matured: Vec<(u64, Address)> =
            self.unbonding.range(..=(self.epoch, Address::MAX)).map(|(k, _)| *k).collect();
        for k in matured {
            if let Some(v) = self.unbonding.remove(&k) {
                let acc = self.accounts.entry(k.1).or_default();
                acc.balance = Amount(acc.balance.0.saturating_add(v.0));
            }
        }
    }
}
