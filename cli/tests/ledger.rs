//! A real `wick ledger` process on loopback, driven by the `wick` governance commands and by
//! signed transactions over gRPC; and a crash test (SIGKILL under load, restart, audit).

#[path = "support/ledger.rs"]
mod ledger_support;
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ledger_support::{Wallet, amount, start_ledger, write_genesis};
use tonic::Code;
use wick_ledger::client::{Client, ClientError};
use wick_ledger::store::Store;
use wick_proto::v1::SubmitTxRequest;
use wick_staking::genesis::Genesis;
use wick_staking::{Address, Amount, Params, Tx, TxBody, WorkReport, wire};

fn load_key(w: &Wallet, name: &str) -> SigningKey {
    SigningKey::from_pkcs8_pem(&std::fs::read_to_string(w.key_path(name)).expect("pem")).expect("key")
}

fn addr(k: &SigningKey) -> Address {
    Address(k.verifying_key().to_bytes())
}

/// Waits until the ledger is early in an epoch (at least `min_left` seconds left).
fn wait_fresh_epoch(w: &Wallet, min_left: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = w.json(&["epoch"]);
        if e["seconds_left"].as_u64().unwrap_or(0) >= min_left {
            return e["epoch"].as_u64().expect("epoch");
        }
        assert!(Instant::now() < deadline, "epoch clock stuck: {e}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_epoch_after(w: &Wallet, epoch: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.json(&["epoch"])["epoch"].as_u64().unwrap_or(0) <= epoch {
        assert!(Instant::now() < deadline, "epoch {epoch} did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn governance_round_trip_through_the_cli() {
    let mut w = Wallet::fresh();
    let alice = w.new_key("alice");
    let bob = w.new_key("bob");
    let worker = w.new_key("worker1");
    assert_eq!(alice.len(), 64);
    let listed = w.json(&["keys", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.key_path("alice")).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(w.fail(&["keys", "new", "alice"]).contains("already exists"));

    let dir = tempfile::tempdir().expect("dir");
    let genesis = dir.path().join("genesis.toml");
    write_genesis(&genesis, "wick-cli-test", 4, &[(alice.clone(), 1_000_000), (worker.clone(), 100_000)]);
    let ledger = start_ledger(&genesis, &dir.path().join("db"), &["--block-ms", "20"]);
    assert_eq!(ledger.ready["role"], "ledger");
    assert_eq!(ledger.ready["chain_id"], "wick-cli-test");
    w.ledger = ledger.grpc();

    let sent = w.json(&["transfer", "bob", "1000", "--key", "alice"]);
    let fee = amount(&sent["fee"]);
    assert!(fee >= 10, "the required fee was paid: {sent}");
    let b = w.json(&["balance", &bob]);
    assert_eq!(amount(&b["balance"]), 1000);
    assert_eq!(amount(&w.json(&["balance", "--key", "alice"])["balance"]), 999_000 - fee);
    // A fee below the required one is refused, and the CLI says what to do.
    let e = w.fail(&["transfer", "bob", "1", "--key", "alice", "--fee", "0"]);
    assert!(e.contains("below the required") && e.contains("leave --fee out"), "{e}");
    assert_eq!(w.json(&["balance", "alice"])["nonce"], 1, "a refused transaction uses no nonce");

    // Dry run: prints the signed transaction, sends nothing.
    let dry = w.json(&["transfer", "bob", "5", "--key", "alice", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["kind"], "transfer");
    assert_eq!(dry["nonce"], 1);
    assert!(wire::decode(&hex::decode(dry["bytes"].as_str().expect("bytes")).expect("hex")).is_ok());
    assert_eq!(w.json(&["balance", "alice"])["nonce"], 1);

    w.ok(&["worker", "register", "--commission-bps", "500", "--key", "worker1"]);
    w.ok(&["stake", "5000", "--key", "worker1"]);
    w.ok(&["delegate", "worker1", "2000", "--key", "alice"]);
    let a = w.json(&["balance", "alice"]);
    assert_eq!(a["delegations"][0]["worker"], worker.as_str());
    assert_eq!(amount(&a["delegations"][0]["amount"]), 2000);
    let ws = w.json(&["worker", "show", "worker1"]);
    assert_eq!((ws["registered"].clone(), ws["jailed"].clone()), (true.into(), false.into()));
    assert_eq!(amount(&ws["bonded"]), 7000);

    // Errors say what to fix.
    let e = w.fail(&["transfer", "alice", "5000", "--key", "bob"]);
    assert!(e.contains("insufficient balance") && e.contains("has 1000") && e.contains("5000 + fee"), "{e}");
    let e = w.fail(&["unstake", "999999", "--key", "worker1"]);
    assert!(e.contains("cannot unbond 999999: only 5000 bonded"), "{e}");
    let e = w.fail(&["stake", "1", "--key", "bob"]);
    assert!(e.contains("not a registered worker") && e.contains("wick worker register"), "{e}");
    assert!(w.fail(&["balance", "nobody"]).contains("no key \"nobody\""));
    assert!(
        w.fail(&["proposal", "submit", "gas", "1", "--key", "alice"]).contains("unknown parameter \"gas\"")
    );

    // Out of bounds: refused with the bounds named.
    let e = w.fail(&["proposal", "submit", "quorum_bps", "0", "--key", "alice"]);
    assert!(e.contains("quorum_bps") && e.contains("wick params"), "{e}");
    // A parameter change: proposed in e0, voted in e0 + 1 on the power snapshotted when voting
    // opened, tallied at its end, in force after a one-epoch timelock.
    assert_eq!(w.json(&["params"])["epoch_reward"], "1000000");
    let e0 = wait_fresh_epoch(&w, 2);
    w.ok(&["proposal", "submit", "epoch_reward", "777", "--key", "alice"]);
    let e = w.fail(&["proposal", "vote", "0", "yes", "--key", "alice"]);
    assert!(e.contains(&format!("open in epochs {} to {}", e0 + 1, e0 + 1)), "{e}");
    wait_epoch_after(&w, e0);
    w.ok(&["proposal", "vote", "0", "yes", "--key", "alice"]);
    w.ok(&["proposal", "vote", "0", "yes", "--key", "worker1"]);
    let p = w.json(&["proposal", "show", "0"]);
    assert_eq!((p["status"].as_str(), p["voting_end"].as_u64()), (Some("voting"), Some(e0 + 1)), "{p}");
    assert_eq!(amount(&p["yes_power"]), 7000);
    wait_epoch_after(&w, e0 + 1);
    let p = w.json(&["proposal", "show", "0"]);
    assert_eq!((p["status"].as_str(), p["effective_epoch"].as_u64()), (Some("passed"), Some(e0 + 3)), "{p}");
    assert_eq!(w.json(&["params"])["epoch_reward"], "1000000", "the timelock holds it");
    wait_epoch_after(&w, e0 + 2);
    assert_eq!(w.json(&["proposal", "list"])[0]["status"], "applied");
    assert_eq!(w.json(&["params"])["epoch_reward"], "777");
    let e = w.fail(&["proposal", "vote", "0", "no", "--key", "bob"]);
    assert!(e.contains("voting on proposal 0 is open in epochs"), "{e}");
}

/// Expects a rejection with `code` and a message containing `text`.
fn rejected(r: Result<wick_ledger::node::Committed, ClientError>, status: Code, code: &str, text: &str) {
    match r {
        Err(ClientError::Rejected { code: c, message, status: s, .. }) => {
            assert_eq!((s, c.as_str()), (status, code), "{message}");
            assert!(message.contains(text), "{message:?} does not contain {text:?}");
        }
        other => panic!("expected rejection {code}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_transactions_are_refused_precisely_and_failures_pay_their_fee() {
    let w = Wallet::fresh();
    w.new_key("a");
    w.new_key("wk");
    w.new_key("r");
    let (a, wk, r) = (load_key(&w, "a"), load_key(&w, "wk"), load_key(&w, "r"));
    let dir = tempfile::tempdir().expect("dir");
    let genesis = dir.path().join("genesis.toml");
    let funded =
        [(addr(&a).to_string(), 10_000), (addr(&wk).to_string(), 10_000), (addr(&r).to_string(), 10_000)];
    write_genesis(&genesis, "wick-bad", 3, &funded);
    let ledger = start_ledger(&genesis, &dir.path().join("db"), &["--block-ms", "10"]);
    support::reflection::assert_lists(&ledger.grpc(), "wick.v1.Ledger").await;
    let mut c = Client::connect(&ledger.grpc()).await.expect("connect");
    c.send(&wk, TxBody::RegisterWorker { commission_bps: 0 }).await.expect("register");
    c.send(&wk, TxBody::Stake { amount: Amount(100) }).await.expect("stake");
    c.send(&r, TxBody::RegisterRouter).await.expect("register router");
    c.send(&r, TxBody::BondRouter { amount: Amount(100) }).await.expect("bond router");
    let stake_of = |w: wick_proto::v1::WorkerResponse| (w.self_stake, w.delegated, w.jailed);
    let before = (c.account(&addr(&a)).await.expect("a"), stake_of(c.worker(&addr(&wk)).await.expect("w")));
    let (height, epoch) = (c.head().await.expect("head").height, c.epoch().await.expect("epoch").epoch);

    // Refusals: nothing stored, nothing paid, no nonce used.
    let to = Address([7; 32]);
    let good = c.sign(&a, None, TxBody::Transfer { to, amount: Amount(5) }).await.expect("sign");
    let mut other_chain = good.tx.clone();
    other_chain.chain_id = "other".into();
    rejected(c.submit(&other_chain.sign(&a)).await, Code::InvalidArgument, "wrong_chain", "wrong chain id");
    let mut bad_sig = good.clone();
    bad_sig.signature[5] ^= 1;
    rejected(c.submit(&bad_sig).await, Code::InvalidArgument, "bad_signature", "bad signature");
    let mut forged = good.clone();
    forged.tx.body = TxBody::Transfer { to, amount: Amount(9_000) };
    rejected(c.submit(&forged).await, Code::InvalidArgument, "bad_signature", "bad signature");
    let junk = c.raw().submit_tx(SubmitTxRequest { tx: vec![1, 2, 3] }).await.expect_err("junk");
    assert_eq!(junk.code(), Code::InvalidArgument);
    assert!(junk.message().contains("malformed transaction"), "{}", junk.message());
    let free =
        c.sign(&a, Some(Amount::ZERO), TxBody::Transfer { to, amount: Amount(5) }).await.expect("sign");
    rejected(c.submit(&free).await, Code::FailedPrecondition, "fee_too_low", "below the required");
    let stranger = SigningKey::from_bytes(&[99; 32]);
    let r2 = c.send(&stranger, TxBody::Transfer { to, amount: Amount(0) }).await;
    rejected(r2, Code::FailedPrecondition, "cannot_pay_fee", "cannot pay the fee");
    let after = (c.account(&addr(&a)).await.expect("a"), stake_of(c.worker(&addr(&wk)).await.expect("w")));
    assert_eq!(after, before, "refusals changed nothing");
    // Only epoch ends made blocks meanwhile.
    let (height_now, epoch_now) =
        (c.head().await.expect("head").height, c.epoch().await.expect("epoch").epoch);
    assert!(height_now - height <= epoch_now - epoch, "refusals made no block");
    assert_eq!(c.account(&addr(&stranger)).await.expect("stranger").nonce, 0);

    // Replay: the same bytes twice.
    c.submit(&good).await.expect("first time");
    rejected(c.submit(&good).await, Code::FailedPrecondition, "bad_nonce", "bad nonce: expected 1, got 0");

    // Failures: stored, the fee paid and the nonce used, nothing else changed.
    let balance = |acc: wick_proto::v1::AccountResponse| acc.balance.parse::<u128>().expect("balance");
    let start = balance(c.account(&addr(&a)).await.expect("a"));
    let overflow = c.sign(&a, None, TxBody::Transfer { to, amount: Amount(u128::MAX) }).await.expect("sign");
    rejected(c.submit(&overflow).await, Code::FailedPrecondition, "overflow", "amount overflow");
    let too_much = c.sign(&a, None, TxBody::Transfer { to, amount: Amount(start) }).await.expect("s");
    rejected(
        c.submit(&too_much).await,
        Code::FailedPrecondition,
        "insufficient_balance",
        "insufficient balance",
    );
    let fees = overflow.tx.fee.0 + too_much.tx.fee.0;
    let acc = c.account(&addr(&a)).await.expect("a");
    assert_eq!((acc.nonce, balance(acc)), (3, start - fees));
    let unstake = c.sign(&wk, None, TxBody::Unstake { amount: Amount(101) }).await.expect("sign");
    rejected(
        c.submit(&unstake).await,
        Code::FailedPrecondition,
        "insufficient_stake",
        "cannot unbond 101: only 100",
    );

    // Claims: only for the current epoch, once.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.epoch().await.expect("epoch").epoch == 0 {
        assert!(Instant::now() < deadline, "epoch 0 did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let epoch = c.epoch().await.expect("epoch").epoch;
    let claim = |e: u64| TxBody::WorkClaim {
        router: addr(&r),
        work: WorkReport { epoch: e, receipts_root: [3; 32], count: 1, tokens: 10, amount: 1 },
    };
    let msg = format!("epoch {} is not the current epoch {epoch}", epoch + 1);
    rejected(c.send(&wk, claim(epoch + 1)).await, Code::FailedPrecondition, "wrong_epoch", &msg);
    let past = epoch - 1;
    let r3 = c.send(&wk, claim(past)).await;
    rejected(r3, Code::FailedPrecondition, "wrong_epoch", &format!("epoch {past} is not the current epoch"));
    match c.send(&wk, claim(epoch)).await {
        Ok(_) => {
            let again = c.send(&wk, claim(epoch)).await;
            // Unless the epoch ended in between, a second claim is a duplicate.
            if c.epoch().await.expect("epoch").epoch == epoch {
                rejected(again, Code::FailedPrecondition, "duplicate", "already submitted");
            }
        }
        Err(e) => assert_eq!(e.code(), Some("wrong_epoch"), "{e}"),
    }
    let w_after = c.worker(&addr(&wk)).await.expect("w");
    assert_eq!((w_after.self_stake.as_str(), w_after.jailed), ("100", false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_transaction() {
    const CLIENTS: usize = 12;
    const TXS_PER_CLIENT: u64 = 250;
    let keys: Vec<SigningKey> = (0..CLIENTS).map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32])).collect();
    let dir = tempfile::tempdir().expect("dir");
    let (genesis_path, db) = (dir.path().join("genesis.toml"), dir.path().join("db"));
    let accounts: Vec<(String, u128)> = keys.iter().map(|k| (addr(k).to_string(), 1_000_000)).collect();
    let genesis: Genesis = write_genesis(&genesis_path, "wick-crash", 1, &accounts);
    let ledger = start_ledger(&genesis_path, &db, &["--block-ms", "5"]);
    let url = ledger.grpc();

    // Each client sends transfers in nonce order and records what the ledger acknowledged.
    let acked: Arc<Mutex<HashMap<usize, Vec<[u8; 32]>>>> = Arc::default();
    let mut tasks = Vec::new();
    for (i, key) in keys.iter().cloned().enumerate() {
        let (url, acked) = (url.clone(), acked.clone());
        let to = addr(&keys[(i + 1) % CLIENTS]);
        tasks.push(tokio::spawn(async move {
            let Ok(mut c) = Client::connect(&url).await else { return };
            let chain = c.chain_id().to_string();
            for nonce in 0..TXS_PER_CLIENT {
                let body = TxBody::Transfer { to, amount: Amount(1 + nonce as u128) };
                let tx = Tx { chain_id: chain.clone(), signer: addr(&key), nonce, fee: Amount::ZERO, body }
                    .paying(&Params::default())
                    .sign(&key);
                match c.submit(&tx).await {
                    Ok(done) => acked.lock().expect("lock").entry(i).or_default().push(done.hash),
                    Err(ClientError::Rejected { message, .. }) => panic!("rejected under load: {message}"),
                    Err(_) => return, // the ledger died
                }
            }
        }));
    }
    // Kill it mid-load, once a good share is acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: usize = acked.lock().expect("lock").values().map(Vec::len).sum();
        if n >= CLIENTS * TXS_PER_CLIENT as usize / 3 {
            break;
        }
        assert!(Instant::now() < deadline, "only {n} transactions acknowledged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut ledger = ledger;
    ledger.child.kill().expect("SIGKILL");
    let _ = ledger.child.wait();
    for t in tasks {
        t.await.expect("client task");
    }
    let acked = acked.lock().expect("lock").clone();
    let total: usize = acked.values().map(Vec::len).sum();
    assert!(total < CLIENTS * TXS_PER_CLIENT as usize, "the ledger was killed before the load ended");

    // Restart on the same directory: every acknowledged transaction is there.
    let ledger = start_ledger(&genesis_path, &db, &[]);
    let mut c = Client::connect(&ledger.grpc()).await.expect("connect");
    let head = c.head().await.expect("head");
    assert!(head.height >= ledger.ready["height"].as_u64().expect("height"));
    for (i, hashes) in &acked {
        let nonce = c.account(&addr(&keys[*i])).await.expect("account").nonce;
        assert!(nonce >= hashes.len() as u64, "client {i}: {} acknowledged, nonce {nonce}", hashes.len());
    }
    drop(ledger);

    // The stored blocks hold every acknowledged hash and replay, with every check, to the root
    // the restarted node served.
    let (store, recovered) = Store::open(&db, &genesis).expect("open store");
    assert!(recovered.state.height >= head.height);
    let stored: std::collections::HashSet<[u8; 32]> = store
        .blocks_from(1, usize::MAX)
        .expect("blocks")
        .iter()
        .flat_map(|b| b.txs.iter().map(|t| wick_staking::wire::tx_hash(t)))
        .collect();
    for hash in acked.values().flatten() {
        assert!(stored.contains(hash), "acknowledged tx {} lost", hex::encode(hash));
    }
    let replayed = store.replay_verified(&genesis).expect("replay");
    assert_eq!(replayed, recovered.state);
    let at_head = store.block(head.height).expect("block").expect("head block");
    assert_eq!(at_head.state_root, head.state_root);
    eprintln!("{total} acknowledged before SIGKILL; {} blocks replayed", replayed.height);
}
