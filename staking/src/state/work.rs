//! Proof of service: a worker's claim of its epoch's work and a router's attestation of it, kept
//! for the current epoch only (its end credits and drops them, see [`super::epoch`]).

use std::collections::btree_map::Entry;

use super::apply::Signer;
use super::{State, Work};
use crate::error::TxError;
use crate::types::{Address, Amount};

impl State {
    /// Records the signer's (a worker's) claim for the current epoch.
    pub(crate) fn work_claim(
        &mut self,
        me: &Signer,
        epoch: u64,
        root: [u8; 32],
        count: u64,
        tokens: u64,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        self.current_epoch(epoch)?;
        let w = self.workers.get(&me.address).ok_or(TxError::NotWorker)?;
        if w.jailed {
            return Err(TxError::Jailed);
        }
        match self.claims.entry((epoch, me.address)) {
            Entry::Occupied(_) => return Err(TxError::Duplicate),
            Entry::Vacant(v) => v.insert(Work { root, count, tokens }),
        };
        Ok(after)
    }

    /// Records the signer's (a router's) attestation of `worker`'s work in the current epoch.
    pub(crate) fn attestation(
        &mut self,
        me: &Signer,
        epoch: u64,
        worker: Address,
        root: [u8; 32],
        count: u64,
        tokens: u64,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        self.current_epoch(epoch)?;
        if !self.workers.contains_key(&worker) {
            return Err(TxError::NotWorker);
        }
        match self.attestations.entry((epoch, worker, me.address)) {
            Entry::Occupied(_) => return Err(TxError::Duplicate),
            Entry::Vacant(v) => v.insert(Work { root, count, tokens }),
        };
        Ok(after)
    }

    fn current_epoch(&self, got: u64) -> Result<(), TxError> {
        if got == self.epoch { Ok(()) } else { Err(TxError::WrongEpoch { current: self.epoch, got }) }
    }
}
