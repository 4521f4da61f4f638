//! Scenario and property tests of the staking state machine.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use rand_core_06::OsRng;
use wick_proto::v1::Receipt;
use wick_staking::verify::verify_all;
use wick_staking::{Address, Amount, ParamKey, Params, SignedTx, State, Tx, TxBody, TxError};

/// Applies a block serially, its signatures batch-verified with the system's randomness.
fn apply_block(state: &mut State, txs: &[SignedTx]) -> Vec<Result<(), TxError>> {
    state.apply_block(txs, verify_all(txs, OsRng))
}

const CHAIN: &str = "wick-test";

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

fn addr(k: &SigningKey) -> Address {
    Address(k.verifying_key().to_bytes())
}

struct Net {
    state: State,
    keys: Vec<SigningKey>,
}

impl Net {
    fn new(n: u8, params: Params) -> Self {
        let keys: Vec<_> = (0..n).map(key).collect();
        let bal: Vec<_> = keys.iter().map(|k| (addr(k), Amount(1_000_000))).collect();
        Net { state: State::genesis(CHAIN, params, &bal).expect("genesis"), keys }
    }

    fn tx(&self, i: usize, fee: u128, body: TxBody) -> SignedTx {
        let a = addr(&self.keys[i]);
        let nonce = self.state.account(&a).nonce;
        Tx { chain_id: CHAIN.into(), signer: a, nonce, fee: Amount(fee), body }.sign(&self.keys[i])
    }

    fn run(&mut self, i: usize, body: TxBody) -> Result<(), TxError> {
        let t = self.tx(i, 0, body);
        let mut r = apply_block(&mut self.state, &[t]);
        r.remove(0)
    }

    fn a(&self, i: usize) -> Address {
        addr(&self.keys[i])
    }
}

fn ok(r: Result<(), TxError>) {
    r.expect("transaction accepted");
}

#[test]
fn epoch_pays_exact_documented_shares() {
    let mut n = Net::new(4, Params::default());
    let (a, b, d) = (0, 1, 2);
    ok(n.run(a, TxBody::RegisterWorker { commission_bps: 1_000 }));
    ok(n.run(a, TxBody::Stake { amount: Amount(100) }));
    ok(n.run(b, TxBody::RegisterWorker { commission_bps: 0 }));
    ok(n.run(b, TxBody::Stake { amount: Amount(200) }));
    ok(n.run(d, TxBody::Delegate { worker: n.a(a), amount: Amount(300) }));
    let (r1, r2) = ([1; 32], [2; 32]);
    ok(n.run(a, TxBody::WorkClaim { epoch: 0, receipts_root: r1, count: 1, tokens: 10 }));
    ok(n.run(b, TxBody::WorkClaim { epoch: 0, receipts_root: r2, count: 2, tokens: 20 }));
    let (wa, wb) = (n.a(a), n.a(b));
    ok(n.run(3, TxBody::Attestation { epoch: 0, worker: wa, receipts_root: r1, count: 1, tokens: 10 }));
    ok(n.run(3, TxBody::Attestation { epoch: 0, worker: wb, receipts_root: r2, count: 2, tokens: 15 }));
    n.state.end_epoch();
    // x_A = 10·400 = 4000, x_B = 15·200 = 3000; P_A = 10^6·4000/7000 = 571428, P_B = 428571.
    // C_A = 57142; D gets (571428 − 57142)·300/400 = 385714; A keeps 571428 − 385714 = 185714.
    assert_eq!(n.state.account(&n.a(a)).rewards, Amount(185_714));
    assert_eq!(n.state.account(&n.a(d)).rewards, Amount(385_714));
    assert_eq!(n.state.account(&n.a(b)).rewards, Amount(428_571));
    assert_eq!(n.state.minted, Amount(185_714 + 385_714 + 428_571));
    ok(n.run(d, TxBody::WithdrawRewards));
    assert_eq!(n.state.account(&n.a(d)).balance, Amount(1_000_000 - 300 + 385_714));
    assert_eq!(n.run(d, TxBody::WithdrawRewards), Err(TxError::NoRewards));
    // The ended epoch's claims and attestations were used up and dropped; the count stays.
    assert!(n.state.claims.is_empty() && n.state.attestations.is_empty());
    assert_eq!(n.state.last_epoch_credited, 2);
    let late = TxBody::WorkClaim { epoch: 0, receipts_root: r1, count: 1, tokens: 10 };
    assert!(matches!(n.run(a, late), Err(TxError::WrongEpoch { .. })), "a claim for the ended epoch");
}

