//! Block execution: a block's transactions run through the staking state machine, the epoch end
//! where the block says, and the block's stored record. Signatures are checked here with the
//! operating system's randomness for batch verification (the state machine draws none).

use rand_core_06::OsRng;
use wick_proto::v1::{Block, TxResult};
use wick_staking::verify::{DecodedBlock, decode_verify_all, verify_all};
use wick_staking::{SignedTx, State, TxError};

/// Executes one block on `state` serially: the transactions in order (signatures
/// batch-verified), then the epoch end if `epoch_end`. The new root is `state.root()`.
pub fn execute(state: &mut State, txs: &[SignedTx], epoch_end: bool) -> Vec<Result<(), TxError>> {
    let results = state.apply_block(txs, verify_all(txs, OsRng));
    if epoch_end {
        state.end_epoch();
    }
    results
}

/// [`execute`] for transactions whose signatures the caller has already checked.
pub fn execute_verified(state: &mut State, txs: &[SignedTx], epoch_end: bool) -> Vec<Result<(), TxError>> {
    let results = state.apply_block(txs, vec![Ok(()); txs.len()]);
    if epoch_end {
        state.end_epoch();
    }
    results
}

/// Decodes a block's wire transactions and batch-verifies their signatures on all cores (see
/// [`decode_verify_all`]).
pub fn decode_verify(wire: &[Vec<u8>]) -> Result<DecodedBlock, (usize, TxError)> {
    decode_verify_all(wire, OsRng)
}

/// The record of a block just executed on `state` at `time_unix_ms`: the wire transactions it
/// keeps (applied or failed, which paid their fee; refused ones changed nothing and are left
/// out), each one's result code, and the state root after it (the one full-state hash of the
/// block).
pub fn block_record(
    state: &State,
    txs: Vec<Vec<u8>>,
    results: &[Result<(), TxError>],
    epoch_end: bool,
    time_unix_ms: u64,
) -> Block {
    let (txs, results) = txs
        .into_iter()
        .zip(results)
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
        epoch_end,
        state_root: state.root().to_vec(),
        epoch: state.epoch,
    }
}
