//! The ledger node and its gRPC service in-process, over a real loopback socket and a real
//! rocksdb directory: submit, query, follow blocks, end epochs, stop and reopen.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio_util::sync::CancellationToken;
use wick_ledger::client::{Client, Session};
use wick_ledger::node::{LedgerNode, NodeConfig};
use wick_ledger::service::spawn_server;
use wick_proto::v1::{Block, EpochSettlement};
use wick_staking::genesis::{
    Genesis, GenesisAccount, GenesisAmount, GenesisParams, GenesisRouter, GenesisWorker,
};
use wick_staking::{Address, Amount, TxBody, WorkReport};

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

fn addr(k: &SigningKey) -> Address {
    Address(k.verifying_key().to_bytes())
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: "node-test".into(),
        epoch_seconds: 1,
        params: GenesisParams::default(),
        accounts: (0..3)
            .map(|i| GenesisAccount { address: addr(&key(i)).to_string(), balance: GenesisAmount(1_000) })
            .collect(),
        workers: vec![GenesisWorker {
            address: addr(&key(1)).to_string(),
            commission_bps: 100,
            stake: GenesisAmount(500),
        }],
        delegations: Vec::new(),
        routers: vec![GenesisRouter {
            address: addr(&key(2)).to_string(),
            stake: GenesisAmount(100),
            escrow: GenesisAmount(10_000),
        }],
        validators: Vec::new(),
    }
}

type Server = tokio::task::JoinHandle<Result<(), tonic::transport::Error>>;

async fn start(dir: &std::path::Path) -> (LedgerNode, CancellationToken, String, Server) {
    let shutdown = CancellationToken::new();
    let mut config = NodeConfig::new(dir.to_path_buf(), genesis());
    config.block_interval = Duration::from_millis(10);
    let node = LedgerNode::start(config, shutdown.clone()).await.expect("start");
    let (addr, server) =
        spawn_server(node.handle.clone(), "127.0.0.1:0".parse().expect("addr"), shutdown.clone())
            .await
            .expect("bind");
    (node, shutdown, format!("http://{addr}"), server)
}

