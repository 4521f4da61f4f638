//! Store tests: blocks commit, restart recovers the exact state and root, a foreign genesis is
//! refused, and a damaged history is detected.

use ed25519_dalek::SigningKey;
use prost::Message;
use wick_proto::v1::Block;

use wick_staking::genesis::{GenesisAccount, GenesisAmount, GenesisParams};
use wick_staking::{Address, Amount, SignedTx, Tx, TxBody, wire};

use super::*;
use crate::execution::{block_record, execute};

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: "store-test".into(),
        epoch_seconds: 1,
        params: GenesisParams::default(),
        accounts: (0..3)
            .map(|i| GenesisAccount { address: addr(i).to_string(), balance: GenesisAmount(1_000) })
            .collect(),
        workers: Vec::new(),
        delegations: Vec::new(),
        routers: Vec::new(),
        validators: Vec::new(),
    }
}

/// Executes and commits a block the way the node does.
fn commit(store: &Store, state: &mut State, txs: &[SignedTx], epoch_end: bool) -> Block {
    let now = now_unix_ms();
    let executed = execute(state, txs, &[], epoch_end, now);
    let block = block_record(state, txs.iter().map(wire::encode).collect(), &executed, now);
    store.commit(&block).expect("commit");
    block
}

fn tx(state: &State, i: u8, body: TxBody) -> SignedTx {
    let nonce = state.account(&addr(i)).nonce;
    Tx { chain_id: state.chain_id.clone(), signer: addr(i), nonce, fee: Amount::ZERO, body }
        .paying(&state.params)
        .sign(&key(i))
}

#[test]
fn restart_recovers_state_and_root() {
    let dir = tempfile::tempdir().expect("dir");
    let g = genesis();
    let (store, rec) = Store::open(dir.path(), &g).expect("open");
    let mut state = rec.state;
    assert_eq!(state.height, 0);
    let t1 = tx(&state, 0, TxBody::Transfer { to: addr(1), amount: Amount(10) });
    let bad = tx(&state, 1, TxBody::Stake { amount: Amount(5) }); // not a worker: rejected
    commit(&store, &mut state, &[t1, bad], false);
    let reg = tx(&state, 2, TxBody::RegisterWorker { commission_bps: 100 });
    commit(&store, &mut state, &[reg], false);
    let stake = tx(&state, 2, TxBody::Stake { amount: Amount(100) });
    let last = commit(&store, &mut state, &[stake], true);
    let root = state.root();
    drop(store);

    let (store, rec) = Store::open(dir.path(), &g).expect("reopen");
    assert_eq!(rec.state, state);
    assert_eq!(rec.state.root(), root);
    assert_eq!(rec.state.epoch, 1);
    assert_eq!(rec.epoch_started_unix_ms, last.time_unix_ms);
    assert_eq!(store.head().expect("head"), (3, root.to_vec()));
    assert_eq!(store.replay_verified(&g).expect("full replay").root(), root);
    assert_eq!(store.block(3).expect("b3").expect("exists").txs, last.txs);
    assert_eq!(store.blocks_from(2, 10).expect("blocks").len(), 2);
    assert_eq!(store.block(1).expect("b1").expect("exists").results[1].code, "not_worker");
}

#[test]
fn another_genesis_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    drop(Store::open(dir.path(), &genesis()).expect("open"));
    let mut other = genesis();
    other.chain_id = "other".into();
    let err = Store::open(dir.path(), &other).expect_err("foreign genesis");
    assert!(err.to_string().contains("another genesis (chain \"store-test\")"), "{err}");
}

/// A fresh store in `dir` with one committed block of one transfer.
fn store_with_one_block(dir: &Path, g: &Genesis) -> (Store, Block) {
    let (store, rec) = Store::open(dir, g).expect("open");
    let mut state = rec.state;
    let t = tx(&state, 0, TxBody::Transfer { to: addr(1), amount: Amount(10) });
    let block = commit(&store, &mut state, &[t], false);
    (store, block)
}

#[test]
fn a_tampered_block_is_detected() {
    let dir = tempfile::tempdir().expect("dir");
    let g = genesis();
    {
        let (store, mut block) = store_with_one_block(dir.path(), &g);
        block.state_root[0] ^= 1;
        let mut batch = WriteBatch::default();
        batch.put(block_key(1), block.encode_to_vec());
        store.write_synced(batch).expect("tamper");
    }
    let err = Store::open(dir.path(), &g).expect_err("tampered");
    assert!(matches!(err, StoreError::Corrupt { height: 1, .. }), "{err}");
}

#[test]
fn a_chain_written_with_other_state_rules_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let g = genesis();
    {
        let (store, _) = store_with_one_block(dir.path(), &g);
        // As written before the format was recorded.
        store.db.delete(FORMAT).expect("delete");
    }
    let err = Store::open(dir.path(), &g).expect_err("format 1");
    assert!(matches!(err, StoreError::Format { found: 1, expected: STATE_FORMAT, .. }), "{err}");
    assert!(err.to_string().contains("fresh --dir"), "{err}");

    // Without blocks there is nothing to disagree with: the store is adopted.
    let empty = tempfile::tempdir().expect("dir");
    drop(Store::open(empty.path(), &g).expect("open"));
    {
        let db = DB::open_default(empty.path()).expect("db");
        db.delete(FORMAT).expect("delete");
    }
    Store::open(empty.path(), &g).expect("an empty store of any format opens");
}
