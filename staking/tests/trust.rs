//! The ledger believes only keys with something to lose: each attack of the trust review, tried
//! on the state machine, and refused.

mod support;

use support::*;
use wick_staking::state::Bond;
use wick_staking::{Amount, Params, TxBody, TxError, WorkReport};

/// A network with worker 0 (stake 1000, delegated 2000 by key 1), router 2, bonded worker 3.
fn network() -> Net {
    let mut n = Net::new(6, Params::default());
    n.worker(0, 0, 1_000);
    ok(n.run(1, TxBody::Delegate { worker: n.a(0), amount: Amount(2_000) }));
    n.router(2, 1_000, 10_000);
    n.worker(3, 0, 10);
    n
}

fn untouched(n: &Net) {
    let w = &n.state.workers[&n.a(0)];
    assert!(!w.jailed(), "the honest worker is not jailed");
    assert_eq!((w.self_stake, w.delegated), (Amount(1_000), Amount(2_000)));
}

#[test]
fn a_stranger_cannot_get_a_worker_slashed_with_its_own_ticket() {
    let mut n = network();
    // Key 6 holds nothing: it cannot even pay the fee; nothing is stored.
    let stranger = 6;
    let forged = ticket(&n.keys[stranger], 1, n.state.epoch);
    let before = n.state.clone();
    let r = n.run(stranger, fraud_proof(&n.keys[0], &forged));
    assert!(matches!(r, Err(TxError::CannotPayFee { .. })), "{r:?}");
    drop_block(&mut n.state, &before);
    assert_eq!(n.state, before);
    // Funded (key 4), it is still no bonded reporter.
    let r = n.run(4, fraud_proof(&n.keys[0], &ticket(&n.keys[4], 1, n.state.epoch)));
    assert_eq!(r, Err(TxError::NotBonded("the reporter")));
    // A bonded reporter with a ticket signed by a key that is not a router in good standing.
    let r = n.run(3, fraud_proof(&n.keys[0], &ticket(&n.keys[4], 1, n.state.epoch)));
    assert_eq!(r, Err(TxError::NotBonded("the ticket's router")));
    untouched(&n);
}

#[test]
fn a_worker_restarted_on_another_device_is_not_slashed_for_its_new_answer() {
    let mut n = network();
    let t = ticket(&n.keys[2], 1, n.state.epoch);
    // The same job, honestly computed once on the CPU and once on a GPU: other bits, no lie.
    let proof = TxBody::FraudProof {
        ticket: Box::new(t.clone()),
        a: Box::new(receipt(&n.keys[0], &t, 1)),
        b: Box::new(receipt_in("cuda-8.6", &n.keys[0], &t, 2)),
    };
    let r = n.run(3, proof);
    assert!(matches!(&r, Err(TxError::BadFraudProof(m)) if m.contains("different numeric classes")), "{r:?}");
    untouched(&n);
}

#[test]
fn audit_witnesses_of_another_class_cannot_frame_a_worker() {
    let mut n = network();
    n.worker(4, 0, 10);
    let t = ticket(&n.keys[2], 1, n.state.epoch);
    let audit = |accused_class: &str| TxBody::AuditProof {
        ticket: Box::new(t.clone()),
        receipts: vec![
            receipt_in(accused_class, &n.keys[0], &t, 1),
            receipt(&n.keys[3], &t, 2),
            receipt(&n.keys[4], &t, 2),
        ],
        accused: n.a(0),
    };
    // Two bonded CPU workers agree against worker 0, which honestly ran the job on a GPU.
    let (mixed, one_class) = (audit("cuda-8.6"), audit(CPU_CLASS));
    let r = n.run(2, mixed);
    assert!(matches!(&r, Err(TxError::BadFraudProof(m)) if m.contains("different numeric classes")), "{r:?}");
    untouched(&n);
    // The class was the only flaw: within one class the same evidence slashes.
    ok(n.run(2, one_class));
    assert!(n.state.workers[&n.a(0)].jailed());
}