/// The settlement of the block that ends epoch `e`, read off the block stream.
async fn settlement_of(blocks: &mut tonic::Streaming<Block>, e: u64) -> EpochSettlement {
    loop {
        let b = blocks.message().await.expect("stream").expect("block");
        if let Some(s) = b.settlement.filter(|s| s.epoch == e) {
            assert!(b.epoch_end);
            return s;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submits_streams_ends_epochs_and_reopens() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut node, shutdown, url, server) = start(dir.path()).await;
    let mut c = Client::connect(&url).await.expect("connect");
    assert_eq!(c.chain_id(), "node-test");
    let (alice, worker) = (key(0), key(1));
    let w = c.worker(&addr(&worker)).await.expect("worker");
    assert!(w.registered && !w.jailed);
    assert_eq!(w.self_stake, "500");
    assert_eq!(c.workers().await.expect("workers"), vec![w], "the one genesis worker");
    let supply = c.supply().await.expect("supply");
    let part = |s: &str| s.parse::<u128>().expect("amount");
    assert_eq!((part(&supply.liquid), part(&supply.bonded), supply.accounts), (3_000, 500, 3));
    assert_eq!(part(&supply.routers), 10_100, "the router's stake and escrow");
    assert_eq!(supply.total, c.head().await.expect("head").supply);

    let mut blocks = c.stream_blocks(1).await.expect("stream");
    let delegate = c
        .sign(&alice, None, TxBody::Delegate { worker: addr(&worker), amount: Amount(100) })
        .await
        .expect("sign");
    let fee = delegate.tx.fee.0;
    assert!(fee >= 10, "at least min_fee");
    let done = c.submit(&delegate).await.expect("delegate");
    let balance = c.account(&addr(&alice)).await.expect("acc").balance;
    assert_eq!(balance, (1_000 - 100 - fee).to_string());
    let block = loop {
        let b = blocks.message().await.expect("stream").expect("block");
        if b.height == done.height {
            break b;
        }
    };
    assert_eq!(block.txs.len(), 1);
    assert_eq!(wick_staking::wire::tx_hash(&block.txs[0]), done.hash);

    let e = work_is_paid_from_escrow(&mut c, &worker).await;
    // The block that ended the epoch says what it paid: the worker and its one delegator.
    let settlement = settlement_of(&mut blocks, e).await;
    let paid = |a: Address| settlement.payouts.iter().find(|p| p.account == a.0).map(|p| p.amount.clone());
    assert_eq!(paid(addr(&worker)).as_deref(), Some("835"));
    assert_eq!(paid(addr(&alice)).as_deref(), Some("165"));
    assert_eq!(settlement.payouts.len(), 2);

    let head = c.head().await.expect("head");
    drop((c, blocks));
    shutdown.cancel();
    node.wait().await.expect("clean stop");
    drop(node);
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops")
        .expect("join")
        .expect("serve");

    // Reopen the same directory: the same state, nothing lost.
    let (_node, shutdown, url, _server) = start(dir.path()).await;
    let mut c = Client::connect(&url).await.expect("reconnect");
    let again = c.head().await.expect("head");
    assert!(again.height >= head.height);
    if again.height == head.height {
        assert_eq!(again.state_root, head.state_root);
    }
    assert_eq!(c.account(&addr(&alice)).await.expect("acc").nonce, 1);
    shutdown.cancel();
}

/// A claim and a matching attestation in one epoch (1 s long: retried if it ends between them),
/// then the epoch ends on its own and the router's escrow pays.
async fn work_is_paid_from_escrow(c: &mut Client, worker: &SigningKey) -> u64 {
    let router = key(2);
    let mut paid_epoch = None;
    for _ in 0..5 {
        let e = c.epoch().await.expect("epoch").epoch;
        let work = WorkReport { epoch: e, receipts_root: [9; 32], count: 3, tokens: 30, amount: 1_000 };
        let claim = c.send(worker, TxBody::WorkClaim { router: addr(&router), work }).await;
        let att = c.send(&router, TxBody::Attestation { worker: addr(worker), work }).await;
        if claim.is_ok() && att.is_ok() {
            paid_epoch = Some(e);
            break;
        }
    }
    let e = paid_epoch.expect("a claim and its attestation landed in one epoch");
    tokio::time::timeout(Duration::from_secs(5), async {
        while c.epoch().await.expect("epoch").epoch == e {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("epoch ended");
    let ep = c.epoch().await.expect("epoch");
    assert_eq!(ep.last_epoch_credited_workers, 1);
    assert_eq!(ep.last_epoch_paid, "1000");
    // The work fee (10 %) is burned and as much minted: the inflation share is capped by it.
    assert_eq!((ep.last_epoch_burned.as_str(), ep.last_epoch_minted.as_str()), ("100", "100"));
    // Commission 1 % of 1000; alice delegated 100 of the 600 bonded: 990·100/600 = 165.
    assert_eq!(c.account(&addr(worker)).await.expect("acc").rewards, "835");
    assert_eq!(c.router(&addr(&router)).await.expect("router").escrow, "9000");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_fails_over_to_the_endpoint_that_answers_and_keeps_rejections_final() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut node, shutdown, url, server) = start(dir.path()).await;
    // Nothing listens on the first endpoint (a port just bound and released).
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let mut session = Session::new(vec![dead.clone(), url.clone()]);
    let epoch = session.call(|c| Box::pin(c.epoch())).await.expect("the live endpoint answers");
    assert_eq!(epoch.epoch, 0);
    let alice = key(0);
    let done = session
        .send(&alice, TxBody::Transfer { to: addr(&key(3)), amount: Amount(5) })
        .await
        .expect("transfer");
    assert!(done.height >= 1);
    // A rejection is not retried elsewhere: it comes back with its code.
    let err = session
        .send(&alice, TxBody::Transfer { to: addr(&key(3)), amount: Amount(1 << 100) })
        .await
        .expect_err("more than the balance");
    assert_eq!(err.code(), Some("insufficient_balance"));
    assert!(!err.is_transient());
    // With every endpoint down, the error says so and is transient.
    let mut down = Session::new(vec![dead]);
    let err = down.call(|c| Box::pin(c.epoch())).await.expect_err("nobody answers");
    assert!(err.is_transient(), "{err}");
    shutdown.cancel();
    node.wait().await.expect("clean stop");
    let _ = server.await;
}
