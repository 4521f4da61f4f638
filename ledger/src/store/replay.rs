//! Rebuilding the state from the stored blocks (see the [module docs](super)).

use prost::Message;
use rocksdb::{Direction, IteratorMode};
use wick_proto::v1::Block;
use wick_staking::genesis::Genesis;
use wick_staking::{State, TxError, wire};

use super::{BLOCK, ROOT_CHECK_EVERY, Recovered, Store, StoreError, block_key, corrupt};
use crate::execution::execute;

impl Store {
    fn each_block(&self, mut f: impl FnMut(Block) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let mut expected = 1u64;
        for item in self.db.iterator(IteratorMode::From(&block_key(1), Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(BLOCK) {
                break;
            }
            let block = Block::decode(&*v).map_err(|e| corrupt(expected, e.to_string()))?;
            if block.height != expected {
                return Err(corrupt(expected, format!("found block {} instead", block.height)));
            }
            expected += 1;
            f(block)?;
        }
        let (head, _) = self.head()?;
        if head + 1 != expected {
            return Err(corrupt(head, format!("head is {head} but blocks end at {}", expected - 1)));
        }
        Ok(())
    }

    pub(super) fn replay(&self, mut state: State, created: u64) -> Result<Recovered, StoreError> {
        let mut rec = Recovered { state: State::default(), epoch_started_unix_ms: created };
        let mut last_root = Vec::new();
        self.each_block(|block| {
            let h = block.height;
            if block.results.len() != block.txs.len() {
                return Err(corrupt(h, "results do not match transactions"));
            }
            // Failed transactions are replayed too: they paid their fee. Signatures were checked
            // when the block was made, so replay skips that cost.
            for (bytes, result) in block.txs.iter().zip(&block.results) {
                let stx = wire::decode(bytes).map_err(|e| corrupt(h, e.to_string()))?;
                let code = state.apply_verified(&stx).err().map_or("", |e| e.code());
                if code != result.code {
                    return Err(corrupt(h, format!("stored as {:?}, replayed as {code:?}", result.code)));
                }
            }
            state.close_block(block.time_unix_ms);
            crate::replica::slash_evidence(&mut state, &block.evidence);
            if block.epoch_end {
                state.end_epoch(block.time_unix_ms);
                rec.epoch_started_unix_ms = block.time_unix_ms;
            }
            // Hashing the whole state per block would make opening quadratic: check every
            // ROOT_CHECK_EVERY blocks here and the head below.
            last_root.clone_from(&block.state_root);
            if h % ROOT_CHECK_EVERY == 0 { check_root(&state, &block) } else { Ok(()) }
        })?;
        let (height, root) = self.head()?;
        let head_ok = height == 0 || (state.root().as_slice() == root.as_slice() && last_root == root);
        if height != state.height || !head_ok {
            return Err(corrupt(height, "replayed state root differs from the stored head"));
        }
        rec.state = state;
        Ok(rec)
    }

    /// Re-executes every stored block from `genesis` with full checks (signatures included)
    /// and returns the final state; fails if any block's results or root differ.
    pub fn replay_verified(&self, genesis: &Genesis) -> Result<State, StoreError> {
        let mut state = genesis.state()?;
        self.each_block(|block| {
            let h = block.height;
            let txs = block
                .txs
                .iter()
                .map(|b| wire::decode(b).map_err(|e| corrupt(h, e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            let executed = execute(&mut state, &txs, &block.evidence, block.epoch_end, block.time_unix_ms);
            let codes: Vec<&str> =
                executed.results.iter().map(|r| r.as_ref().map_or_else(TxError::code, |_| "")).collect();
            let stored: Vec<&str> = block.results.iter().map(|r| r.code.as_str()).collect();
            if codes != stored {
                return Err(corrupt(h, "transaction results differ on replay"));
            }
            check_root(&state, &block)
        })?;
        Ok(state)
    }
}

fn check_root(state: &State, block: &Block) -> Result<(), StoreError> {
    if state.root().as_slice() != block.state_root.as_slice() || state.height != block.height {
        return Err(corrupt(block.height, "state root differs from the stored root"));
    }
    Ok(())
}
