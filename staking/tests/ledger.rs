//! Scenario tests of the staking state machine: the epoch formula, governance timing, fees and
//! refusals, slashing, signature batches and replicas.

mod support;

use rand_core_06::OsRng;
use support::*;
use wick_staking::state::ProposalStatus;
use wick_staking::verify::verify_all;
use wick_staking::{Amount, ParamKey, Params, SignedTx, TxBody, TxError, WorkReport};

#[test]
fn epoch_pays_each_pair_from_escrow_by_the_documented_formula() {
    let mut n = Net::new(5, Params::default());
    let (a, b, d, r) = (0, 1, 2, 3);
    n.worker(a, 1_000, 100);
    n.worker(b, 0, 200);
    ok(n.run(d, TxBody::Delegate { worker: n.a(a), amount: Amount(300) }));
    n.router(r, 1_000, 100_000);
    n.work(a, r, 4_000, 4_000);
    // B over-claims: the pair is paid what the router attested.
    n.work(b, r, 3_000, 2_500);
    assert_eq!(n.state.routers[&n.a(r)].escrow, Amount(100_000 - 6_500), "attestations reserve");
    let burned_before = n.state.burned.0;
    n.end_epoch();
    // P_A = 4000, P_B = 2500; F = 10 %: 400 and 250; I = min(R·P/ΣP, F) = F (R is large).
    // X_A = 4000, C_A = 400, D gets 3600·300/400 = 2700, A keeps 1300; X_B = 2500.
    assert_eq!(n.state.account(&n.a(a)).rewards, Amount(1_300));
    assert_eq!(n.state.account(&n.a(d)).rewards, Amount(2_700));
    assert_eq!(n.state.account(&n.a(b)).rewards, Amount(2_500));
    let s = n.state.last_epoch;
    assert_eq!((s.credited_workers, s.paid, s.burned, s.minted), (2, 6_500, 650, 650));
    assert_eq!(n.state.burned.0 - burned_before, 650);
    assert_eq!(n.state.routers[&n.a(r)].escrow, Amount(100_000 - 6_500), "the router paid 6500");
    // The ended epoch's claims and attestations were used up and dropped.
    assert!(n.state.claims.is_empty() && n.state.attestations.is_empty());
    let balance = n.balance(d);
    let fee = n.fee(d, TxBody::WithdrawRewards);
    ok(n.run(d, TxBody::WithdrawRewards));
    assert_eq!(n.balance(d), balance + 2_700 - fee);
    assert_eq!(n.run(d, TxBody::WithdrawRewards), Err(TxError::NoRewards));
    let late = WorkReport { epoch: 0, receipts_root: [0; 32], count: 1, tokens: 1, amount: 1 };
    let claim = TxBody::WorkClaim { router: n.a(r), work: late };
    assert!(matches!(n.run(a, claim), Err(TxError::WrongEpoch { .. })), "a claim for the ended epoch");
}

#[test]
fn a_pair_without_both_sides_is_not_paid_and_the_reservation_returns() {
    let mut n = Net::new(4, Params::default());
    n.worker(0, 0, 100);
    n.router(1, 1_000, 10_000);
    let epoch = n.state.epoch;
    let report = WorkReport { epoch, receipts_root: [1; 32], count: 1, tokens: 10, amount: 700 };
    ok(n.run(1, TxBody::Attestation { worker: n.a(0), work: report }));
    assert_eq!(n.state.routers[&n.a(1)].escrow, Amount(9_300));
    n.end_epoch();
    assert_eq!(n.state.routers[&n.a(1)].escrow, Amount(10_000), "no claim: the reservation returns");
    assert_eq!(n.state.last_epoch.paid, 0);
    // An attestation beyond the escrow is refused (a failure: fee charged, nothing reserved).
    let big = WorkReport { epoch: 1, amount: 10_001, ..report };
    assert_eq!(
        n.run(1, TxBody::Attestation { worker: n.a(0), work: big }),
        Err(TxError::InsufficientEscrow { escrow: Amount(10_000), needed: Amount(10_001) })
    );
    assert_eq!(n.state.routers[&n.a(1)].escrow, Amount(10_000));
}

