//! Measures signed transactions applied per second (signature batches verified on 1 and 2
//! threads, then executed in order) against this machine's raw ZIP-215 verify rates.
//! Run: `cargo run --release -p wick-staking --example ledger_bench`.

use std::time::Instant;

use ed25519_dalek::SigningKey;
use wick_staking::{Address, Amount, Params, SignedTx, State, Tx, TxBody};

const ACCOUNTS: usize = 1_000;
const TXS: usize = 20_000;

fn main() {
    let keys: Vec<SigningKey> = (0..ACCOUNTS)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let addrs: Vec<Address> = keys.iter().map(|k| Address(k.verifying_key().to_bytes())).collect();
    let balances: Vec<_> = addrs.iter().map(|a| (*a, Amount(1 << 40))).collect();
    let genesis = State::genesis("bench", Params::default(), &balances).expect("genesis");
    let txs: Vec<SignedTx> = (0..TXS)
        .map(|i| {
            let from = i % ACCOUNTS;
            let body = TxBody::Transfer { to: addrs[(i * 7 + 1) % ACCOUNTS], amount: Amount(1) };
            let tx = Tx {
                chain_id: "bench".into(),
                signer: addrs[from],
                nonce: (i / ACCOUNTS) as u64,
                fee: Amount(1),
                body,
            };
            tx.sign(&keys[from])
        })
        .collect();

    let t = Instant::now();
    for tx in &txs {
        tx.verify().expect("valid");
    }
    let single = TXS as f64 / t.elapsed().as_secs_f64();
    let pool1 = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let t = Instant::now();
    pool1.install(|| wick_staking::tx::verify_all(&txs));
    let batch = TXS as f64 / t.elapsed().as_secs_f64();

    let mut rates = Vec::new();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        let mut state = genesis.clone();
        let t = Instant::now();
        for block in txs.chunks(1_000) {
            let results = pool.install(|| state.apply_block(block));
            assert!(results.iter().all(Result::is_ok));
        }
        rates.push(TXS as f64 / t.elapsed().as_secs_f64());
    }
    println!("raw verify, 1 thread: single {single:.0}/s, batch-64 {batch:.0}/s");
    println!("applied tx/s (in-memory, no storage): 1 thread {:.0}, 2 threads {:.0}", rates[0], rates[1]);
    println!("ratio 1-thread applied / batch verify: {:.2}", rates[0] / batch);
    println!("ratio 2 threads / 1 thread: {:.2}", rates[1] / rates[0]);
}
