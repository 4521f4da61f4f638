//! Validators: keys that sign consensus votes, with bonded stake to lose. Bonding and unbonding
//! go through the same paths as a worker's or a router's own stake ([`super::bonding`]); an
//! equivocation is slashed like any proven infraction ([`super::slashing`]).
//!
//! The active set ([`State::validator_set()`]) changes only at epoch ends, never within an epoch,
//! so every height of an epoch is decided by one set: the unjailed validators with at least
//! `min_validator_stake`, the `max_validators` largest stakes (ties by address), each with its
//! stake as voting power (saturated to u64). A jail or unbonding takes effect at the next epoch
//! end, not sooner. If no validator qualifies, the set stays as it was: a chain with no set
//! could decide no block ever again, while the old set can still decide the blocks that bond
//! new validators.

use std::collections::BTreeMap;

use super::apply::Signer;
use super::{Bond, State};
use crate::error::TxError;
use crate::types::{Address, Amount};

impl State {
    /// Bonds `amount` of the signer's balance as validator stake, registering it on the first
    /// bond.
    pub(crate) fn bond_validator(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        self.bond_own(me, Bond::Validator, amount)
    }

    /// Starts unbonding `amount` of the signer's validator stake.
    pub(crate) fn unbond_validator(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        self.unbond_own(me, Bond::Validator, amount)
    }

    /// The active validator set with each one's voting power, largest power first, ties by
    /// address (the map field `validator_set` holds it by address).
    pub fn validator_set(&self) -> Vec<(Address, u64)> {
        let mut set: Vec<(Address, u64)> = self.validator_set.iter().map(|(a, p)| (*a, *p)).collect();
        set.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        set
    }

    /// The set the rule picks now: unjailed, stake ≥ `min_validator_stake`, the
    /// `max_validators` largest stakes, ties by address. Possibly empty.
    fn qualifying_validators(&self) -> BTreeMap<Address, u64> {
        let min = self.params.min_validator_stake.max(1);
        let mut candidates: Vec<(Address, u128)> = self
            .validators
            .iter()
            .filter(|(_, v)| v.jail.is_none() && v.stake.0 >= min)
            .map(|(a, v)| (*a, v.stake.0))
            .collect();
        // Sorted by the exact stake, not the saturated power, so the cut is the same either way.
        candidates.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        candidates.truncate(usize::try_from(self.params.max_validators).unwrap_or(usize::MAX));
        candidates.into_iter().map(|(a, s)| (a, u64::try_from(s).unwrap_or(u64::MAX))).collect()
    }

    /// Recomputes the active set (at an epoch end, or at genesis); keeps the old one if no
    /// validator qualifies (see the module docs).
    pub(crate) fn update_validator_set(&mut self) {
        let next = self.qualifying_validators();
        if !next.is_empty() {
            self.validator_set = next;
        }
    }
}