#[test]
fn governance_change_passes_with_quorum_and_applies_next_epoch() {
    let mut n = Net::new(3, Params::default());
    ok(n.run(0, TxBody::RegisterWorker { commission_bps: 0 }));
    ok(n.run(0, TxBody::Stake { amount: Amount(100) }));
    ok(n.run(1, TxBody::Delegate { worker: n.a(0), amount: Amount(300) }));
    assert_eq!(
        n.run(2, TxBody::Propose { key: ParamKey::EpochReward, value: 5 }),
        Err(TxError::NoVotingPower)
    );
    ok(n.run(0, TxBody::Propose { key: ParamKey::EpochReward, value: 5 }));
    ok(n.run(1, TxBody::Vote { proposal: 0, yes: true }));
    assert_eq!(n.run(1, TxBody::Vote { proposal: 0, yes: false }), Err(TxError::AlreadyVoted(0)));
    assert_eq!(n.state.params.epoch_reward, 1_000_000);
    n.state.end_epoch();
    assert_eq!(n.state.proposals[&0].passed, Some(true));
    assert_eq!(n.state.params.epoch_reward, 5);
    assert_eq!(
        n.run(0, TxBody::Vote { proposal: 0, yes: true }),
        Err(TxError::VotingClosed { proposal: 0, ended: 0 })
    );
}

#[test]
fn proposal_without_quorum_fails() {
    let mut n = Net::new(3, Params::default());
    ok(n.run(0, TxBody::RegisterWorker { commission_bps: 0 }));
    ok(n.run(0, TxBody::Stake { amount: Amount(100) }));
    ok(n.run(1, TxBody::Delegate { worker: n.a(0), amount: Amount(900) }));
    ok(n.run(0, TxBody::Propose { key: ParamKey::SlashBps, value: 10 }));
    ok(n.run(0, TxBody::Vote { proposal: 0, yes: true }));
    n.state.end_epoch();
    assert_eq!(n.state.proposals[&0].passed, Some(false));
    assert_eq!(n.state.params.slash_bps, Params::default().slash_bps);
}

#[test]
fn bad_inputs_are_rejected_precisely_and_change_nothing() {
    let mut n = Net::new(3, Params::default());
    ok(n.run(0, TxBody::RegisterWorker { commission_bps: 0 }));
    ok(n.run(0, TxBody::Stake { amount: Amount(100) }));
    let before = n.state.clone();
    let check = |n: &mut Net, t: SignedTx, want: TxError| {
        let root = n.state.root();
        let r = apply_block(&mut n.state, &[t]);
        assert_eq!(r[0], Err(want));
        n.state.height -= 1;
        assert_eq!(n.state.root(), root);
    };
    let mut wrong_chain = n.tx(0, 0, TxBody::WithdrawRewards).tx;
    wrong_chain.chain_id = "other".into();
    let t = wrong_chain.sign(&n.keys[0]);
    check(&mut n, t, TxError::WrongChain { expected: CHAIN.into(), got: "other".into() });
    let mut bad_sig = n.tx(1, 0, TxBody::Transfer { to: n.a(2), amount: Amount(1) });
    bad_sig.signature[0] ^= 1;
    check(&mut n, bad_sig, TxError::BadSignature);
    let mut future = n.tx(1, 0, TxBody::Transfer { to: n.a(2), amount: Amount(1) }).tx;
    future.nonce = 7;
    let t = future.sign(&n.keys[1]);
    check(&mut n, t, TxError::BadNonce { expected: 0, got: 7 });
    let t = n.tx(1, 5, TxBody::Transfer { to: n.a(2), amount: Amount(1_000_000) });
    check(&mut n, t, TxError::InsufficientBalance { balance: Amount(1_000_000), needed: Amount(1_000_005) });
    let t = n.tx(1, 1, TxBody::Transfer { to: n.a(2), amount: Amount(u128::MAX) });
    check(&mut n, t, TxError::Overflow);
    let t = n.tx(0, 0, TxBody::Unstake { amount: Amount(101) });
    check(&mut n, t, TxError::InsufficientStake { bonded: Amount(100), requested: Amount(101) });
    let t = n.tx(0, 0, TxBody::WorkClaim { epoch: 1, receipts_root: [0; 32], count: 1, tokens: 1 });
    check(&mut n, t, TxError::WrongEpoch { current: 0, got: 1 });
    let t = n.tx(1, 0, TxBody::Vote { proposal: 9, yes: true });
    check(&mut n, t, TxError::NoProposal(9));
    let mut s = before.clone();
    s.height = n.state.height;
    assert_eq!(s, n.state);
    ok(n.run(0, TxBody::WorkClaim { epoch: 0, receipts_root: [0; 32], count: 1, tokens: 1 }));
    let t = n.tx(0, 0, TxBody::WorkClaim { epoch: 0, receipts_root: [0; 32], count: 1, tokens: 1 });
    check(&mut n, t, TxError::Duplicate);
    n.state.end_epoch();
    let t = n.tx(0, 0, TxBody::WorkClaim { epoch: 0, receipts_root: [0; 32], count: 1, tokens: 1 });
    check(&mut n, t, TxError::WrongEpoch { current: 1, got: 0 });
}

