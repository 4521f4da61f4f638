//! Parallel execution equals serial execution: results, state and root, on random workloads
//! with heavy conflicts (few accounts), every transaction kind and many invalid transactions.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use rand_core_06::OsRng;
use wick_proto::v1::{Receipt, SignedReceipt};
use wick_staking::verify::verify_all;
use wick_staking::{Address, Amount, ParamKey, Params, SignedTx, State, Tx, TxBody, TxError};

/// Applies a block serially, its signatures batch-verified with the system's randomness.
fn apply_block(state: &mut State, txs: &[SignedTx]) -> Vec<Result<(), TxError>> {
    state.apply_block(txs, verify_all(txs, OsRng))
}

const CHAIN: &str = "wick-test";
const ACCOUNTS: usize = 12;

fn key(i: usize) -> SigningKey {
    SigningKey::from_bytes(&[i as u8 + 1; 32])
}

fn addr(i: usize) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

/// Accounts 0–3 are staked workers, and accounts 4–7 delegate to them.
fn genesis() -> State {
    let bal: Vec<_> = (0..ACCOUNTS).map(|i| (addr(i), Amount(1_000_000))).collect();
    let mut s = State::genesis(CHAIN, Params::default(), &bal).expect("genesis");
    let mut setup = Vec::new();
    for w in 0..4 {
        let tx = |nonce, body| Tx { chain_id: CHAIN.into(), signer: addr(w), nonce, fee: Amount(1), body };
        setup.push(tx(0, TxBody::RegisterWorker { commission_bps: 700 }).sign(&key(w)));
        setup.push(tx(1, TxBody::Stake { amount: Amount(50_000) }).sign(&key(w)));
        let body = TxBody::Delegate { worker: addr(w), amount: Amount(20_000) };
        let d = Tx { chain_id: CHAIN.into(), signer: addr(w + 4), nonce: 0, fee: Amount(1), body };
        setup.push(d.sign(&key(w + 4)));
    }
    let r = apply_block(&mut s, &setup);
    assert!(r.iter().all(Result::is_ok), "setup: {r:?}");
    s
}

fn receipt(worker: usize, job: u8, out: u8) -> Box<SignedReceipt> {
    let r =
        Receipt { job_hash: vec![job; 32], output_hash: vec![out; 32], tokens_out: 3, ..Default::default() };
    Box::new(wick_proto::signing::sign_receipt(&key(worker), r))
}

/// One generated operation: (signer, kind, amount, other account, fee, nonce skew, flags).
type Op = (usize, u8, u128, usize, u128, u8, u8);

fn body(kind: u8, x: u128, other: usize, flags: u8, epoch: u64) -> TxBody {
    let amount = Amount(match flags % 16 {
        0 => u128::MAX,     // overflow
        1 => 2_000_000 + x, // insufficient balance
        2 => 0,             // zero amount
        _ => x,
    });
    let epoch = if flags % 16 == 15 { epoch + 1 } else { epoch };
    match kind % 16 {
        0..=3 => TxBody::Transfer { to: addr(other), amount },
        4 => TxBody::RegisterWorker { commission_bps: (x % 11_000) as u32 },
        5 => TxBody::Stake { amount },
        6 => TxBody::Unstake { amount },
        7 => TxBody::Delegate { worker: addr(other % 4), amount },
        12 => TxBody::Undelegate { worker: addr(other % 4), amount },
        13 => TxBody::WithdrawRewards,
        14 => TxBody::WorkClaim { epoch, receipts_root: [1; 32], count: 1, tokens: (x % 50) as u64 },
        8 => TxBody::Attestation {
            epoch,
            worker: addr(other % 4),
            receipts_root: [1; 32],
            count: 1,
            tokens: (x % 60) as u64,
        },
        9 => {
            let job = flags % 3;
            let out = if flags.is_multiple_of(5) { 1 } else { 2 };
            TxBody::FraudProof { a: receipt(other % 4, job, 1), b: receipt(other % 4, job, out) }
        }
        10 => {
            let key =
                [ParamKey::EpochReward, ParamKey::SlashBps, ParamKey::VotingEpochs][usize::from(flags % 3)];
            TxBody::Propose { key, value: x % 20_000 }
        }
        _ => TxBody::Vote { proposal: u64::from(flags % 3), yes: x.is_multiple_of(2) },
    }
}

/// Builds a block from `ops`, tracking the nonces each signer will expect if all succeed.
fn block(state: &State, nonces: &mut [u64], ops: &[Op]) -> Vec<SignedTx> {
    ops.iter()
        .map(|&(who, kind, x, other, fee, skew, flags)| {
            let nonce = match skew % 20 {
                0 => nonces[who].wrapping_sub(1),
                1 => nonces[who] + 1,
                _ => nonces[who],
            };
            if skew % 20 > 1 {
                nonces[who] += 1;
            }
            let fee = if flags % 32 == 31 { Amount(u128::MAX) } else { Amount(fee) };
            let chain = if skew == 255 { "other" } else { CHAIN };
            let tx = Tx {
                chain_id: chain.into(),
                signer: addr(who),
                nonce,
                fee,
                body: body(kind, x, other, flags, state.epoch),
            };
            let mut stx = tx.sign(&key(who));
            if skew == 254 {
                stx.signature[5] ^= 1;
            }
            stx
        })
        .collect()
}

