//! Routers as ledger identities: registration, a bonded (slashable) stake, and the escrow that
//! pays for the work they attest. Escrow leaves through the unbonding queue, so a router cannot
//! empty it between attesting work and the epoch end that pays for it.

use super::apply::{Signer, positive};
use super::{Bond, Router, State};
use crate::error::TxError;
use crate::types::Amount;

impl State {
    /// Registers the signer as a router.
    pub(crate) fn register_router(&mut self, me: &Signer) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        if self.routers.contains_key(&me.address) {
            return Err(TxError::AlreadyRouter);
        }
        self.routers.insert(me.address, Router::default());
        Ok(after)
    }

    /// Bonds `amount` of the signer's balance as its router's stake.
    pub(crate) fn bond_router(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        self.bond_own(me, Bond::Router, amount)
    }

    /// Starts unbonding `amount` of the router's stake.
    pub(crate) fn unbond_router(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        self.unbond_own(me, Bond::Router, amount)
    }

    /// Moves `amount` of the signer's balance into its router's escrow.
    pub(crate) fn fund_escrow(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        self.bond_own(me, Bond::Escrow, amount)
    }

    /// Starts moving `amount` of the escrow back to the balance, through the unbonding queue.
    pub(crate) fn withdraw_escrow(&mut self, me: &Signer, amount: Amount) -> Result<Amount, TxError> {
        positive(amount)?;
        let after = me.spend(Amount::ZERO)?;
        let r = self.routers.get(&me.address).ok_or(TxError::NotRouter)?;
        let escrow = r
            .escrow
            .checked_sub(amount)
            .ok_or(TxError::InsufficientEscrow { escrow: r.escrow, needed: amount })?;
        let (key, entry) = self.unbonding_plus(me.address, me.address, Bond::Escrow, amount)?;
        self.routers.get_mut(&me.address).ok_or(TxError::NotRouter)?.escrow = escrow;
        self.unbonding.insert(key, entry);
        Ok(after)
    }
}
