//! What a validator refuses to vote for: blocks whose encoding, height, time, signatures,
//! transactions or state root do not check. Each case is a block a Byzantine proposer could
//! send; `check` must say no, and an honest block must still pass.

use std::sync::{Arc, Mutex};

use ed25519_dalek::SigningKey;
use prost::Message;
use tokio::sync::{broadcast, watch};
use wick_consensus::Application;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::ProposedBlock;
use wick_staking::genesis::{Genesis, GenesisAccount, GenesisAmount, GenesisParams};
use wick_staking::{Address, Amount, Params, Tx, TxBody, wire};

use super::app::{LedgerApp, MAX_CLOCK_DRIFT_MS};
use super::mempool::Mempool;
use crate::node::{Pending, View};
use crate::store::Store;

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

fn app(dir: &std::path::Path) -> LedgerApp {
    let genesis = Genesis {
        chain_id: "replica-test".into(),
        epoch_seconds: 60,
        params: GenesisParams::default(),
        accounts: (0..3)
            .map(|i| GenesisAccount { address: addr(i).to_string(), balance: GenesisAmount(1 << 40) })
            .collect(),
        workers: Vec::new(),
        delegations: Vec::new(),
        routers: Vec::new(),
        validators: Vec::new(),
    };
    let (store, rec) = Store::open(dir, &genesis).expect("store");
    let view = View { state: Arc::new(rec.state.clone()), epoch_started_unix_ms: 0, epoch_seconds: 60 };
    let (view_tx, _) = watch::channel(view.clone());
    let (blocks, _) = broadcast::channel(4);
    let mempool = Arc::new(Mutex::new(Mempool::default()));
    LedgerApp::new(addr(0).0, rec.state, Arc::new(store), mempool, 100, view, view_tx, blocks, Arc::default())
}

fn transfer(from: u8, nonce: u64) -> Vec<u8> {
    transfer_on("replica-test", from, nonce)
}

fn transfer_on(chain: &str, from: u8, nonce: u64) -> Vec<u8> {
    let p = Params::default();
    let body = TxBody::Transfer { to: addr(2), amount: Amount(5) };
    let mut tx = Tx { chain_id: chain.into(), signer: addr(from), nonce, fee: Amount(0), body };
    tx.fee = Amount(p.min_fee + p.fee_per_byte * tx.wire_len() as u128);
    wire::encode(&tx.sign(&key(from)))
}

/// An honest proposal from another validator's view: what `propose` would build, re-encoded.
fn honest(a: &mut LedgerApp, txs: Vec<Vec<u8>>) -> ProposedBlock {
    for t in &txs {
        let stx = wire::decode(t).expect("decode");
        a.mempool_insert(stx, t.clone());
    }
    let bytes = a.propose(1);
    a.forget_trials();
    ProposedBlock::decode(bytes.as_slice()).expect("decode")
}

#[test]
fn an_honest_block_passes_and_every_tampered_one_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = app(dir.path());
    let good = honest(&mut a, vec![transfer(0, 0), transfer(1, 0)]);
    let proposer = addr(1).0;
    assert!(a.check(1, proposer, &good.encode_to_vec(), false), "the honest block checks");

    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut b = good.clone();
    b.state_root[0] ^= 1;
    cases.push(("another state root", b.encode_to_vec()));
    let mut b = good.clone();
    b.height = 2;
    cases.push(("another height", b.encode_to_vec()));
    let mut b = good.clone();
    b.time_unix_ms = now_unix_ms() + MAX_CLOCK_DRIFT_MS + 60_000;
    cases.push(("a time ahead of the clock", b.encode_to_vec()));
    let mut b = good.clone();
    b.time_unix_ms = 0;
    cases.push(("a time not after the parent's", b.encode_to_vec()));
    let mut b = good.clone();
    let mut forged = b.txs[0].clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    b.txs[0] = forged;
    cases.push(("a forged signature", b.encode_to_vec()));
    let mut b = good.clone();
    b.txs.push(transfer(0, 0));
    cases.push(("a replayed transaction (a refusal)", b.encode_to_vec()));
    let mut b = good.clone();
    b.evidence.push(vec![1, 2, 3]);
    cases.push(("malformed evidence", b.encode_to_vec()));
    let mut bytes = good.encode_to_vec();
    // An unknown field appended: same message, not its canonical encoding.
    bytes.extend_from_slice(&[0x78, 0x01]);
    cases.push(("a non-canonical encoding", bytes));
    cases.push(("garbage", vec![0xff; 40]));
    for (why, bytes) in cases {
        let fresh = tempfile::tempdir().expect("dir");
        let mut v = app(fresh.path());
        assert!(!v.check(1, proposer, &bytes, false), "a block with {why} was accepted");
    }
}

