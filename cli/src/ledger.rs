//! `wick ledger`: run a ledger node (rocksdb store, `wick.v1.Ledger` gRPC), alone or as one of
//! the validators (or a following full node) of a chain replicated by BFT consensus.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use wick_ledger::node::{LedgerNode, NodeConfig};
use wick_ledger::replica::ReplicaConfig;
use wick_staking::genesis::Genesis;

use crate::GlobalArgs;
use crate::worker::wait_for_signal;

#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    /// Genesis file (TOML, or JSON if it ends in .json).
    #[arg(long, env = "WICK_LEDGER_GENESIS")]
    genesis: PathBuf,
    /// Data directory (rocksdb). Default: <home>/ledger.
    #[arg(long, env = "WICK_LEDGER_DIR")]
    dir: Option<PathBuf>,
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = "WICK_LEDGER_GRPC", default_value = "127.0.0.1:7100")]
    grpc: SocketAddr,
    /// Longest wait, in milliseconds, before waiting transactions are cut into a block.
    #[arg(long, env = "WICK_LEDGER_BLOCK_MS", default_value_t = 100)]
    block_ms: u64,
    /// Cut a block as soon as this many transactions wait.
    #[arg(long, env = "WICK_LEDGER_MAX_BLOCK_TXS", default_value_t = 2000)]
    max_block_txs: usize,
    /// Epoch length in seconds (default: the genesis's epoch_seconds).
    #[arg(long, env = "WICK_LEDGER_EPOCH_SECONDS")]
    epoch_seconds: Option<u64>,
    /// Take part in BFT consensus with this validator key (a key name or a .pem path; a
    /// missing .pem is created). Without it the node runs the chain alone.
    #[arg(long, env = "WICK_LEDGER_VALIDATOR_KEY")]
    validator_key: Option<String>,
    /// Consensus listen address (with --validator-key).
    #[arg(long, env = "WICK_LEDGER_P2P", default_value = "127.0.0.1:7200")]
    p2p: SocketAddr,
    /// A consensus peer's listen address (repeat for each other validator).
    #[arg(long = "peer", env = "WICK_LEDGER_PEERS", value_delimiter = ',')]
    peers: Vec<SocketAddr>,
    /// A peer's gRPC URL that this node relays submissions to (repeat for each).
    #[arg(long = "relay", env = "WICK_LEDGER_RELAY", value_delimiter = ',')]
    relay: Vec<String>,
    /// Relayed transactions per second one source address may send to this node's RelayTxs
    /// (bursts of four full relay messages); a flooder past it gets RESOURCE_EXHAUSTED.
    #[arg(long, env = "WICK_LEDGER_RELAY_RATE", default_value_t = wick_ledger::replica::DEFAULT_RELAY_RATE)]
    relay_rate: u32,
    /// Follow the chain without voting (a full node): needs --validator-key for its identity.
    #[arg(long)]
    follow: bool,
    /// Test-only: sign a conflicting vote beside every vote, to exercise equivocation slashing.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    fault_equivocate: bool,
}

/// The consensus role the flags ask for, if any.
fn replica(global: &GlobalArgs, args: &LedgerArgs) -> anyhow::Result<Option<ReplicaConfig>> {
    let Some(name) = &args.validator_key else {
        if args.follow || !args.peers.is_empty() {
            anyhow::bail!("--follow and --peer need --validator-key (the node's consensus identity)");
        }
        return Ok(None);
    };
    let key = if name.ends_with(".pem") {
        wick_net::identity::load_or_create(std::path::Path::new(name))
            .with_context(|| format!("while loading the validator key {name}"))?
    } else {
        crate::keys::load(global, name)?
    };
    let mut replica = ReplicaConfig::new(
        ed25519_consensus::SigningKey::from(key.to_bytes()),
        args.p2p,
        args.peers.clone(),
        args.relay.clone(),
    );
    replica.validator = !args.follow;
    #[cfg(feature = "fault-injection")]
    {
        replica.equivocate = args.fault_equivocate;
    }
    Ok(Some(replica))
}

pub fn run(global: &GlobalArgs, args: LedgerArgs) -> anyhow::Result<()> {
    let genesis = Genesis::from_file(&args.genesis)?;
    let dir = args.dir.clone().unwrap_or_else(|| global.store().home().join("ledger"));
    std::fs::create_dir_all(&dir).with_context(|| format!("while creating {}", dir.display()))?;
    let mut config = NodeConfig::new(dir.clone(), genesis);
    config.block_interval = Duration::from_millis(args.block_ms.max(1));
    config.max_block_txs = args.max_block_txs.max(1);
    config.epoch_seconds = args.epoch_seconds;
    config.relay_rate = args.relay_rate;
    config.replica = replica(global, &args)?;
    let validator = config.replica.as_ref().map(|r| hex::encode(r.key.verification_key().to_bytes()));
    crate::node_runtime()?.block_on(async move {
        let shutdown = CancellationToken::new();
        let mut node = LedgerNode::start(config, shutdown.clone())
            .await
            .with_context(|| format!("while opening the ledger in {}", dir.display()))?;
        let server_stop = CancellationToken::new();
        let (addr, server) =
            wick_ledger::service::spawn_server(node.handle.clone(), args.grpc, server_stop.clone())
                .await
                .with_context(|| format!("while binding {}", args.grpc))?;
        let view = node.handle.view();
        let ready = serde_json::json!({
            "event": "ready",
            "role": "ledger",
            "grpc": format!("http://{addr}"),
            "chain_id": view.state.chain_id,
            "height": view.state.height,
            "epoch": view.state.epoch,
            "epoch_seconds": view.epoch_seconds,
            "state_root": hex::encode(view.state.root()),
            "dir": dir.display().to_string(),
            "validator": validator,
        });
        println!("{ready}");
        tracing::info!(grpc = %addr, height = view.state.height, "ledger ready");
        let stopped = tokio::select! {
            () = wait_for_signal() => {
                eprintln!("shutting down: committing accepted transactions");
                None
            }
            r = node.wait() => Some(r),
        };
        shutdown.cancel();
        let result = match stopped {
            Some(r) => r,
            None => node.wait().await,
        };
        server_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        result.context("the ledger stopped on a storage error")
    })
}
