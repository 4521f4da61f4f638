//! `wick bench explorer`: how fast the explorer's overview is on a large network. A real ledger
//! (in process: rocksdb, the node actor, gRPC on loopback) starts from a genesis of 10 000
//! funded accounts, 100 workers and a delegation from every other account; one epoch carries a
//! claim for every worker, an attestation of each by its own router (one of the delegators, so
//! every attestation is its signer's first transaction and they need no order) and 1 000
//! transfers, so its end credits 100
//! workers and pays over 10 000 accounts. An explorer follows it and is given 100 signed
//! capability records (verified like the network's). Measured: the overview's JSON (built in
//! the explorer's index task, then served over HTTP) and the overview page in headless Chromium,
//! from navigation to the page filled with that JSON.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use wick_explorer::{Explorer, ExplorerConfig};
use wick_ledger::node::{LedgerHandle, LedgerNode, NodeConfig};
use wick_proto::signing::sign_capability;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::{CapabilityRecord, ModelAd};
use wick_staking::genesis::{
    Genesis, GenesisAccount, GenesisAmount, GenesisDelegation, GenesisParams, GenesisRouter, GenesisWorker,
};
use wick_staking::{Address, Amount, Params, Tx, TxBody, WorkReport};

use crate::browser::Browser;
use crate::stats::{median, percentile};