#[test]
fn a_committed_block_leaves_the_mempool_and_the_next_height_follows_it() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = app(dir.path());
    let block = honest(&mut a, vec![transfer(0, 0)]).encode_to_vec();
    a.commit(1, addr(1).0, &block, vec![7; 8]).expect("commit");
    assert_eq!(a.committed_height(), 1);
    let (stored, cert) = a.decided(1).expect("stored");
    assert_eq!(stored, block, "the stored block rebuilds the decided bytes exactly");
    assert_eq!(cert, vec![7; 8]);
    assert!(!a.has_pending(), "its transaction left the mempool");
    // The same block again is not the next height.
    assert!(!a.check(2, addr(1).0, &block, false));
}

#[test]
fn voting_powers_past_what_the_engine_can_add_are_scaled_for_everyone() {
    let set = vec![([1; 32], u64::MAX), ([2; 32], u64::MAX / 2), ([3; 32], 1)];
    let scaled = super::app::voting_powers(set);
    let total: u128 = scaled.iter().map(|(_, p)| u128::from(*p)).sum();
    assert!(total * 3 <= u128::from(u64::MAX), "the engine's 3 × total fits a u64");
    assert_eq!(scaled[2].1, 1, "nobody drops to zero");
    assert!(scaled[0].1 / scaled[1].1 == 2, "proportions are kept");
    let small = vec![([1; 32], 10), ([2; 32], 20)];
    assert_eq!(super::app::voting_powers(small.clone()), small, "a small set is unchanged");
}

#[test]
fn kept_proposals_survive_until_their_height_commits() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = app(dir.path());
    a.keep_proposal(1, [1; 32], vec![1, 1]);
    a.keep_proposal(1, [2; 32], vec![1, 2]);
    a.keep_proposal(2, [3; 32], vec![2, 3]);
    assert_eq!(a.kept_proposals(1), vec![vec![1, 1], vec![1, 2]]);
    let block = honest(&mut a, vec![transfer(0, 0)]).encode_to_vec();
    a.commit(1, addr(1).0, &block, Vec::new()).expect("commit");
    assert!(a.kept_proposals(1).is_empty(), "a committed height's proposals are dropped with it");
    assert_eq!(a.kept_proposals(2), vec![vec![2, 3]], "the next height's stay");
}