fn receipt(worker: &SigningKey, out: u8) -> Box<wick_proto::v1::SignedReceipt> {
    let r =
        Receipt { job_hash: vec![7; 32], output_hash: vec![out; 32], tokens_out: 3, ..Default::default() };
    Box::new(wick_proto::signing::sign_receipt(worker, r))
}

#[test]
fn fraud_proof_slashes_worker_and_delegators_pays_reporter_and_jails() {
    let mut n = Net::new(3, Params::default());
    ok(n.run(0, TxBody::RegisterWorker { commission_bps: 0 }));
    ok(n.run(0, TxBody::Stake { amount: Amount(1_000) }));
    ok(n.run(1, TxBody::Delegate { worker: n.a(0), amount: Amount(2_000) }));
    let supply = n.state.supply;
    let same = TxBody::FraudProof { a: receipt(&n.keys[0], 1), b: receipt(&n.keys[0], 1) };
    assert!(matches!(n.run(2, same), Err(TxError::BadFraudProof(_))));
    let mut forged = receipt(&n.keys[0], 2);
    forged.worker_signature[3] ^= 1;
    let bad = TxBody::FraudProof { a: receipt(&n.keys[0], 1), b: forged };
    assert!(matches!(n.run(2, bad), Err(TxError::BadFraudProof(_))));
    let proof = TxBody::FraudProof { a: receipt(&n.keys[0], 1), b: receipt(&n.keys[0], 2) };
    ok(n.run(2, proof.clone()));
    let w = &n.state.workers[&n.a(0)];
    assert!(w.jailed);
    assert_eq!((w.self_stake, w.delegated), (Amount(900), Amount(1_800)));
    assert_eq!(n.state.delegations[&(n.a(1), n.a(0))], Amount(1_800));
    // Cut 300: reporter gets 150, 150 burned.
    assert_eq!(n.state.account(&n.a(2)).balance, Amount(1_000_150));
    assert_eq!(n.state.supply, Amount(supply.0 - 150));
    assert_eq!(n.run(2, proof), Err(TxError::Duplicate));
}

fn total_held(s: &State) -> u128 {
    let acc: u128 = s.accounts.values().map(|a| a.balance.0 + a.rewards.0).sum();
    let bonded: u128 = s.workers.values().map(|w| w.self_stake.0 + w.delegated.0).sum();
    let unb: u128 = s.unbonding.values().map(|v| v.0).sum();
    acc + bonded + unb
}

