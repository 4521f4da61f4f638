//! Moving tokens: transfers and reward withdrawals.

use super::apply::{Signer, positive};
use super::{Account, State, add};
use crate::error::TxError;
use crate::types::{Address, Amount};

impl State {
    /// Moves `amount` to `to` (a new account is created once the transfer is valid).
    pub(crate) fn transfer(&mut self, me: &Signer, to: Address, amount: Amount) -> Result<Amount, TxError> {
        positive(amount)?;
        let after = me.spend(amount)?;
        if to == me.address {
            return add(after, amount);
        }
        // One lookup for an existing recipient; a new one is only inserted once valid.
        match self.accounts.get_mut(&to) {
            Some(acc) => acc.balance = add(acc.balance, amount)?,
            None => {
                self.accounts.insert(to, Account { balance: amount, ..Default::default() });
            }
        }
        Ok(after)
    }

    /// Moves the signer's accrued rewards to its balance.
    pub(crate) fn withdraw_rewards(&mut self, me: &Signer) -> Result<Amount, TxError> {
        if me.rewards.0 == 0 {
            return Err(TxError::NoRewards);
        }
        let after = add(me.spend(Amount::ZERO)?, me.rewards)?;
        self.accounts.entry(me.address).or_default().rewards = Amount::ZERO;
        Ok(after)
    }
}