#[test]
fn governance_opens_next_epoch_tallies_on_the_snapshot_and_waits_the_timelock() {
    let mut n = Net::new(4, Params::default());
    n.worker(0, 0, 100);
    ok(n.run(1, TxBody::Delegate { worker: n.a(0), amount: Amount(300) }));
    assert_eq!(
        n.run(2, TxBody::Propose { key: ParamKey::EpochReward, value: 5 }),
        Err(TxError::NoVotingPower)
    );
    ok(n.run(0, TxBody::Propose { key: ParamKey::EpochReward, value: 5 }));
    // Submitted in epoch 0: no vote counts before voting opens in epoch 1.
    assert!(matches!(n.run(1, TxBody::Vote { proposal: 0, yes: true }), Err(TxError::VotingClosed { .. })));
    n.end_epoch();
    assert_eq!(n.state.proposals[&0].status, ProposalStatus::Voting);
    // Power bonded after the snapshot does not vote.
    ok(n.run(2, TxBody::Delegate { worker: n.a(0), amount: Amount(10_000) }));
    assert_eq!(n.run(2, TxBody::Vote { proposal: 0, yes: false }), Err(TxError::NoVotingPower));
    ok(n.run(1, TxBody::Vote { proposal: 0, yes: true }));
    assert_eq!(n.run(1, TxBody::Vote { proposal: 0, yes: false }), Err(TxError::AlreadyVoted(0)));
    n.end_epoch();
    assert_eq!(n.state.proposals[&0].status, ProposalStatus::Passed { effective: 3 });
    assert_eq!(n.state.params.epoch_reward, 1_000_000, "the timelock holds the change");
    n.end_epoch();
    assert_eq!(n.state.params.epoch_reward, 5);
    assert_eq!(n.state.proposals[&0].status, ProposalStatus::Applied);
}

#[test]
fn proposals_outside_the_bounds_are_refused() {
    let mut n = Net::new(3, Params::default());
    n.worker(0, 0, 100);
    let supply = n.state.supply.0;
    for (key, value) in [
        (ParamKey::QuorumBps, 0),
        (ParamKey::SlashBps, 10_000),
        (ParamKey::ThresholdBps, 10_000),
        (ParamKey::EpochReward, supply / 100 + 1),
        (ParamKey::MinFee, 0),
        (ParamKey::VotingEpochs, 0),
    ] {
        let got = n.run(0, TxBody::Propose { key, value });
        assert!(matches!(got, Err(TxError::BadParam(_))), "{key:?} = {value}: {got:?}");
    }
    // The refused proposals paid fees, which burned supply: the bound moves with it.
    let supply = n.state.supply.0;
    ok(n.run(0, TxBody::Propose { key: ParamKey::EpochReward, value: supply / 100 }));
}

#[test]
fn a_proposal_without_quorum_is_rejected() {
    let mut n = Net::new(3, Params::default());
    n.worker(0, 0, 100);
    ok(n.run(1, TxBody::Delegate { worker: n.a(0), amount: Amount(900) }));
    ok(n.run(0, TxBody::Propose { key: ParamKey::SlashBps, value: 200 }));
    n.end_epoch();
    ok(n.run(0, TxBody::Vote { proposal: 0, yes: true }));
    n.end_epoch();
    assert_eq!(n.state.proposals[&0].status, ProposalStatus::Rejected);
    assert_eq!(n.state.params.slash_bps, Params::default().slash_bps);
}

/// Applies `t`, expects `want`, and checks the state did not change at all (a refusal).
fn refused(n: &mut Net, t: SignedTx, want: TxError) {
    let before = n.state.clone();
    let r = apply_block(&mut n.state, &[t]);
    assert_eq!(r[0], Err(want.clone()));
    assert!(want.is_refusal(), "{want} is a refusal");
    drop_block(&mut n.state, &before);
    assert_eq!(n.state, before);
}