fn op(n: &Net, who: usize, kind: u8, x: u128, other: usize, fee: u128) -> SignedTx {
    let epoch = n.state.epoch;
    let body = match kind % 10 {
        0 => TxBody::Transfer { to: n.a(other), amount: Amount(x) },
        1 => TxBody::RegisterWorker { commission_bps: (x % 12_000) as u32 },
        2 => TxBody::Stake { amount: Amount(x) },
        3 => TxBody::Unstake { amount: Amount(x) },
        4 => TxBody::Delegate { worker: n.a(other), amount: Amount(x) },
        5 => TxBody::Undelegate { worker: n.a(other), amount: Amount(x) },
        6 => TxBody::WithdrawRewards,
        7 => TxBody::WorkClaim { epoch, receipts_root: [1; 32], count: 1, tokens: (x % 50) as u64 },
        8 => TxBody::Attestation {
            epoch,
            worker: n.a(other),
            receipts_root: [1; 32],
            count: 1,
            tokens: (x % 60) as u64,
        },
        _ => TxBody::Vote { proposal: 0, yes: x.is_multiple_of(2) },
    };
    n.tx(who, fee, body)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn supply_conserved_no_negative_and_replay_rejected(
        ops in prop::collection::vec((0usize..4, any::<u8>(), 0u128..400_000, 0usize..4, 0u128..3, any::<bool>()), 1..80)
    ) {
        let mut n = Net::new(4, Params::default());
        let genesis = n.state.supply.0;
        for (who, kind, x, other, fee, end) in ops {
            let t = op(&n, who, kind, x, other, fee);
            let r = apply_block(&mut n.state, std::slice::from_ref(&t));
            if r[0].is_ok() {
                let root = n.state.root();
                let again = apply_block(&mut n.state, std::slice::from_ref(&t));
                let replayed = matches!(again[0], Err(TxError::BadNonce { .. }));
                prop_assert!(replayed, "replay accepted");
                n.state.height -= 1;
                prop_assert_eq!(n.state.root(), root);
            }
            if end {
                n.state.end_epoch();
            }
            prop_assert_eq!(n.state.supply.0, genesis + n.state.minted.0 - n.state.burned.0);
            prop_assert_eq!(total_held(&n.state), n.state.supply.0);
        }
    }
}

/// 150 signed transfers (more than two batches) whose signatures at `bad` are broken.
fn transfers_with_bad_signatures(bad: &[usize]) -> Vec<SignedTx> {
    let n = Net::new(4, Params::default());
    let mut txs: Vec<SignedTx> = (0..150u128)
        .map(|i| n.tx((i % 4) as usize, 0, TxBody::Transfer { to: n.a(0), amount: Amount(i + 1) }))
        .collect();
    for &i in bad {
        txs[i].signature[10] ^= 1;
    }
    txs
}

#[test]
fn batch_verification_names_exactly_the_bad_signatures() {
    let txs = transfers_with_bad_signatures(&[3, 70, 149]);
    let got = verify_all(&txs, OsRng);
    for (i, r) in got.iter().enumerate() {
        let want = if [3, 70, 149].contains(&i) { Err(TxError::BadSignature) } else { Ok(()) };
        assert_eq!(*r, want, "tx {i}");
    }
}

#[test]
fn decoding_and_verifying_wire_bytes_matches_verify_all() {
    let txs = transfers_with_bad_signatures(&[0, 64, 127]);
    let mut bytes: Vec<Vec<u8>> = txs.iter().map(wick_staking::wire::encode).collect();
    let (decoded, sigs) = wick_staking::verify::decode_verify_all(&bytes, OsRng).expect("all decode");
    assert_eq!(decoded, txs);
    assert_eq!(sigs, verify_all(&txs, OsRng));
    assert_eq!(sigs.iter().filter(|s| s.is_err()).count(), 3);
    bytes[100].truncate(10);
    let (index, error) = wick_staking::verify::decode_verify_all(&bytes, OsRng).expect_err("a bad encoding");
    assert_eq!(index, 100);
    assert!(matches!(error, TxError::Malformed { .. }), "{error}");
}

#[test]
fn replicas_replaying_the_same_blocks_agree_on_the_root() {
    let mut n = Net::new(4, Params::default());
    let mut replica = n.state.clone();
    let mut roots = Vec::new();
    for i in 0..20u128 {
        let t = op(&n, (i % 4) as usize, (i * 3) as u8, 1_000 + i, ((i + 1) % 4) as usize, 1);
        apply_block(&mut n.state, std::slice::from_ref(&t));
        apply_block(&mut replica, &[t]);
        let (root, again) = (n.state.root(), replica.root());
        assert_eq!(root, again);
        roots.push(root);
    }
    roots.dedup();
    assert_eq!(roots.len(), 20, "every block changes the height, so every root differs");
}
