//! Property tests of the ledger's invariants over random transaction sequences.

mod support;

use proptest::prelude::*;
use support::*;
use wick_staking::{Address, Amount, ParamKey, Params, State, TxBody, TxError, WorkReport};

/// Keys 0..4 are funded, 4..6 exist without funds. Key 0 is a worker, key 1 a router.
fn network() -> Net {
    let mut n = Net::new(4, Params::default());
    n.worker(0, 500, 1_000);
    n.router(1, 1_000, 100_000);
    n
}

fn body(n: &Net, kind: u8, x: u128, other: usize) -> TxBody {
    let epoch = n.state.epoch;
    let report = WorkReport { epoch, receipts_root: [1; 32], count: 1, tokens: 10, amount: x % 5_000 };
    let t = ticket(&n.keys[1], (x % 7) as u8, epoch);
    match kind % 19 {
        0 => TxBody::Transfer { to: n.a(other), amount: Amount(x) },
        1 => TxBody::RegisterWorker { commission_bps: (x % 12_000) as u32 },
        2 => TxBody::Stake { amount: Amount(x) },
        3 => TxBody::Unstake { amount: Amount(x) },
        4 => TxBody::Delegate { worker: n.a(other), amount: Amount(x) },
        5 => TxBody::Undelegate { worker: n.a(other), amount: Amount(x) },
        6 => TxBody::WithdrawRewards,
        7 => TxBody::WorkClaim { router: n.a(other), work: report },
        8 => TxBody::Attestation { worker: n.a(other), work: report },
        9 => TxBody::RegisterRouter,
        10 => TxBody::BondRouter { amount: Amount(x) },
        11 => TxBody::FundEscrow { amount: Amount(x) },
        12 => TxBody::WithdrawEscrow { amount: Amount(x) },
        13 => fraud_proof(&n.keys[other], &t),
        14 => TxBody::Unjail,
        15 => TxBody::Propose { key: ParamKey::ALL[(x % ParamKey::ALL.len() as u128) as usize], value: x },
        16 => TxBody::Vote { proposal: 0, yes: x.is_multiple_of(2) },
        17 => TxBody::BondValidator { amount: Amount(x) },
        _ => TxBody::UnbondValidator { amount: Amount(x) },
    }
}

fn op() -> impl Strategy<Value = (usize, u8, u128, usize, bool)> {
    (0usize..6, any::<u8>(), 0u128..400_000, 0usize..6, prop::bool::weighted(0.1))
}

/// What others than `keys` hold and risk: balances, rewards, stakes, escrow and jails.
fn others(s: &State, keys: &[Address]) -> Vec<String> {
    let mut v = Vec::new();
    for (a, acc) in s.accounts.iter().filter(|(a, _)| !keys.contains(a)) {
        v.push(format!("{a} {} {}", acc.balance.0, acc.rewards.0));
    }
    for (a, w) in s.workers.iter().filter(|(a, _)| !keys.contains(a)) {
        v.push(format!("w {a} {} {} {:?}", w.self_stake.0, w.delegated.0, w.jail));
    }
    for (a, r) in s.routers.iter().filter(|(a, _)| !keys.contains(a)) {
        v.push(format!("r {a} {} {} {:?}", r.stake.0, r.escrow.0, r.jail));
    }
    for (a, val) in s.validators.iter().filter(|(a, _)| !keys.contains(a)) {
        v.push(format!("v {a} {} {:?}", val.stake.0, val.jail));
    }
    v
}

/// Keys 0..4 funded; key 0 a worker, key 1 a router, keys 2 and 3 validators in the set.
fn validator_network() -> Net {
    let mut n = network();
    ok(n.run(2, TxBody::BondValidator { amount: Amount(5_000) }));
    ok(n.run(3, TxBody::BondValidator { amount: Amount(3_000) }));
    n.end_epoch();
    n
}

/// One step of a random history: a transaction, or an equivocation slash (of `who` at a height
/// back from the current one, sometimes applied twice), then perhaps an epoch end.
#[derive(Clone, Debug)]
enum Step {
    Tx(usize, u8, u128, usize),
    Equivocation(usize, u64, bool),
}

fn step() -> impl Strategy<Value = (Step, bool)> {
    let tx = (0usize..6, any::<u8>(), 0u128..20_000, 0usize..6).prop_map(|(w, k, x, o)| Step::Tx(w, k, x, o));
    let eq =
        (0usize..6, 0u64..6, any::<bool>()).prop_map(|(w, back, twice)| Step::Equivocation(w, back, twice));
    (prop_oneof![3 => tx, 1 => eq], prop::bool::weighted(0.15))
}

