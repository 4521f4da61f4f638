//! `wick router`: serve applications (gRPC and an OpenAI-compatible API) over the workers found
//! on the peer network.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use wick_ledger::client::{Session, endpoints};
use wick_router::{Router, RouterConfig};
use wick_settle::eligibility::{Known, SetAllowed, SetEpoch};
use wick_settle::work::{ReceiptSource, Role};

use crate::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct RouterArgs {
    /// TOML config file; flags and environment variables override it.
    #[arg(long, env = "WICK_ROUTER_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = "WICK_ROUTER_GRPC")]
    grpc: Option<SocketAddr>,
    /// OpenAI-compatible HTTP listen address (also /metrics and /health).
    #[arg(long, env = "WICK_ROUTER_HTTP")]
    http: Option<SocketAddr>,
    /// libp2p listen multiaddr (repeatable).
    #[arg(long, env = "WICK_ROUTER_P2P", value_delimiter = ',')]
    p2p: Vec<String>,
    /// libp2p bootstrap peer multiaddr (repeatable).
    #[arg(long, env = "WICK_ROUTER_BOOTSTRAP", value_delimiter = ',')]
    bootstrap: Vec<String>,
    /// Fraction of finished jobs re-executed on another worker (0 to 1).
    #[arg(long, env = "WICK_ROUTER_AUDIT_FRACTION")]
    audit_fraction: Option<f64>,
    /// Highest price per 1000 tokens paid to a worker (workers advertising more get no traffic).
    #[arg(long, env = "WICK_ROUTER_MAX_PRICE")]
    max_price_per_1k_tokens: Option<u64>,
    /// Ledger gRPC endpoints (comma-separated; it fails over between them): when set, only
    /// workers staked there get traffic, and the router attests the work it countersigned at
    /// each epoch's end.
    #[arg(long, env = "WICK_ROUTER_LEDGER")]
    ledger: Option<String>,
    /// Folder for the router's key and receipt log. Default: <home>/router.
    #[arg(long, env = "WICK_ROUTER_DIR")]
    dir: Option<PathBuf>,
}

pub fn run(global: &GlobalArgs, args: RouterArgs) -> anyhow::Result<()> {
    let mut c = match &args.config {
        Some(path) => crate::config_file::load::<RouterConfig>(path)
            .context("while reading the router's config file")?,
        None => RouterConfig::default(),
    };
    c.home = args.dir.clone().unwrap_or_else(|| global.store().home().join("router"));
    c.grpc = args.grpc.unwrap_or(c.grpc);
    c.http = args.http.unwrap_or(c.http);
    if !args.p2p.is_empty() {
        c.p2p = args.p2p;
    }
    if !args.bootstrap.is_empty() {
        c.bootstrap = args.bootstrap;
    }
    if args.ledger.is_some() {
        c.ledger = args.ledger.clone();
    }
    c.max_price_per_1k_tokens = args.max_price_per_1k_tokens.unwrap_or(c.max_price_per_1k_tokens);
    if let Some(f) = args.audit_fraction {
        anyhow::ensure!((0.0..=1.0).contains(&f), "--audit-fraction must be between 0 and 1, got {f}");
        c.audit_fraction = f;
    }
    crate::node_runtime()?.block_on(async move {
        let shutdown = CancellationToken::new();
        let ledger = c.ledger.clone();
        let mut router = Router::start(c, shutdown.clone()).await.context("while starting the router")?;
        if let Some(url) = ledger {
            let store = router.state.store.clone();
            let source: ReceiptSource = Arc::new(move |from, to| {
                store.receipts_between(from, to).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "could not read the receipt log");
                    Vec::new()
                })
            });
            let session = Session::new(endpoints(&url));
            tokio::spawn(wick_settle::work::run(session, router.key.clone(), Role::Router, source, shutdown.clone()));
            let peers = router.state.peers.clone();
            let known: Known = Arc::new(move || peers.keys());
            let peers = router.state.peers.clone();
            let set: SetAllowed = Arc::new(move |keys| peers.set_eligible(keys));
            let now = router.state.epoch.clone();
            let epoch: SetEpoch = Arc::new(move |e| now.store(e, std::sync::atomic::Ordering::Relaxed));
            let session = Session::new(endpoints(&url));
            let eligibility = wick_settle::eligibility::for_router(session, known, set, epoch, shutdown.clone());
            tokio::spawn(eligibility);
            // The feed first, then the log: a piece stored in between is in both, reported once.
            let feed = router.take_evidence_feed().context("the router's evidence feed was taken")?;
            let store = router.state.store.clone();
            let backlog = tokio::task::spawn_blocking(move || store.evidence())
                .await
                .context("while reading the router's evidence log")?
                .context("while reading the router's evidence log")?;
            let session = Session::new(endpoints(&url));
            tokio::spawn(wick_settle::fraud::run(session, router.key.clone(), backlog, feed, shutdown.clone()));
        }
        let ready = serde_json::json!({
            "event": "ready",
            "role": "router",
            "grpc": format!("http://{}", router.grpc_addr),
            "openai_base_url": format!("http://{}/v1", router.http_addr),
            "metrics": format!("http://{}/metrics", router.http_addr),
            "p2p": router.p2p_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "public_key": hex::encode(router.key.verifying_key().to_bytes()),
        });
        println!("{ready}");
        crate::worker::wait_for_signal().await;
        eprintln!("shutting down");
        shutdown.cancel();
        tokio::select! {
            () = router.wait() => {}
            () = tokio::time::sleep(Duration::from_secs(30)) => eprintln!("in-flight requests did not finish in 30 s"),
        }
        Ok(())
    })
}
