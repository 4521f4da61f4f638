//! Validators: bonding, the active set that changes only at epoch ends, equivocation slashing
//! and the agreed block time, each tried the way an attacker would.

mod support;

use std::collections::BTreeMap;

use support::*;
use wick_staking::state::{Bond, Jail};
use wick_staking::{Address, Amount, ParamKey, Params, TxBody, TxError};

fn bond(n: &mut Net, i: usize, amount: u128) -> Result<(), TxError> {
    n.run(i, TxBody::BondValidator { amount: Amount(amount) })
}

fn unbond(n: &mut Net, i: usize, amount: u128) -> Result<(), TxError> {
    n.run(i, TxBody::UnbondValidator { amount: Amount(amount) })
}

/// Validators 0, 1, 2 with stakes 3000, 2000, 1000, in the set after one epoch end; the last
/// block is one of epoch 1.
fn network() -> Net {
    let mut n = Net::new(6, Params::default());
    for (i, s) in [(0, 3_000), (1, 2_000), (2, 1_000)] {
        ok(bond(&mut n, i, s));
    }
    n.end_epoch();
    ok(n.run(4, TxBody::Transfer { to: n.a(3), amount: Amount(1) }));
    n
}

fn set_of(n: &Net, keys: &[(usize, u64)]) -> BTreeMap<Address, u64> {
    keys.iter().map(|(i, p)| (n.a(*i), *p)).collect()
}

fn supply_exact(n: &Net) {
    let s = &n.state;
    assert_eq!(total_held(s), s.supply.0, "every token is held somewhere");
}

#[test]
fn a_bond_registers_the_validator_and_joins_the_set_only_at_the_epoch_end() {
    let mut n = Net::new(4, Params::default());
    let (supply, fee) = (n.state.supply.0, n.fee(0, TxBody::BondValidator { amount: Amount(500) }));
    ok(bond(&mut n, 0, 500));
    assert_eq!(n.state.validators[&n.a(0)].stake, Amount(500));
    assert_eq!(n.balance(0), START - 500 - fee);
    assert_eq!(n.state.supply.0, supply - fee, "a bond moves tokens; only the fee burns");
    assert_eq!(n.state.voting_power(&n.a(0)), 500, "validator stake is voting power");
    assert!(n.state.validator_set.is_empty(), "not before the epoch end");
    ok(bond(&mut n, 0, 100));
    assert!(n.state.validator_set.is_empty());
    n.end_epoch();
    assert_eq!(n.state.validator_set, set_of(&n, &[(0, 600)]));
    supply_exact(&n);
}

#[test]
fn bonds_at_their_bounds_fail_and_change_nothing_but_the_fee() {
    let mut n = Net::new(4, Params::default());
    assert_eq!(bond(&mut n, 0, 0), Err(TxError::ZeroAmount));
    let r = bond(&mut n, 0, START);
    assert!(matches!(r, Err(TxError::InsufficientBalance { .. })), "{r:?}");
    assert!(n.state.validators.is_empty(), "a failed first bond registers nothing");
    // A key that is no validator cannot unbond, nor take another's stake.
    ok(bond(&mut n, 1, 10));
    assert_eq!(unbond(&mut n, 0, 1), Err(TxError::NotValidator));
    assert_eq!(
        unbond(&mut n, 1, 11),
        Err(TxError::InsufficientStake { bonded: Amount(10), requested: Amount(11) })
    );
    assert_eq!(n.state.validators[&n.a(1)].stake, Amount(10));
    supply_exact(&n);
}

#[test]
fn the_set_is_the_largest_unjailed_stakes_at_or_above_the_minimum_ties_by_address() {
    let params = Params { max_validators: 2, min_validator_stake: 1_000, ..Params::default() };
    let mut n = Net::new(6, params);
    for (i, s) in [(0, 999), (1, 1_000), (2, 5_000), (3, 1_000)] {
        ok(bond(&mut n, i, s));
    }
    n.end_epoch();
    // Key 0 is one below the minimum; keys 1 and 3 tie at 1000: the smaller address wins.
    let tie = if n.a(1) < n.a(3) { 1 } else { 3 };
    assert_eq!(n.state.validator_set, set_of(&n, &[(2, 5_000), (tie, 1_000)]));
    assert_eq!(n.state.validator_set()[0], (n.a(2), 5_000), "largest power first");
}