fn op() -> impl Strategy<Value = Op> {
    (0..ACCOUNTS, any::<u8>(), 1u128..300_000, 0..ACCOUNTS, 0u128..4, any::<u8>(), any::<u8>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn parallel_execution_equals_serial(
        blocks in prop::collection::vec((prop::collection::vec(op(), 0..40), any::<bool>()), 1..6),
        lanes in 2usize..9,
    ) {
        let mut serial = genesis();
        let mut parallel = genesis();
        let mut batched = genesis();
        let mut nonces = vec![0u64; ACCOUNTS];
        for (ops, end) in blocks {
            let txs = block(&serial, &mut nonces, &ops);
            let (want, root) = (apply_block(&mut serial, &txs), serial.root());
            let got = parallel.apply_verified_block(&txs, verify_all(&txs, OsRng), lanes);
            let got_root = parallel.root();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(got_root, root);
            prop_assert_eq!(&parallel, &serial);
            let (got, got_root) = (batched.apply_block_parallel(&txs, OsRng), batched.root());
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(got_root, root);
            // Resynchronise the generator's nonces with what the chain accepted.
            for (n, a) in nonces.iter_mut().zip(0..ACCOUNTS) {
                *n = serial.account(&addr(a)).nonce;
            }
            if end {
                serial.end_epoch();
                parallel.end_epoch();
                batched.end_epoch();
            }
        }
    }
}

#[test]
fn independent_transfers_run_on_many_lanes_with_the_serial_result() {
    let keys: Vec<SigningKey> = (0..64).map(|i| SigningKey::from_bytes(&[i as u8 + 10; 32])).collect();
    let addrs: Vec<Address> = keys.iter().map(|k| Address(k.verifying_key().to_bytes())).collect();
    let bal: Vec<_> = addrs.iter().map(|a| (*a, Amount(1_000))).collect();
    let mut serial = State::genesis(CHAIN, Params::default(), &bal).expect("genesis");
    let mut parallel = serial.clone();
    let txs: Vec<SignedTx> = (0..64)
        .map(|i| {
            let body = TxBody::Transfer { to: addrs[i ^ 1], amount: Amount(7) };
            let tx = Tx { chain_id: CHAIN.into(), signer: addrs[i], nonce: 0, fee: Amount(1), body };
            tx.sign(&keys[i])
        })
        .collect();
    assert_eq!(serial.schedule(&txs, 8).len(), 8);
    let (want, root) = (apply_block(&mut serial, &txs), serial.root());
    let got = parallel.apply_verified_block(&txs, verify_all(&txs, OsRng), 8);
    let got_root = parallel.root();
    assert_eq!((got, got_root), (want, root));
    assert_eq!(parallel, serial);
    assert_eq!(parallel.burned, Amount(64));
}

#[test]
fn fraud_proof_joins_the_lane_of_every_delegator_of_the_worker() {
    let base = genesis();
    let tx = |s: &State, who: usize, body| {
        let nonce = s.account(&addr(who)).nonce;
        Tx { chain_id: CHAIN.into(), signer: addr(who), nonce, fee: Amount(1), body }.sign(&key(who))
    };
    // Worker 0 has delegator 4. Delegator 4 proposes and votes (its voting power includes the
    // delegation the slash cuts); 9 and 10 trade on their own; 11 proves the fraud.
    let mut txs = vec![
        tx(&base, 4, TxBody::Propose { key: ParamKey::EpochReward, value: 9 }),
        tx(&base, 9, TxBody::Transfer { to: addr(10), amount: Amount(5) }),
        tx(&base, 11, TxBody::FraudProof { a: receipt(0, 1, 1), b: receipt(0, 1, 2) }),
    ];
    let mut vote = tx(&base, 4, TxBody::Vote { proposal: 0, yes: true }).tx;
    vote.nonce += 1;
    txs.push(vote.sign(&key(4)));
    let schedule = base.schedule(&txs, 4);
    assert_eq!(schedule.len(), 2, "{schedule:?}");
    assert!(schedule.contains(&vec![0, 2, 3]), "{schedule:?}");
    let (mut serial, mut parallel) = (base.clone(), base);
    let (want, root) = (apply_block(&mut serial, &txs), serial.root());
    assert!(want.iter().all(Result::is_ok), "{want:?}");
    let (got, got_root) = (parallel.apply_verified_block(&txs, verify_all(&txs, OsRng), 4), parallel.root());
    assert_eq!((got, got_root), (want, root));
    assert_eq!(parallel, serial);
}
