//! `wick worker`: serve models to routers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use wick_ledger::client::{Session, endpoints};
use wick_settle::eligibility::{SetAllowed, SetEpoch};
use wick_settle::work::{ReceiptSource, Role};
use wick_worker::{Worker, WorkerConfig};

use crate::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// TOML config file; flags and environment variables override it.
    #[arg(long, env = "WICK_WORKER_CONFIG")]
    config: Option<PathBuf>,
    /// Node key file (created when missing). Default: <home>/keys/worker.pem.
    #[arg(long, env = "WICK_WORKER_KEY")]
    key: Option<PathBuf>,
    /// Model to serve (repeatable). Default: the default chat and embedding models.
    #[arg(long = "model", env = "WICK_WORKER_MODELS", value_delimiter = ',')]
    models: Vec<String>,
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long, env = "WICK_WORKER_GRPC")]
    grpc: Option<SocketAddr>,
    /// Address routers should dial, if not http://<grpc>.
    #[arg(long, env = "WICK_WORKER_ADVERTISE")]
    advertise: Option<String>,
    /// Prometheus /metrics listen address.
    #[arg(long, env = "WICK_WORKER_METRICS")]
    metrics: Option<SocketAddr>,
    /// libp2p listen multiaddr (repeatable).
    #[arg(long, env = "WICK_WORKER_P2P", value_delimiter = ',')]
    p2p: Vec<String>,
    /// libp2p bootstrap peer multiaddr (repeatable).
    #[arg(long, env = "WICK_WORKER_BOOTSTRAP", value_delimiter = ',')]
    bootstrap: Vec<String>,
    /// Sequences decoded together.
    #[arg(long, env = "WICK_WORKER_MAX_BATCH")]
    max_batch: Option<usize>,
    /// Waiting jobs before RESOURCE_EXHAUSTED.
    #[arg(long, env = "WICK_WORKER_MAX_QUEUE")]
    max_queue: Option<usize>,
    /// Compute every prompt in full instead of copying the keys and values of a prefix (such as
    /// the chat template's system text) that a running sequence already computed.
    #[arg(long, env = "WICK_WORKER_NO_PREFIX_SHARING")]
    no_prefix_sharing: bool,
    /// Longest sequence (prompt + output) in tokens.
    #[arg(long, env = "WICK_WORKER_MAX_CONTEXT")]
    max_context: Option<usize>,
    /// Where chat models run: cpu (Wick's kernels) or cuda:N (a GPU; needs `--features cuda`).
    #[arg(long, env = "WICK_WORKER_DEVICE")]
    device: Option<wick_models::ComputeDevice>,
    /// Largest max_tokens a request may ask for.
    #[arg(long, env = "WICK_WORKER_MAX_TOKENS_LIMIT")]
    max_tokens_limit: Option<usize>,
    /// Largest prompt a request may send, in bytes.
    #[arg(long, env = "WICK_WORKER_MAX_PROMPT_BYTES")]
    max_prompt_bytes: Option<usize>,
    /// Ledger gRPC endpoints (comma-separated; it fails over between them): when set, the
    /// worker serves only tickets of routers the ledger vouches for (registered, bonded,
    /// unjailed, with escrow) and claims its work there.
    #[arg(long, env = "WICK_WORKER_LEDGER")]
    ledger: Option<String>,
    /// Price per 1000 tokens (in and out) in base units: advertised, and required of tickets.
    #[arg(long, env = "WICK_WORKER_PRICE")]
    price_per_1k_tokens: Option<u64>,
    /// Development only: serve calls that carry no router ticket (never paid; they bypass the
    /// routers' API keys and rate limits). Benchmarks and tools that call the worker directly.
    #[arg(long, env = "WICK_WORKER_DEV_UNTICKETED")]
    dev_unticketed: bool,
    /// Test-only: produce wrong outputs (with consistent receipts), to exercise audits.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    corrupt_outputs: bool,
}

