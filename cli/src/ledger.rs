//! `wick ledger`: run a ledger node (rocksdb store, block-cutting actor, `wick.v1.Ledger` gRPC).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use wick_ledger::node::{LedgerNode, NodeConfig};
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
}

pub fn run(global: &GlobalArgs, args: LedgerArgs) -> anyhow::Result<()> {
    let genesis = Genesis::from_file(&args.genesis)?;
    let dir = args.dir.unwrap_or_else(|| global.store().home().join("ledger"));
    std::fs::create_dir_all(&dir).with_context(|| format!("while creating {}", dir.display()))?;
    let mut config = NodeConfig::new(dir.clone(), genesis);
    config.block_interval = Duration::from_millis(args.block_ms.max(1));
    config.max_block_txs = args.max_block_txs.max(1);
    config.epoch_seconds = args.epoch_seconds;
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