#[test]
fn a_worker_cannot_report_itself() {
    let mut n = network();
    let t = ticket(&n.keys[2], 1, n.state.epoch);
    assert_eq!(n.run(0, fraud_proof(&n.keys[0], &t)), Err(TxError::SelfReport));
    untouched(&n);
}

#[test]
fn reporting_oneself_through_another_key_never_gains() {
    let mut n = network();
    let t = ticket(&n.keys[2], 1, n.state.epoch);
    let worth = |n: &Net| {
        let w = &n.state.workers[&n.a(0)];
        let r = &n.state.workers[&n.a(3)];
        n.balance(0) + n.balance(3) + w.self_stake.0 + r.self_stake.0
    };
    let before = worth(&n);
    ok(n.run(3, fraud_proof(&n.keys[0], &t)));
    assert!(worth(&n) < before, "the pair lost: the reporter's part is capped by the worker's own loss");
}

#[test]
fn only_bonded_routers_attest_and_only_registered_workers_are_named() {
    let mut n = network();
    let report =
        WorkReport { epoch: 0, receipts_root: [5; 32], count: 1, tokens: 1_000_000_000_000, amount: 10 };
    // A fresh, unfunded key: refused before anything is stored.
    let accounts = n.state.accounts.len();
    let r = n.run(6, TxBody::Attestation { worker: n.a(0), work: report });
    assert!(matches!(r, Err(TxError::CannotPayFee { .. })));
    assert_eq!(n.state.accounts.len(), accounts, "no account created");
    // Funded but not a router.
    assert_eq!(n.run(4, TxBody::Attestation { worker: n.a(0), work: report }), Err(TxError::NotRouter));
    // A router naming a key that is no worker creates no worker record.
    assert_eq!(n.run(2, TxBody::Attestation { worker: n.a(5), work: report }), Err(TxError::NotWorker));
    assert!(!n.state.workers.contains_key(&n.a(5)));
    // A registered router without bonded stake.
    ok(n.run(4, TxBody::RegisterRouter));
    ok(n.run(4, TxBody::FundEscrow { amount: Amount(100) }));
    assert_eq!(
        n.run(4, TxBody::Attestation { worker: n.a(0), work: report }),
        Err(TxError::NotBonded("the router"))
    );
    // The worker's claim against a fake attestation earns nothing.
    ok(n.run(0, TxBody::WorkClaim { router: n.a(4), work: report }));
    n.end_epoch();
    assert_eq!(n.state.last_epoch.paid, 0);
    assert_eq!(n.state.last_epoch.minted, 0);
}

#[test]
fn audit_evidence_from_throwaway_witnesses_or_any_router_key_is_refused() {
    let mut n = network();
    let epoch = n.state.epoch;
    let audit = |n: &Net, router: usize, witnesses: [usize; 2]| {
        let t = ticket(&n.keys[router], 3, epoch);
        TxBody::AuditProof {
            receipts: vec![
                receipt(&n.keys[0], &t, 1),
                receipt(&n.keys[witnesses[0]], &t, 2),
                receipt(&n.keys[witnesses[1]], &t, 2),
            ],
            ticket: Box::new(t),
            accused: n.a(0),
        }
    };
    // Witnesses 4 and 5 hold no stake.
    assert_eq!(n.run(2, audit(&n, 2, [4, 5])), Err(TxError::NotBonded("a witness")));
    // A ticket signed by a key that is not a router.
    n.worker(4, 0, 10);
    n.worker(5, 0, 10);
    assert_eq!(n.run(3, audit(&n, 1, [4, 5])), Err(TxError::NotBonded("the ticket's router")));
    untouched(&n);
    // Bonded witnesses and a bonded router's ticket: the accused is slashed.
    ok(n.run(2, audit(&n, 2, [4, 5])));
    assert!(n.state.workers[&n.a(0)].jailed());
}

