//! Proof of service, per (epoch, worker, router): a worker claims the work it did under one
//! router's tickets, that router attests it and reserves its price from its escrow, and the epoch
//! end pays the smaller of the two (see the crate docs). Both are kept for the current epoch only.

use std::collections::btree_map::Entry;

use super::apply::Signer;
use super::{State, Work};
use crate::error::TxError;
use crate::tx::WorkReport;
use crate::types::{Address, Amount};

impl State {
    /// Records the signer's (a bonded, unjailed worker's) claim of its work for `router`.
    pub(crate) fn work_claim(
        &mut self,
        me: &Signer,
        router: Address,
        work: &WorkReport,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        self.current_epoch(work.epoch)?;
        let w = self.workers.get(&me.address).ok_or(TxError::NotWorker)?;
        if w.jailed() {
            return Err(TxError::Jailed);
        }
        if w.bonded() == 0 {
            return Err(TxError::NotBonded("the worker"));
        }
        if !self.routers.contains_key(&router) {
            return Err(TxError::NotRouter);
        }
        match self.claims.entry((work.epoch, me.address, router)) {
            Entry::Occupied(_) => return Err(TxError::Duplicate),
            Entry::Vacant(v) => v.insert(Work::from(work)),
        };
        Ok(after)
    }

    /// Records the signer's (a router in good standing's) attestation of `worker`'s work and
    /// reserves its amount from the router's escrow.
    pub(crate) fn attestation(
        &mut self,
        me: &Signer,
        worker: Address,
        work: &WorkReport,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        self.current_epoch(work.epoch)?;
        let r = self.routers.get(&me.address).ok_or(TxError::NotRouter)?;
        if r.jail.is_some() {
            return Err(TxError::Jailed);
        }
        if r.stake.0 == 0 {
            return Err(TxError::NotBonded("the router"));
        }
        if !self.workers.contains_key(&worker) {
            return Err(TxError::NotWorker);
        }
        let escrow = r
            .escrow
            .checked_sub(Amount(work.amount))
            .ok_or(TxError::InsufficientEscrow { escrow: r.escrow, needed: Amount(work.amount) })?;
        match self.attestations.entry((work.epoch, worker, me.address)) {
            Entry::Occupied(_) => return Err(TxError::Duplicate),
            Entry::Vacant(v) => v.insert(Work::from(work)),
        };
        self.routers.get_mut(&me.address).ok_or(TxError::NotRouter)?.escrow = escrow;
        Ok(after)
    }

    fn current_epoch(&self, got: u64) -> Result<(), TxError> {
        if got == self.epoch { Ok(()) } else { Err(TxError::WrongEpoch { current: self.epoch, got }) }
    }
}

impl From<&WorkReport> for Work {
    fn from(w: &WorkReport) -> Self {
        Work { root: w.receipts_root, count: w.count, tokens: w.tokens, amount: w.amount }
    }
}