#[test]
fn voting_power_saturates_at_u64_but_the_cut_uses_the_exact_stake() {
    let params = Params { max_validators: 1, ..Params::default() };
    let big = u128::from(u64::MAX) + 10;
    let mut n = Net::new(2, params);
    n.state.accounts.get_mut(&n.a(0)).expect("acc").balance = Amount(big + 1_000);
    n.state.accounts.get_mut(&n.a(1)).expect("acc").balance = Amount(big + 1_000);
    n.state.supply = Amount(n.state.supply.0 + 2 * big);
    ok(bond(&mut n, 0, big));
    ok(bond(&mut n, 1, big - 5));
    n.end_epoch();
    assert_eq!(n.state.validator_set, set_of(&n, &[(0, u64::MAX)]));
}

#[test]
fn unbonding_validator_stake_waits_in_the_queue_and_is_released() {
    let mut n = network();
    let before = n.balance(2);
    let fee = n.fee(2, TxBody::UnbondValidator { amount: Amount(400) });
    ok(unbond(&mut n, 2, 400));
    let release = n.state.epoch + n.state.params.unbonding_epochs;
    let key = (release, n.a(2), n.a(2), Bond::Validator);
    assert_eq!(n.state.unbonding[&key].amount, Amount(400));
    assert_eq!(n.state.validators[&n.a(2)].stake, Amount(600));
    assert_eq!(n.state.voting_power(&n.a(2)), 600);
    assert_eq!(n.state.validator_set[&n.a(2)], 1_000, "the set keeps its power until the epoch end");
    while n.state.epoch < release {
        n.end_epoch();
    }
    assert_eq!(n.balance(2), before - fee + 400);
    assert_eq!(n.state.validator_set[&n.a(2)], 600);
    supply_exact(&n);
}

#[test]
fn an_equivocation_cuts_stake_and_later_unbonding_burns_all_and_jails() {
    let mut n = network();
    let infraction_height = n.state.height; // a block of epoch 1
    ok(unbond(&mut n, 0, 1_000)); // started in epoch 1: reached
    let (supply, burned) = (n.state.supply.0, n.state.burned.0);
    let cut = n.state.slash_equivocation(n.a(0), infraction_height).expect("slashed");
    // 10 % of the 2000 bonded and of the 1000 unbonding.
    assert_eq!(cut, Amount(300));
    assert_eq!(n.state.validators[&n.a(0)].stake, Amount(1_800));
    let entry = n.state.unbonding.iter().find(|((_, o, _, b), _)| *o == n.a(0) && *b == Bond::Validator);
    assert_eq!(entry.expect("entry").1.amount, Amount(900));
    assert_eq!((n.state.supply.0, n.state.burned.0), (supply - 300, burned + 300));
    let epoch = n.state.epoch;
    assert_eq!(n.state.validators[&n.a(0)].jail, Some(Jail { since: epoch, until: epoch + 2 }));
    supply_exact(&n);
}

#[test]
fn unbonding_started_before_the_infraction_epoch_is_not_reached() {
    let mut n = network();
    ok(unbond(&mut n, 1, 500)); // epoch 1
    n.end_epoch();
    ok(bond(&mut n, 5, 1)); // a block of epoch 2
    let h = n.state.height;
    let cut = n.state.slash_equivocation(n.a(1), h).expect("slashed");
    assert_eq!(cut, Amount(150), "10 % of the 1500 still bonded; the earlier unbonding is untouched");
    let entry = n.state.unbonding.iter().find(|((_, o, _, _), _)| *o == n.a(1)).expect("entry");
    assert_eq!(entry.1.amount, Amount(500));
}

#[test]
fn the_same_equivocation_twice_changes_nothing_the_second_time() {
    let mut n = network();
    let h = n.state.height;
    n.state.slash_equivocation(n.a(1), h).expect("slashed");
    let before = n.state.clone();
    assert_eq!(n.state.slash_equivocation(n.a(1), h), Err(TxError::Duplicate));
    assert_eq!(n.state, before);
    // Another height while the jail lasts is not slashed again: one slash per jail term.
    ok(bond(&mut n, 5, 1));
    let h2 = n.state.height;
    let before = n.state.clone();
    assert_eq!(n.state.slash_equivocation(n.a(1), h2), Err(TxError::Jailed));
    assert_eq!(n.state, before);
}