#[test]
fn refusals_change_nothing_and_failures_cost_their_fee() {
    let mut n = Net::new(3, Params::default());
    n.worker(0, 0, 100);
    let mut wrong_chain = n.tx(0, TxBody::WithdrawRewards).tx;
    wrong_chain.chain_id = "other".into();
    let t = wrong_chain.sign(&n.keys[0]);
    refused(&mut n, t, TxError::WrongChain { expected: CHAIN.into(), got: "other".into() });
    let mut bad_sig = n.tx(1, TxBody::Transfer { to: n.a(2), amount: Amount(1) });
    bad_sig.signature[0] ^= 1;
    refused(&mut n, bad_sig, TxError::BadSignature);
    let mut future = n.tx(1, TxBody::Transfer { to: n.a(2), amount: Amount(1) }).tx;
    future.nonce = 7;
    let t = future.sign(&n.keys[1]);
    refused(&mut n, t, TxError::BadNonce { expected: 0, got: 7 });
    // Fee 0, or one below min_fee + fee_per_byte × size: refused, not stored, nonce unused.
    let required = n.fee(1, TxBody::Transfer { to: n.a(2), amount: Amount(1) });
    for offered in [0, required - 1] {
        let t = n.tx_fee(1, Some(offered), TxBody::Transfer { to: n.a(2), amount: Amount(1) });
        refused(&mut n, t, TxError::FeeTooLow { required: Amount(required), offered: Amount(offered) });
    }
    // A key that holds nothing cannot even pay the fee.
    let stranger = 5;
    let t = n.tx(stranger, TxBody::Transfer { to: n.a(2), amount: Amount(1) });
    let fee = t.tx.fee;
    refused(&mut n, t, TxError::CannotPayFee { balance: Amount::ZERO, fee });
    // A failure pays its fee and uses its nonce, and changes nothing else.
    let balance = n.balance(1);
    let t = n.tx(1, TxBody::Transfer { to: n.a(2), amount: Amount(u128::MAX) });
    let fee = t.tx.fee.0;
    assert_eq!(apply_block(&mut n.state, &[t])[0], Err(TxError::Overflow));
    assert_eq!((n.balance(1), n.state.account(&n.a(1)).nonce), (balance - fee, 1));
    let t = n.tx(0, TxBody::Unstake { amount: Amount(101) });
    assert_eq!(
        apply_block(&mut n.state, &[t])[0],
        Err(TxError::InsufficientStake { bonded: Amount(100), requested: Amount(101) })
    );
    assert_eq!(n.run(1, TxBody::Vote { proposal: 9, yes: true }), Err(TxError::NoProposal(9)));
}

#[test]
fn a_fraud_proof_slashes_the_worker_and_its_delegators_and_the_reporter_gets_at_most_its_loss() {
    let mut n = Net::new(5, Params::default());
    n.worker(0, 0, 1_000);
    ok(n.run(1, TxBody::Delegate { worker: n.a(0), amount: Amount(2_000) }));
    n.router(2, 1_000, 1_000);
    // The reporter is a bonded worker.
    n.worker(3, 0, 10);
    let t = ticket(&n.keys[2], 7, n.state.epoch);
    let supply = n.state.supply.0;
    let same = TxBody::FraudProof {
        ticket: Box::new(t.clone()),
        a: Box::new(receipt(&n.keys[0], &t, 1)),
        b: Box::new(receipt(&n.keys[0], &t, 1)),
    };
    assert!(matches!(n.run(3, same), Err(TxError::BadFraudProof(_))));
    let mut forged = receipt(&n.keys[0], &t, 2);
    forged.worker_signature[3] ^= 1;
    let bad = TxBody::FraudProof {
        ticket: Box::new(t.clone()),
        a: Box::new(receipt(&n.keys[0], &t, 1)),
        b: Box::new(forged),
    };
    assert!(matches!(n.run(3, bad), Err(TxError::BadFraudProof(_))));
    let balance = n.balance(3);
    let proof = fraud_proof(&n.keys[0], &t);
    let fee = n.fee(3, proof.clone());
    let supply_before = n.state.supply.0;
    ok(n.run(3, proof.clone()));
    let w = &n.state.workers[&n.a(0)];
    assert!(w.jailed());
    assert_eq!((w.self_stake, w.delegated), (Amount(900), Amount(1_800)));
    assert_eq!(n.state.delegations[&(n.a(1), n.a(0))], Amount(1_800));
    // Cut 300; half would be 150, capped by the worker's own loss of 100; 200 burned.
    assert_eq!(n.balance(3), balance - fee + 100);
    assert_eq!(n.state.supply.0, supply_before - fee - 200);
    assert!(n.state.supply.0 < supply);
    assert_eq!(n.run(3, proof), Err(TxError::Duplicate));
}

fn transfers_with_bad_signatures(bad: &[usize]) -> Vec<SignedTx> {
    let n = Net::new(4, Params::default());
    let mut txs: Vec<SignedTx> = (0..150u128)
        .map(|i| n.tx((i % 4) as usize, TxBody::Transfer { to: n.a(0), amount: Amount(i + 1) }))
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
        let t = n.tx(
            (i % 4) as usize,
            TxBody::Transfer { to: n.a(((i + 1) % 4) as usize), amount: Amount(1_000 + i) },
        );
        apply_block(&mut n.state, std::slice::from_ref(&t));
        apply_block(&mut replica, &[t]);
        let (root, again) = (n.state.root(), replica.root());
        assert_eq!(root, again);
        roots.push(root);
    }
    roots.dedup();
    assert_eq!(roots.len(), 20, "every block changes the height, so every root differs");
}
