//! Block time: the time a block's proposer put in it and the validators agreed on, never a
//! node's own clock. It decides when an epoch ends, so every replica ends it at the same block.
//!
//! - A block's time must be later than the last block's ([`State::check_block_time`]).
//! - Epoch 0 starts at the first block's time: a genesis has no agreed time of its own, and a
//!   chain started long after its genesis file was written must not end epoch 0 at once.
//! - A block at time `t` ends the epoch iff, before it, `t ≥ epoch_started_ms + epoch_seconds ×
//!   1000` ([`State::epoch_due`]); the epoch end then restarts the epoch clock at `t`. Epochs do
//!   not catch up: after a halt, one block ends one epoch.

use super::State;
use crate::error::TxError;

impl State {
    /// Whether a block at `block_time_ms`, applied to this state, ends the epoch. Never for the
    /// first block, whose time starts epoch 0.
    pub fn epoch_due(&self, block_time_ms: u64) -> bool {
        let length = self.epoch_seconds.max(1).saturating_mul(1000);
        self.height > 0 && block_time_ms >= self.epoch_started_ms.saturating_add(length)
    }

    /// Refuses a block time not later than the last block's (times are agreed, so they only
    /// move forward; a proposer cannot rewind the epoch clock).
    pub fn check_block_time(&self, time_ms: u64) -> Result<(), TxError> {
        if time_ms > self.last_block_ms {
            Ok(())
        } else {
            Err(TxError::BlockTime { last: self.last_block_ms, got: time_ms })
        }
    }

    /// Ends a block whose transactions have been applied: the height advances and the block's
    /// time is recorded (the first block's also starts epoch 0). A time before the last one
    /// (which [`State::check_block_time`] refuses) leaves the last one: the clock never runs
    /// back. [`State::apply_block`] calls it; replaying stored transactions one by one does too.
    pub fn close_block(&mut self, time_ms: u64) {
        if self.height == 0 {
            self.epoch_started_ms = time_ms;
        }
        self.height += 1;
        self.last_block_ms = self.last_block_ms.max(time_ms);
    }

    /// The epoch that `height` was in, if it is recent enough to be known (the epochs whose
    /// infractions can still be proven) and not in the future.
    pub(crate) fn epoch_of_height(&self, height: u64) -> Option<u64> {
        if height == 0 || height > self.height {
            return None;
        }
        self.epoch_heights.iter().rev().find(|(_, first)| **first <= height).map(|(e, _)| *e)
    }

    /// Records the first height of the epoch that just started and forgets those older than
    /// the evidence window (whose infractions are refused anyway).
    pub(crate) fn record_epoch_height(&mut self) {
        self.epoch_heights.insert(self.epoch, self.height.saturating_add(1));
        let oldest = self.epoch.saturating_sub(self.params.evidence_epochs);
        self.epoch_heights.retain(|e, _| *e >= oldest);
    }
}