#[test]
fn equivocation_evidence_that_cannot_apply_changes_nothing() {
    let mut n = network();
    let before = n.state.clone();
    let h = n.state.height;
    // A key that is no validator (funded, bonded as nothing), and a stranger.
    assert_eq!(n.state.slash_equivocation(n.a(4), h), Err(TxError::NotValidator));
    assert_eq!(n.state.slash_equivocation(Address([7; 32]), h), Err(TxError::NotValidator));
    // Heights not applied yet, and height 0, which no block has.
    for bad in [0, h + 1, u64::MAX] {
        let r = n.state.slash_equivocation(n.a(0), bad);
        assert!(matches!(r, Err(TxError::EquivocationHeight { .. })), "height {bad}: {r:?}");
    }
    assert_eq!(n.state, before);
}

#[test]
fn an_equivocation_older_than_the_evidence_window_is_refused_and_never_slashed_twice() {
    let mut n = network();
    let h = n.state.height; // epoch 1
    n.state.slash_equivocation(n.a(1), h).expect("slashed");
    for _ in 0..n.state.params.evidence_epochs {
        n.end_epoch();
    }
    assert_eq!(n.state.slash_equivocation(n.a(1), h), Err(TxError::Duplicate), "still remembered");
    n.end_epoch();
    // The proof is forgotten now, and so is the height: it cannot be slashed again.
    let before = n.state.clone();
    let r = n.state.slash_equivocation(n.a(1), h);
    assert!(matches!(r, Err(TxError::EquivocationHeight { .. })), "{r:?}");
    assert_eq!(n.state, before);
}

#[test]
fn a_shortened_evidence_window_refuses_heights_recorded_under_the_longer_one() {
    let mut n = network();
    let h = n.state.height; // epoch 1
    n.end_epoch();
    n.end_epoch(); // epoch 3: epoch 1 is at the edge of a window of 2
    n.state.params.evidence_epochs = 1;
    let r = n.state.slash_equivocation(n.a(1), h);
    assert!(matches!(r, Err(TxError::EvidenceTooOld { infraction: 1, .. })), "{r:?}");
}

#[test]
fn a_slashed_validator_leaves_the_set_at_the_next_epoch_end_not_sooner() {
    let mut n = network();
    let h = n.state.height;
    n.state.slash_equivocation(n.a(0), h).expect("slashed");
    assert!(n.state.validator_set.contains_key(&n.a(0)), "the epoch's set does not change");
    ok(bond(&mut n, 5, 1));
    assert!(n.state.validator_set.contains_key(&n.a(0)));
    n.end_epoch();
    assert_eq!(n.state.validator_set, set_of(&n, &[(1, 2_000), (2, 1_000), (5, 1)]));
    // Jailed: no unbonding within the evidence window; no unjail before the term ends.
    let r = unbond(&mut n, 0, 1);
    assert!(matches!(r, Err(TxError::JailedUnbonding { .. })), "{r:?}");
    assert!(matches!(n.run(0, TxBody::Unjail), Err(TxError::StillJailed { .. })));
    n.end_epoch();
    ok(n.run(0, TxBody::Unjail));
    assert!(!n.state.validator_set.contains_key(&n.a(0)), "back only at the next epoch end");
    n.end_epoch();
    assert_eq!(n.state.validator_set[&n.a(0)], 2_700);
    ok(unbond(&mut n, 0, 2_700));
}

#[test]
fn the_set_is_never_left_empty() {
    let mut n = Net::new(4, Params::default());
    ok(bond(&mut n, 0, 100));
    n.end_epoch();
    ok(n.run(1, TxBody::Transfer { to: n.a(2), amount: Amount(1) }));
    let h = n.state.height;
    n.state.slash_equivocation(n.a(0), h).expect("slashed");
    n.end_epoch();
    // The only validator is jailed: no set qualifies, so the last one stays.
    assert_eq!(n.state.validator_set, set_of(&n, &[(0, 100)]));
    ok(bond(&mut n, 1, 50));
    n.end_epoch();
    assert_eq!(n.state.validator_set, set_of(&n, &[(1, 50)]));
}