#[test]
fn stake_leaving_after_the_infraction_is_slashed_and_a_jailed_worker_cannot_unbond() {
    let mut n = network();
    let t = ticket(&n.keys[2], 1, n.state.epoch);
    // Both try to leave just before the proof lands.
    ok(n.run(0, TxBody::Unstake { amount: Amount(1_000) }));
    ok(n.run(1, TxBody::Undelegate { worker: n.a(0), amount: Amount(2_000) }));
    ok(n.run(3, fraud_proof(&n.keys[0], &t)));
    let left: Vec<u128> = n
        .state
        .unbonding
        .iter()
        .filter(|((_, _, from, bond), _)| *from == n.a(0) && *bond == Bond::Worker)
        .map(|(_, u)| u.amount.0)
        .collect();
    assert_eq!(left.iter().sum::<u128>(), 2_700, "10 % of the 3000 on its way out was cut");
    // Jailed: no unbonding and no unjailing before the terms end.
    n.worker(5, 0, 10);
    ok(n.run(1, TxBody::Delegate { worker: n.a(5), amount: Amount(10) }));
    let t = ticket(&n.keys[2], 2, n.state.epoch);
    ok(n.run(3, fraud_proof(&n.keys[5], &t)));
    assert!(matches!(n.run(5, TxBody::Unstake { amount: Amount(1) }), Err(TxError::JailedUnbonding { .. })));
    assert!(matches!(n.run(5, TxBody::Unjail), Err(TxError::StillJailed { .. })));
    assert!(matches!(
        n.run(
            5,
            TxBody::WorkClaim {
                router: n.a(2),
                work: WorkReport { epoch: 0, receipts_root: [0; 32], count: 1, tokens: 1, amount: 1 }
            }
        ),
        Err(TxError::Jailed)
    ));
    for _ in 0..n.state.params.jail_epochs {
        n.end_epoch();
    }
    ok(n.run(5, TxBody::Unjail));
    ok(n.run(5, TxBody::Unstake { amount: Amount(1) }));
}

#[test]
fn stake_that_left_before_the_infraction_is_not_slashed() {
    let mut n = network();
    ok(n.run(1, TxBody::Undelegate { worker: n.a(0), amount: Amount(2_000) }));
    n.end_epoch();
    let t = ticket(&n.keys[2], 1, n.state.epoch);
    ok(n.run(3, fraud_proof(&n.keys[0], &t)));
    let out: u128 =
        n.state.unbonding.iter().filter(|((_, o, _, _), _)| *o == n.a(1)).map(|(_, u)| u.amount.0).sum();
    assert_eq!(out, 2_000);
}

#[test]
fn evidence_has_a_window_and_proven_infractions_are_forgotten_after_it() {
    let mut n = network();
    let old = ticket(&n.keys[2], 1, n.state.epoch);
    for _ in 0..=n.state.params.evidence_epochs {
        n.end_epoch();
    }
    assert!(matches!(n.run(3, fraud_proof(&n.keys[0], &old)), Err(TxError::EvidenceTooOld { .. })));
    let t = ticket(&n.keys[2], 2, n.state.epoch);
    ok(n.run(3, fraud_proof(&n.keys[0], &t)));
    assert_eq!(n.state.proven.len(), 1);
    for _ in 0..=n.state.params.evidence_epochs {
        n.end_epoch();
    }
    assert!(n.state.proven.is_empty(), "the proven set does not grow with the chain");
}

#[test]
fn a_router_signing_two_tickets_for_one_job_is_slashed() {
    let mut n = network();
    let a = ticket(&n.keys[2], 1, n.state.epoch);
    let mut b = a.clone();
    b.request_hash = vec![8; 32];
    wick_proto::signing::sign_ticket(&n.keys[2], &mut b);
    let body = TxBody::RouterEquivocation { a: Box::new(a.clone()), b: Box::new(b) };
    assert_eq!(n.run(2, body.clone()), Err(TxError::SelfReport));
    ok(n.run(3, body.clone()));
    let r = &n.state.routers[&n.a(2)];
    assert_eq!(r.stake, Amount(900));
    assert!(r.jail.is_some());
    assert_eq!(n.run(3, body), Err(TxError::Duplicate));
    // Its tickets no longer count as evidence.
    let t = ticket(&n.keys[2], 4, n.state.epoch);
    assert_eq!(n.run(3, fraud_proof(&n.keys[0], &t)), Err(TxError::NotBonded("the ticket's router")));
}