impl WorkerArgs {
    fn into_config(self, global: &GlobalArgs) -> anyhow::Result<WorkerConfig> {
        let mut c = match &self.config {
            Some(path) => crate::config_file::load::<WorkerConfig>(path)
                .context("while reading the worker's config file")?,
            None => WorkerConfig::default(),
        };
        if let Some(home) = &global.home {
            c.home = home.clone();
        }
        c.key = self.key.or(c.key);
        if !self.models.is_empty() {
            c.models = self.models;
        }
        c.grpc = self.grpc.unwrap_or(c.grpc);
        c.advertise = self.advertise.or(c.advertise);
        c.metrics = self.metrics.or(c.metrics);
        if !self.p2p.is_empty() {
            c.p2p = self.p2p;
        }
        if !self.bootstrap.is_empty() {
            c.bootstrap = self.bootstrap;
        }
        c.max_batch = self.max_batch.unwrap_or(c.max_batch);
        c.no_prefix_sharing = self.no_prefix_sharing;
        c.max_queue = self.max_queue.unwrap_or(c.max_queue);
        c.max_context = self.max_context.unwrap_or(c.max_context);
        c.device = self.device.unwrap_or(c.device);
        c.max_tokens_limit = self.max_tokens_limit.unwrap_or(c.max_tokens_limit);
        c.price_per_1k_tokens = self.price_per_1k_tokens.unwrap_or(c.price_per_1k_tokens);
        c.dev_unticketed |= self.dev_unticketed;
        c.follows_ledger = self.ledger.is_some();
        c.max_prompt_bytes = self.max_prompt_bytes.unwrap_or(c.max_prompt_bytes);
        #[cfg(feature = "fault-injection")]
        {
            c.corrupt_outputs |= self.corrupt_outputs;
        }
        Ok(c)
    }
}

/// Feeds the worker's ticket gate from the ledger and claims its work there.
fn follow_ledger(worker: &Worker, url: String, shutdown: &CancellationToken) {
    let state = worker.state.clone();
    let set: SetAllowed = Arc::new(move |routers| state.gate.set_routers(routers));
    let state = worker.state.clone();
    let epoch: SetEpoch = Arc::new(move |e| state.gate.set_epoch(e));
    let session = Session::new(endpoints(&url));
    tokio::spawn(wick_settle::eligibility::for_worker(session, set, epoch, shutdown.clone()));
    if let Some(log) = worker.state.receipts.clone() {
        let source: ReceiptSource = Arc::new(move |from, to| log.between(from, to));
        let session = Session::new(endpoints(&url));
        tokio::spawn(wick_settle::work::run(
            session,
            worker.key.clone(),
            Role::Worker,
            source,
            shutdown.clone(),
        ));
    }
}

pub fn run(global: &GlobalArgs, args: WorkerArgs) -> anyhow::Result<()> {
    return_large_frees_to_the_system();
    let ledger = args.ledger.clone();
    let config = args.into_config(global)?;
    crate::node_runtime()?.block_on(async move {
        let shutdown = CancellationToken::new();
        let worker = Worker::start(config, shutdown.clone()).await.context("while starting the worker")?;
        if let Some(url) = ledger {
            follow_ledger(&worker, url, &shutdown);
        }
        let ready = serde_json::json!({
            "event": "ready",
            "role": "worker",
            "pid": std::process::id(),
            "grpc": format!("http://{}", worker.grpc_addr),
            "metrics": worker.metrics_addr.map(|a| format!("http://{a}/metrics")),
            "public_key": hex_key(&worker.key),
            "peer_id": worker.net.as_ref().map(|n| n.peer_id().to_string()),
            "p2p": worker.p2p_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        });
        println!("{ready}");
        tracing::info!(grpc = %worker.grpc_addr, "worker ready");
        wait_for_signal().await;
        eprintln!("shutting down: finishing in-flight requests (Ctrl-C again to force)");
        shutdown.cancel();
        tokio::select! {
            () = worker.wait() => {}
            () = wait_for_signal() => eprintln!("forced shutdown"),
            () = tokio::time::sleep(Duration::from_secs(60)) => eprintln!("in-flight requests did not finish in 60 s"),
        }
        Ok(())
    })
}

fn hex_key(key: &ed25519_dalek::SigningKey) -> String {
    key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Makes the allocator hand freed memory back to the system at once instead of after a delay:
/// KV caches grow and die with their sequences, and eight 2k-token sequences otherwise peaked
/// 70 MiB above what they hold.
fn return_large_frees_to_the_system() {
    // `mi_option_purge_delay`, number 15 in both bundled mimalloc headers (v2 and v3); the
    // crate does not name it. Its default is 1 s in the v3 this builds.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets a mimalloc option, which is valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
}