/// Whether no validator qualifies for the set now (all jailed or below the minimum).
fn none_qualifies(s: &State) -> bool {
    s.validators.values().all(|v| v.jail.is_some() || v.stake.0 < s.params.min_validator_stake)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Supply = genesis + minted − burned, it is all held somewhere, no replay, refusals change
    /// nothing.
    #[test]
    fn supply_is_minted_minus_burned_and_refusals_change_nothing(ops in prop::collection::vec(op(), 1..80)) {
        let mut n = network();
        let genesis = n.state.supply.0 + n.state.burned.0 - n.state.minted.0;
        for (who, kind, x, other, end) in ops {
            let t = n.tx(who, body(&n, kind, x, other));
            let before = n.state.clone();
            let r = apply_block(&mut n.state, std::slice::from_ref(&t));
            match &r[0] {
                Err(e) if e.is_refusal() => {
                    drop_block(&mut n.state, &before);
                    prop_assert_eq!(&n.state, &before, "a refusal changed the state: {}", e);
                }
                _ => {
                    let again = apply_block(&mut n.state, std::slice::from_ref(&t));
                    prop_assert!(matches!(again[0], Err(TxError::BadNonce { .. })), "replay accepted");
                    n.state.height -= 1;
                }
            }
            if end {
                n.end_epoch();
            }
            prop_assert_eq!(n.state.supply.0, genesis + n.state.minted.0 - n.state.burned.0);
            prop_assert_eq!(total_held(&n.state), n.state.supply.0);
        }
    }

    /// Keys without bonded stake (funded or not) never lower another key's balance, rewards,
    /// stake or escrow, and never jail anyone, whatever they send.
    #[test]
    fn unbonded_keys_cannot_touch_anyone_else(ops in prop::collection::vec(op(), 1..60)) {
        let mut n = network();
        // Key 0 (worker) and key 1 (router) are the honest parties; 2..6 are attackers.
        let attackers: Vec<Address> = (2..6).map(|i| n.a(i)).collect();
        let before = others(&n.state, &attackers);
        for (who, kind, x, other, _) in ops {
            let who = 2 + who % 4;
            let kind = match kind % 19 { 1 | 2 | 4 | 9 | 10 | 11 | 17 => 0, k => k };
            let t = n.tx(who, body(&n, kind, x, other));
            apply_block(&mut n.state, &[t]);
        }
        let after = others(&n.state, &attackers);
        // Transfers from attackers may only raise others' balances; compare the rest exactly.
        let risk = |v: &[String]| v.iter().filter(|l| l.starts_with("w ") || l.starts_with("r ")).cloned().collect::<Vec<_>>();
        prop_assert_eq!(risk(&before), risk(&after));
        for (b, a) in before.iter().zip(&after).filter(|(b, _)| !b.starts_with("w ") && !b.starts_with("r ")) {
            let parse = |l: &str| l.split(' ').nth(1).and_then(|v| v.parse::<u128>().ok()).unwrap_or(0);
            prop_assert!(parse(a) >= parse(b), "{} became {}", b, a);
        }
    }

    /// With validators bonding, unbonding, equivocating (once or twice per height), jailed and
    /// unjailed: the supply stays minted − burned and all held; the active set changes only at
    /// epoch ends; a validator slashed in an epoch is out of the set from its end (unless no
    /// validator qualifies, when the set stays as it was); a repeated slash changes nothing.
    #[test]
    fn validator_sets_and_equivocation_slashes_keep_their_rules(steps in prop::collection::vec(step(), 1..80)) {
        let mut n = validator_network();
        let genesis = n.state.supply.0 + n.state.burned.0 - n.state.minted.0;
        let mut slashed = std::collections::BTreeSet::new();
        for (step, end) in steps {
            let set = n.state.validator_set.clone();
            match step {
                Step::Tx(who, kind, x, other) => {
                    let t = n.tx(who, body(&n, kind, x, other));
                    apply_block(&mut n.state, &[t]);
                }
                Step::Equivocation(who, back, twice) => {
                    let height = n.state.height.saturating_sub(back);
                    if n.state.slash_equivocation(n.a(who), height).is_ok() {
                        slashed.insert(n.a(who));
                    }
                    if twice {
                        let before = n.state.clone();
                        prop_assert!(n.state.slash_equivocation(n.a(who), height).is_err());
                        prop_assert_eq!(&n.state, &before, "a repeated slash changed the state");
                    }
                }
            }
            prop_assert_eq!(&n.state.validator_set, &set, "the set changed within an epoch");
            if end {
                n.end_epoch();
                let kept = n.state.validator_set == set && none_qualifies(&n.state);
                for v in std::mem::take(&mut slashed) {
                    prop_assert!(!n.state.validator_set.contains_key(&v) || kept, "slashed {} still in the set", v);
                }
                prop_assert!(!n.state.validator_set.is_empty(), "the set was left empty");
            }
            prop_assert_eq!(n.state.supply.0, genesis + n.state.minted.0 - n.state.burned.0);
            prop_assert_eq!(total_held(&n.state), n.state.supply.0);
        }
    }

    /// A worker reporting itself through a bonded accomplice, whatever the stakes, never gains.
    #[test]
    fn self_reports_never_raise_reporter_plus_accused(
        stake in 1u128..100_000, delegated in 0u128..500_000, accomplice in 1u128..100_000,
        reporter_bps in 0u128..=5_000, slash_bps in 100u128..=5_000,
    ) {
        let params = Params { reporter_bps, slash_bps, ..Params::default() };
        let mut n = Net::new(4, params);
        n.worker(0, 0, stake);
        if delegated > 0 {
            ok(n.run(1, TxBody::Delegate { worker: n.a(0), amount: Amount(delegated) }));
        }
        n.router(2, 1_000, 1_000);
        n.worker(3, 0, accomplice);
        let worth = |n: &Net| {
            n.balance(0) + n.balance(3) + n.state.workers[&n.a(0)].self_stake.0 + n.state.workers[&n.a(3)].self_stake.0
        };
        let before = worth(&n);
        let t = ticket(&n.keys[2], 1, n.state.epoch);
        let r = n.run(3, fraud_proof(&n.keys[0], &t));
        prop_assert!(r.is_ok(), "{:?}", r);
        prop_assert!(worth(&n) < before);
    }
}
