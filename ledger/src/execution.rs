//! Block execution: a block's transactions run through the staking state machine, the epoch end
//! where the block says, and the block's stored record. Signatures are checked here with the
//! operating system's randomness for batch verification (the state machine draws none).

use rand_core_06::OsRng;
use std::collections::BTreeMap;

use wick_proto::v1::{Block, EpochSettlement, Payout, TxResult};
use wick_staking::verify::{DecodedBlock, decode_verify_all, verify_all};
use wick_staking::{Address, SignedTx, State, TxError};

/// What executing a block did.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    /// Each transaction's result, in block order.
    pub results: Vec<Result<(), TxError>>,
    /// What the epoch end paid, if the block ended the epoch.
    pub epoch_end: Option<EpochSettlement>,
}

/// Ends the epoch in the block of time `time_ms` and says what it paid: the rewards each account
/// accrued, read off the state before and after (the state machine's formula stays in
/// `wick-staking`; this only observes it).
pub fn end_epoch(state: &mut State, time_ms: u64) -> EpochSettlement {
    let epoch = state.epoch;
    let before: BTreeMap<Address, u128> = state.accounts.iter().map(|(a, acc)| (*a, acc.rewards.0)).collect();
    state.end_epoch(time_ms);
    let payouts = state
        .accounts
        .iter()
        .filter_map(|(a, acc)| {
            let gained = acc.rewards.0.checked_sub(before.get(a).copied().unwrap_or(0))?;
            (gained > 0).then(|| Payout { account: a.0.to_vec(), amount: gained.to_string() })
        })
        .collect();
    EpochSettlement { epoch, payouts }
}

/// Executes one block of time `time_ms` on `state` serially: the transactions in order
/// (signatures batch-verified), the block's equivocation evidence, then the epoch end if
/// `epoch_end` (which `State::epoch_due(time_ms)`, asked before the block, decides). The new
/// root is `state.root()`.
pub fn execute(
    state: &mut State,
    txs: &[SignedTx],
    evidence: &[Vec<u8>],
    epoch_end: bool,
    time_ms: u64,
) -> Executed {
    let results = state.apply_block(txs, verify_all(txs, OsRng), time_ms);
    crate::replica::slash_evidence(state, evidence);
    Executed { results, epoch_end: epoch_end.then(|| end_epoch(state, time_ms)) }
}

/// [`execute`] for transactions whose signatures the caller has already checked.
pub fn execute_verified(
    state: &mut State,
    txs: &[SignedTx],
    evidence: &[Vec<u8>],
    epoch_end: bool,
    time_ms: u64,
) -> Executed {
    let results = state.apply_block(txs, vec![Ok(()); txs.len()], time_ms);
    crate::replica::slash_evidence(state, evidence);
    Executed { results, epoch_end: epoch_end.then(|| end_epoch(state, time_ms)) }
}

/// Decodes a block's wire transactions and batch-verifies their signatures on all cores (see
/// [`decode_verify_all`]).
pub fn decode_verify(wire: &[Vec<u8>]) -> Result<DecodedBlock, (usize, TxError)> {
    decode_verify_all(wire, OsRng)
}

/// The record of a block just executed on `state` at `time_unix_ms`: the wire transactions it
/// keeps (applied or failed, which paid their fee; refused ones changed nothing and are left
/// out), each one's result code, what its epoch end paid, and the state root after it (the one
/// full-state hash of the block).
pub fn block_record(state: &State, txs: Vec<Vec<u8>>, executed: &Executed, time_unix_ms: u64) -> Block {
    block_record_with_root(state, txs, executed, time_unix_ms, state.root().to_vec())
}

/// [`block_record`] for a caller that already has `state`'s root (a replica commits the root
/// its check compared), which saves hashing the whole state again.
pub fn block_record_with_root(
    state: &State,
    txs: Vec<Vec<u8>>,
    executed: &Executed,
    time_unix_ms: u64,
    state_root: Vec<u8>,
) -> Block {
    let (txs, results) = txs
        .into_iter()
        .zip(&executed.results)
        .filter(|(_, r)| !r.as_ref().is_err_and(TxError::is_refusal))
        .map(|(tx, r)| {
            let result = match r {
                Ok(()) => TxResult::default(),
                Err(e) => TxResult { code: e.code().into(), message: e.to_string() },
            };
            (tx, result)
        })
        .unzip();
    Block {
        height: state.height,
        time_unix_ms,
        txs,
        results,
        epoch_end: executed.epoch_end.is_some(),
        state_root,
        epoch: state.epoch,
        settlement: executed.epoch_end.clone(),
        ..Block::default()
    }
}