#[test]
fn unjail_waits_for_every_jail_term_of_the_key() {
    let mut n = Net::new(6, Params::default());
    n.worker(0, 0, 1_000);
    n.router(2, 1_000, 10_000);
    n.worker(3, 0, 10);
    ok(bond(&mut n, 0, 500));
    n.end_epoch();
    // Jailed as a worker in epoch 1 (until 3), as a validator in epoch 2 (until 4).
    ok(n.run(3, fraud_proof(&n.keys[0], &ticket(&n.keys[2], 1, n.state.epoch))));
    n.end_epoch();
    ok(n.run(4, TxBody::Transfer { to: n.a(5), amount: Amount(1) }));
    let h = n.state.height;
    n.state.slash_equivocation(n.a(0), h).expect("slashed");
    n.end_epoch();
    assert_eq!(n.run(0, TxBody::Unjail), Err(TxError::StillJailed { until: 4 }));
    assert!(n.state.workers[&n.a(0)].jailed(), "the earlier term alone does not unjail");
    n.end_epoch();
    ok(n.run(0, TxBody::Unjail));
    assert!(!n.state.workers[&n.a(0)].jailed());
    assert_eq!(n.state.validators[&n.a(0)].jail, None);
}

#[test]
fn governance_cannot_set_the_validator_parameters_outside_their_bounds() {
    let mut n = network();
    for (key, value) in [
        (ParamKey::MaxValidators, 0),
        (ParamKey::MaxValidators, 151),
        (ParamKey::MinValidatorStake, 0),
        (ParamKey::MinValidatorStake, n.state.supply.0 / 100 + 1),
    ] {
        let r = n.run(0, TxBody::Propose { key, value });
        assert!(matches!(r, Err(TxError::BadParam(_))), "{key:?} = {value}: {r:?}");
    }
    // A validator's stake alone is power enough to propose.
    ok(n.run(0, TxBody::Propose { key: ParamKey::MaxValidators, value: 150 }));
}

#[test]
fn a_passed_max_validators_change_shrinks_the_set_at_the_epoch_it_applies() {
    let mut n = network();
    ok(n.run(0, TxBody::Propose { key: ParamKey::MaxValidators, value: 1 }));
    n.end_epoch();
    ok(n.run(0, TxBody::Vote { proposal: 0, yes: true }));
    ok(n.run(1, TxBody::Vote { proposal: 0, yes: true }));
    n.end_epoch();
    assert_eq!(n.state.validator_set.len(), 3, "passed, not applied yet");
    n.end_epoch();
    assert_eq!(n.state.params.max_validators, 1);
    assert_eq!(n.state.validator_set, set_of(&n, &[(0, 3_000)]));
}

#[test]
fn block_time_only_moves_forward_and_decides_the_epoch_end() {
    let mut s = Net::new(2, Params::default()).state;
    s.epoch_seconds = 10;
    assert!(!s.epoch_due(u64::MAX), "the first block never ends epoch 0");
    assert_eq!(s.check_block_time(0), Err(TxError::BlockTime { last: 0, got: 0 }));
    s.apply_block(&[], Vec::new(), 5_000);
    assert_eq!((s.epoch_started_ms, s.last_block_ms, s.height), (5_000, 5_000, 1));
    assert_eq!(s.check_block_time(5_000), Err(TxError::BlockTime { last: 5_000, got: 5_000 }));
    assert!(s.check_block_time(5_001).is_ok());
    assert!(!s.epoch_due(14_999), "one ms short");
    assert!(s.epoch_due(15_000), "exactly at the bound");
    s.apply_block(&[], Vec::new(), 15_000);
    s.end_epoch(15_000);
    assert_eq!((s.epoch, s.epoch_started_ms), (1, 15_000));
    assert!(!s.epoch_due(24_999));
    // A block time the check refuses cannot rewind the clock if applied anyway.
    s.apply_block(&[], Vec::new(), 1);
    assert_eq!(s.last_block_ms, 15_000);
    let root = s.root();
    s.last_block_ms += 1;
    assert_ne!(s.root(), root, "the clock is in the state root");
}

#[test]
fn an_epoch_length_of_zero_still_waits_a_second() {
    let mut s = Net::new(2, Params::default()).state;
    s.epoch_seconds = 0;
    s.apply_block(&[], Vec::new(), 1_000);
    assert!(!s.epoch_due(1_999));
    assert!(s.epoch_due(2_000));
}