/// Flags of `wick bench explorer`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExplorerBench {
    /// Accounts in the genesis (the first `workers` of them are workers).
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// Workers.
    #[arg(long, default_value_t = 100)]
    pub workers: usize,
    /// Page loads and JSON requests measured.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Milliseconds: median, 90th percentile and largest of the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Median.
    pub median_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Timing {
    fn of(mut ms: Vec<f64>) -> Self {
        ms.sort_by(f64::total_cmp);
        Timing {
            median_ms: median(&ms),
            p90_ms: percentile(&ms, 0.9),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// What the bench measured.
#[derive(Debug, Clone, Serialize)]
pub struct ExplorerReport {
    /// Accounts on the ledger.
    pub accounts: u64,
    /// Live workers on the overview.
    pub workers: u64,
    /// Accounts the last epoch end paid.
    pub paid_accounts: usize,
    /// The overview's JSON built in the index task (no HTTP).
    pub overview_build: Timing,
    /// `GET /api/overview` over loopback.
    pub overview_json: Timing,
    /// `GET /api/workers` over loopback.
    pub workers_json: Timing,
    /// The overview page: navigation start to the page filled with its JSON.
    pub overview_render: Timing,
    /// Of that, navigation start to the HTML parsed and the script about to run (the
    /// browser's own work and the assets; the rest is the JSON fetched and rendered).
    pub overview_shell: Timing,
    /// The workers page, the same way.
    pub workers_render: Timing,
}

fn key(i: usize) -> SigningKey {
    let mut seed = [0xEB; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SigningKey::from_bytes(&seed)
}

fn hex_addr(k: &SigningKey) -> String {
    hex::encode(k.verifying_key().to_bytes())
}

fn genesis(accounts: usize, workers: usize) -> Genesis {
    Genesis {
        chain_id: "wick-bench-explorer".into(),
        epoch_seconds: 3,
        params: GenesisParams::default(),
        accounts: (0..accounts)
            .map(|i| GenesisAccount { address: hex_addr(&key(i)), balance: GenesisAmount(10_000_000) })
            .collect(),
        workers: (0..workers)
            .map(|i| GenesisWorker {
                address: hex_addr(&key(i)),
                commission_bps: 500,
                stake: GenesisAmount(100_000),
            })
            .collect(),
        delegations: (workers..accounts)
            .map(|i| GenesisDelegation {
                delegator: hex_addr(&key(i)),
                worker: hex_addr(&key(i % workers)),
                amount: GenesisAmount(1_000),
            })
            .collect(),
        // Worker `i`'s router is account `workers + i`.
        routers: (workers..2 * workers)
            .map(|i| GenesisRouter {
                address: hex_addr(&key(i)),
                stake: GenesisAmount(100_000),
                escrow: GenesisAmount(100_000_000),
            })
            .collect(),
        validators: Vec::new(),
    }
}

/// Waits for the next epoch to start.
async fn next_epoch(ledger: &LedgerHandle) -> anyhow::Result<u64> {
    let now = ledger.view().state.epoch;
    let started = Instant::now();
    while ledger.view().state.epoch == now {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("epoch {now} did not end");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(now + 1)
}

/// One epoch of work: every worker claims, a router attests each (worker `i`'s router is
/// account `workers + i`), and 1 000 transfers from the accounts after the routers.
async fn workload(ledger: &LedgerHandle, accounts: usize, workers: usize) -> anyhow::Result<()> {
    let epoch = next_epoch(ledger).await?;
    let chain = ledger.view().state.chain_id.clone();
    let tx = |k: &SigningKey, nonce, body| {
        Tx {
            chain_id: chain.clone(),
            signer: Address(k.verifying_key().to_bytes()),
            nonce,
            fee: Amount::ZERO,
            body,
        }
        .paying(&Params::default())
        .sign(k)
    };
    let root = |i: usize| [(i % 251) as u8; 32];
    let mut txs = Vec::new();
    let work = |i: usize| WorkReport {
        epoch,
        receipts_root: root(i),
        count: 10,
        tokens: 1_000 + i as u64,
        // Large enough that every delegator's pro-rata share is at least one unit: the epoch
        // end pays every account, the explorer's heaviest case.
        amount: 10_000_000 + i as u128,
    };
    for i in 0..workers {
        let router = Address(key(workers + i).verifying_key().to_bytes());
        txs.push(tx(&key(i), 0, TxBody::WorkClaim { router, work: work(i) }));
    }
    for i in 0..workers {
        let worker = Address(key(i).verifying_key().to_bytes());
        txs.push(tx(&key(workers + i), 0, TxBody::Attestation { worker, work: work(i) }));
    }
    for i in 2 * workers..(2 * workers + 1_000).min(accounts - 1) {
        let to = Address(key(i + 1).verifying_key().to_bytes());
        txs.push(tx(&key(i), 0, TxBody::Transfer { to, amount: Amount(1) }));
    }
    let results = futures::future::join_all(txs.iter().map(|t| ledger.submit(t))).await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        bail!("a workload transaction was rejected: {e}");
    }
    next_epoch(ledger).await?;
    Ok(())
}

/// The records a live worker would gossip.
fn records(workers: usize) -> Vec<wick_proto::v1::SignedCapabilityRecord> {
    (0..workers)
        .map(|i| {
            let record = CapabilityRecord {
                grpc_endpoint: format!("http://127.0.0.1:{}", 20_000 + i),
                models: vec![ModelAd {
                    name: "smollm2-135m-instruct".into(),
                    id: "b179c952".into(),
                    kind: "chat".into(),
                }],
                free_slots: 8,
                queue_depth: (i % 3) as u32,
                tokens_per_second: 100.0 + i as f32,
                price_per_1k_tokens: 10,
                version: env!("CARGO_PKG_VERSION").into(),
                issued_unix_ms: now_unix_ms(),
                // Receivers refuse expiries further out than this; each round sends fresh ones.
                expires_unix_ms: now_unix_ms() + wick_net::records::MAX_TTL_MS,
                numeric_class: wick_models::CPU_NUMERIC_CLASS.into(),
                ..Default::default()
            };
            sign_capability(&key(i), record)
        })
        .collect()
}

async fn get_ms(http: &reqwest::Client, url: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    let body = http.get(url).send().await?.error_for_status()?.bytes().await?;
    anyhow::ensure!(!body.is_empty(), "{url} answered nothing");
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// Loads `url` in a fresh page `rounds` times; milliseconds from navigation to the first
/// render of the page's JSON (`window.wickRendered`), and to the page's script starting.
async fn render(browser: &Browser, url: &str, rounds: usize) -> anyhow::Result<(Timing, Timing)> {
    let (mut ms, mut shell) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        browser.goto("about:blank").await?;
        browser.goto(url).await?;
        let v = browser
            .wait_for(
                "the page to render",
                "return window.wickRendered ? [window.wickRendered.ms,
                    performance.getEntriesByType('navigation')[0].domContentLoadedEventStart] : null",
                Duration::from_secs(20),
            )
            .await?;
        ms.push(v[0].as_f64().context("render time")?);
        shell.push(v[1].as_f64().context("script start time")?);
    }
    Ok((Timing::of(ms), Timing::of(shell)))
}

/// Waits until the explorer shows every worker live and credited and the ledger connected;
/// returns the ledger's account count and how many accounts the last epoch end paid.
async fn caught_up(
    http: &reqwest::Client,
    explorer: &Explorer,
    workers: usize,
) -> anyhow::Result<(u64, usize)> {
    let overview = format!("{}/api/overview", explorer.url);
    let started = Instant::now();
    loop {
        let o: serde_json::Value = http.get(&overview).send().await?.json().await?;
        let ready = o["live_workers"].as_u64() == Some(workers as u64)
            && o["last_epoch"]["credits"].as_array().is_some_and(|c| c.len() == workers)
            && o["ledger"]["connected"] == true;
        if ready {
            let paid = explorer
                .index
                .read(|i, _| {
                    i.last_epoch().and_then(|(_, b)| b.settlement.as_ref()).map_or(0, |s| s.payouts.len())
                })
                .await?;
            return Ok((o["supply"]["accounts"].as_u64().unwrap_or(0), paid));
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the explorer did not catch up: {o}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the bench (see the module docs).
pub async fn measure(args: &ExplorerBench, progress: impl Fn(&str)) -> anyhow::Result<ExplorerReport> {
    anyhow::ensure!(
        args.workers >= 1 && args.accounts > 2 * args.workers,
        "need workers ≥ 1 and accounts > 2 × workers"
    );
    let dir = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    progress(&format!("ledger with {} accounts and {} workers", args.accounts, args.workers));
    let mut config = NodeConfig::new(dir.path().to_path_buf(), genesis(args.accounts, args.workers));
    config.epoch_seconds = Some(3);
    let node = LedgerNode::start(config, shutdown.clone()).await?;
    let (addr, _server) =
        wick_ledger::service::spawn_server(node.handle.clone(), "127.0.0.1:0".parse()?, shutdown.clone())
            .await?;
    progress("one epoch of claims, attestations and transfers");
    workload(&node.handle, args.accounts, args.workers).await?;
    let config = ExplorerConfig {
        ledger: vec![format!("http://{addr}")],
        http: "127.0.0.1:0".parse()?,
        network: false,
        p2p: Vec::new(),
        bootstrap: Vec::new(),
    };
    let explorer = Explorer::start(config, shutdown.clone()).await?;
    for r in records(args.workers) {
        explorer.index.observe_signed(&r).await?;
    }
    progress("explorer indexing");
    let http = reqwest::Client::new();
    let overview = format!("{}/api/overview", explorer.url);
    let (accounts, paid_accounts) = caught_up(&http, &explorer, args.workers).await?;
    progress("timing the JSON");
    let (mut build, mut json, mut workers_json) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        for r in records(args.workers) {
            explorer.index.observe_signed(&r).await?;
        }
        let status = explorer.ledger.status();
        let t = Instant::now();
        explorer
            .index
            .read(move |i, p| wick_explorer::views::overview::overview(i, p, &status, now_unix_ms()))
            .await?;
        build.push(t.elapsed().as_secs_f64() * 1e3);
        json.push(get_ms(&http, &overview).await?);
        workers_json.push(get_ms(&http, &format!("{}/api/workers", explorer.url)).await?);
    }
    progress("timing the pages in headless Chromium");
    let browser = Browser::start(1280, 900).await?;
    let overview_render = render(&browser, &format!("{}/#/", explorer.url), args.rounds).await;
    let workers_render = render(&browser, &format!("{}/#/workers", explorer.url), args.rounds).await;
    browser.close().await;
    let (overview_render, overview_shell) = overview_render?;
    Ok(ExplorerReport {
        accounts,
        workers: args.workers as u64,
        paid_accounts,
        overview_build: Timing::of(build),
        overview_json: Timing::of(json),
        workers_json: Timing::of(workers_json),
        overview_render,
        overview_shell,
        workers_render: workers_render?.0,
    })
}

/// Runs `wick bench explorer` and prints its report.
pub fn run(args: ExplorerBench) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let quiet = args.json;
    let report = rt.block_on(measure(&args, |m| {
        if !quiet {
            eprintln!("… {m}");
        }
    }))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "explorer, {} accounts ({} paid at the last epoch end), {} live workers; ms over {} rounds (goal: overview < 300 ms)",
        report.accounts, report.paid_accounts, report.workers, args.rounds
    );
    println!("{:<44} {:>8} {:>8} {:>8}", "", "median", "p90", "max");
    for (name, t) in [
        ("overview JSON, built in the index task", &report.overview_build),
        ("GET /api/overview", &report.overview_json),
        ("GET /api/workers", &report.workers_json),
        ("overview page, navigation to rendered", &report.overview_render),
        ("  of which navigation to script start", &report.overview_shell),
        ("workers page, navigation to rendered", &report.workers_render),
    ] {
        println!("{name:<44} {:>8.1} {:>8.1} {:>8.1}", t.median_ms, t.p90_ms, t.max_ms);
    }
    Ok(())
}