#[test]
fn a_proposals_new_transactions_are_checked_once_and_then_known() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = app(dir.path());
    let block = honest(&mut a, vec![transfer(0, 0), transfer(1, 0)]);
    let fresh = tempfile::tempdir().expect("dir");
    let mut v = app(fresh.path());
    assert!(v.check(1, addr(1).0, &block.encode_to_vec(), false));
    assert_eq!(v.signature_checks(), 2, "both were new here");
    assert!(v.has_pending(), "checked, they wait in the mempool for the relay to find");
    v.forget_trials();
    assert!(v.check(1, addr(1).0, &block.encode_to_vec(), false));
    assert_eq!(v.signature_checks(), 2, "a known transaction is not checked again");

    let mut forged = block.clone();
    let last = forged.txs[1].len() - 1;
    forged.txs[1][last] ^= 1;
    let other = tempfile::tempdir().expect("dir");
    let mut w = app(other.path());
    assert!(!w.check(1, addr(1).0, &forged.encode_to_vec(), false), "a forged signature is refused");
    assert!(!w.has_pending(), "a refused block gives the mempool nothing it was not relayed");
    w.relayed_during_check(&forged.txs[0]);
    w.relayed_during_check(&forged.txs[1]);
    assert!(!w.check(1, addr(1).0, &forged.encode_to_vec(), false));
    assert_eq!(w.signature_checks(), 4, "a transaction marked by an earlier check is still verified");
    assert!(w.pending(&forged.txs[0]), "a relayed valid one is kept, whatever was forged beside it");
    assert!(!w.pending(&forged.txs[1]), "the forged one is not");

    let mut foreign = block.clone();
    foreign.txs[0] = transfer_on("another-chain", 0, 0);
    let other = tempfile::tempdir().expect("dir");
    let mut x = app(other.path());
    x.relayed_during_check(&foreign.txs[0]);
    assert!(
        !x.check(1, addr(1).0, &foreign.encode_to_vec(), false),
        "another chain's transaction is refused"
    );
    assert_eq!(x.signature_checks(), 0, "before any signature is checked");
    assert!(!x.has_pending(), "and nothing is kept");
}

#[test]
fn a_decided_blocks_transactions_are_not_kept_since_its_commit_follows() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = app(dir.path());
    let block = honest(&mut a, vec![transfer(0, 0)]).encode_to_vec();
    let fresh = tempfile::tempdir().expect("dir");
    let mut v = app(fresh.path());
    assert!(v.check(1, addr(1).0, &block, true));
    assert_eq!(v.signature_checks(), 1);
    assert!(!v.has_pending());
}

#[test]
fn the_intake_spends_no_signature_check_on_what_it_can_settle_without_one() {
    let dir = tempfile::tempdir().expect("dir");
    let mut a = app(dir.path());
    let block = honest(&mut a, vec![transfer(0, 0)]).encode_to_vec();
    a.commit(1, addr(1).0, &block, Vec::new()).expect("commit");
    let pending = |bytes: Vec<u8>, reply| Pending { tx: wire::decode(&bytes).expect("decode"), bytes, reply };
    let mut pool = Mempool::default();
    let settle = |pool: &mut Mempool, p: Pending| {
        let hash = wire::tx_hash(&p.bytes);
        super::settle_unverified(pool, &a.state, &hash, p)
    };

    assert!(settle(&mut pool, pending(transfer(0, 0), None)).is_none(), "a relayed replay is dropped");
    let (own, _rx) = tokio::sync::oneshot::channel();
    assert!(
        settle(&mut pool, pending(transfer(0, 0), Some(own))).is_some(),
        "a node's own submission is always checked, so its error is the full one"
    );
    assert!(settle(&mut pool, pending(transfer(0, 1), None)).is_some(), "a new relayed one is checked");

    let waiting = transfer(1, 0);
    let tx = wire::decode(&waiting).expect("decode");
    pool.insert(tx, waiting.clone(), None).expect("insert");
    let (reply, mut rx) = tokio::sync::oneshot::channel();
    assert!(settle(&mut pool, pending(waiting.clone(), Some(reply))).is_none(), "known: no second check");
    pool.decided(2, &[waiting], &[Ok(())]);
    assert!(rx.try_recv().expect("answered").is_ok(), "the second submitter still gets the answer");

    let checking = transfer(0, 2);
    let hash = wire::tx_hash(&checking);
    assert_eq!(pool.begin_check(&[hash, hash]), vec![0], "each hash is checked once");
    assert!(settle(&mut pool, pending(checking.clone(), None)).is_none(), "parked with the proposal's check");
    assert!(pool.end_check([&hash]).contains(&hash), "which learns it was relayed");
    assert!(settle(&mut pool, pending(checking, None)).is_some(), "once that check is over, checked here");
}
