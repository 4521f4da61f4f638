use ed25519_dalek::SigningKey;
use wick_proto::v1::{EpochSettlement, JobTicket, Payout, TxResult};
use wick_staking::{Amount, Tx, WorkReport};

use super::*;

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i; 32])
}

fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

fn tx(signer: u8, nonce: u64, body: TxBody) -> Vec<u8> {
    let t = Tx { chain_id: "t".into(), signer: Address::default(), nonce, fee: Amount::ZERO, body };
    wire::encode(&t.sign(&key(signer)))
}

fn block(height: u64, epoch: u64, txs: Vec<(Vec<u8>, &str)>) -> Block {
    let results =
        txs.iter().map(|(_, code)| TxResult { code: (*code).into(), message: (*code).into() }).collect();
    Block {
        height,
        time_unix_ms: 1_000 * height,
        txs: txs.into_iter().map(|(t, _)| t).collect(),
        results,
        epoch,
        ..Default::default()
    }
}

/// Worker 1, routers 2 and 3, delegator 4: a claim, two attestations, an epoch end that
/// credits and pays, then an audit proof.
fn chain() -> Vec<Block> {
    let (w, r1, r2) = (1, 2, 3);
    let root = [5; 32];
    let work =
        |tokens| WorkReport { epoch: 0, receipts_root: root, count: 3, tokens, amount: u128::from(tokens) };
    // The worker claims its work under router 1; router 2 attests work nobody claimed.
    let claim = TxBody::WorkClaim { router: addr(r1), work: work(30) };
    let att = |tokens| TxBody::Attestation { worker: addr(w), work: work(tokens) };
    let b1 = block(
        1,
        0,
        vec![
            (tx(w, 0, TxBody::RegisterWorker { commission_bps: 100 }), ""),
            (tx(4, 0, TxBody::Transfer { to: addr(w), amount: Amount(1 << 100) }), "insufficient_balance"),
        ],
    );
    let b2 = block(2, 0, vec![(tx(w, 1, claim), ""), (tx(r1, 0, att(25)), ""), (tx(r2, 0, att(28)), "")]);
    let mut b3 = block(3, 1, Vec::new());
    b3.epoch_end = true;
    b3.settlement = Some(EpochSettlement {
        epoch: 0,
        payouts: vec![
            Payout { account: addr(w).0.to_vec(), amount: "700".into() },
            Payout { account: addr(4).0.to_vec(), amount: "300".into() },
        ],
    });
    let audit =
        TxBody::AuditProof { ticket: Box::new(JobTicket::default()), receipts: Vec::new(), accused: addr(w) };
    let b4 = block(4, 1, vec![(tx(r1, 1, audit), "")]);
    vec![b1, b2, b3, b4]
}

#[test]
fn blocks_become_history_per_worker_router_and_account() {
    let mut index = Index::new();
    let blocks = chain();
    assert!(!index.ingest(blocks[1].clone()), "height 2 before height 1");
    for b in blocks.clone() {
        assert!(index.ingest(b));
    }
    assert!(!index.ingest(blocks[3].clone()), "a block twice");
    assert_eq!(index.next_height(), 5);

    let w = addr(1);
    let work = index.work(&w).expect("worker history");
    let e0 = work.get(&0).expect("epoch 0");
    assert_eq!(
        (e0.claimed, e0.attested, e0.credited, e0.reward),
        (Some((3, 30)), Some(53), Some(25), Some(700)),
        "credited per router: min(30, 25) from router 1, nothing unclaimed from router 2"
    );
    assert_eq!(index.credited(0).len(), 1);
    let r1 = &index.routers()[&addr(2)][&0];
    assert_eq!((r1.workers, r1.receipts, r1.tokens), (1, 3, 25));

    // The rejected transfer is listed for both accounts, but changes no history.
    let txs = index.account_txs(&w, 10);
    assert_eq!(txs.len(), 6, "register, transfer, claim, two attestations, audit");
    assert_eq!(txs[0].2, TxLoc { height: 4, index: 0 }, "newest first");
    assert!(txs.iter().any(|(_, t, _)| t.code == "insufficient_balance"));
    let hash = txs[0].1.hash;
    assert_eq!(index.tx(&hash).map(|(b, _, _)| b.height), Some(4));

    assert_eq!(index.slashes().len(), 1);
    let s = &index.slashes()[0];
    assert_eq!((s.worker, s.reporter, s.kind, s.epoch), (w, addr(2), "audit_proof", 1));
    assert_eq!(index.last_epoch().map(|(e, b)| (e, b.height)), Some((0, 3)));
    assert_eq!(index.payouts(&addr(4), 10), vec![(0, 300)]);
    assert_eq!(index.blocks_before(Some(3), 10).map(|b| b.height).collect::<Vec<_>>(), vec![2, 1]);
    // Six transactions in the blocks of the last 4 s (times 1..4 s), at 4.5 s.
    assert!((index.tx_rate(4_500, 4_000) - 1.5).abs() < 1e-9);
}

#[test]
fn undecodable_bytes_are_kept_with_their_reason() {
    let mut index = Index::new();
    let b = block(1, 0, vec![(vec![1, 2, 3], "malformed")]);
    assert!(index.ingest(b));
    let t = &index.block(1).expect("block").txs[0];
    assert!(t.tx.as_ref().is_err_and(|e| e.contains("shorter than a signature")), "{:?}", t.tx);
    assert!(!t.applied());
}
