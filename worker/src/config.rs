//! Worker configuration: a TOML file, overridden by flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// Everything a worker needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Data directory (models and the node key).
    pub home: PathBuf,
    /// Node key file (PKCS#8 PEM, created when missing); default `<home>/keys/worker.pem`.
    pub key: Option<PathBuf>,
    /// Catalog names of the models to serve (chat and embedding).
    pub models: Vec<String>,
    /// gRPC listen address (port 0 picks a free port).
    pub grpc: SocketAddr,
    /// Address other nodes should use to reach the gRPC server; default `http://<grpc>`.
    pub advertise: Option<String>,
    /// Prometheus `/metrics` listen address.
    pub metrics: Option<SocketAddr>,
    /// libp2p listen addresses.
    pub p2p: Vec<String>,
    /// libp2p bootstrap peers.
    pub bootstrap: Vec<String>,
    /// Sequences decoded together.
    pub max_batch: usize,
    /// Jobs waiting for a slot before new ones get RESOURCE_EXHAUSTED.
    pub max_queue: usize,
    /// Longest sequence (prompt + output) in tokens.
    pub max_context: usize,
    /// Where chat models run: `cpu` (Wick's kernels), `cuda:N` (a GPU; needs a CUDA build).
    pub device: wick_models::ComputeDevice,
    /// Compute every prompt in full instead of copying prefixes other sequences computed.
    pub no_prefix_sharing: bool,
    /// Largest `max_tokens` a request may ask for.
    pub max_tokens_limit: usize,
    /// `max_tokens` when a request sets none.
    pub default_max_tokens: usize,
    /// Price advertised in the capability record, per 1000 tokens, in the ledger's smallest unit.
    pub price_per_1k_tokens: u64,
    /// Seconds between capability record publications.
    pub announce_interval_secs: u64,
    /// Serve calls without a router's ticket (development and benchmarks only: such jobs are
    /// never paid, and they bypass the routers' API keys and rate limits).
    pub dev_unticketed: bool,
    /// Farthest deadline accepted, in seconds from now: a ticket's is refused beyond it, a
    /// client's `grpc-timeout` is capped to it.
    pub max_ticket_secs: u64,
    /// Whether the ledger is followed: then only tickets of routers it vouches for are served
    /// (the `wick` binary feeds [`crate::ticket_gate::TicketGate::set_routers`]).
    pub follows_ledger: bool,
    /// Receipt log for the ledger's work claims; default: beside the key, `<key>.receipts`.
    pub receipt_log: Option<PathBuf>,
    /// Largest prompt (messages or raw prompt, in bytes) a request may send.
    pub max_prompt_bytes: usize,
    /// Threads that render chat templates, tokenize and compile response formats.
    pub tokenizer_threads: usize,
    /// Fault injection for tests (feature `fault-injection`): produce wrong outputs (another
    /// seed, always sampling), to exercise audits.
    #[cfg(feature = "fault-injection")]
    pub corrupt_outputs: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            home: wick_models::ModelStore::from_env().home().to_path_buf(),
            key: None,
            models: vec![
                wick_models::DEFAULT_CHAT_MODEL.to_string(),
                wick_models::DEFAULT_EMBEDDING_MODEL.to_string(),
            ],
            grpc: ([127, 0, 0, 1], 7001).into(),
            advertise: None,
            metrics: None,
            p2p: vec!["/ip4/127.0.0.1/tcp/0".into()],
            bootstrap: Vec::new(),
            max_batch: 8,
            max_queue: 64,
            max_context: 4096,
            device: wick_models::ComputeDevice::Cpu,
            no_prefix_sharing: false,
            max_tokens_limit: 2048,
            default_max_tokens: 256,
            price_per_1k_tokens: 1_000,
            announce_interval_secs: 2,
            dev_unticketed: false,
            max_ticket_secs: 900,
            follows_ledger: false,
            receipt_log: None,
            max_prompt_bytes: 4 << 20,
            tokenizer_threads: 2,
            #[cfg(feature = "fault-injection")]
            corrupt_outputs: false,
        }
    }
}

impl WorkerConfig {
    /// Where the node key lives.
    pub fn key_path(&self) -> PathBuf {
        self.key.clone().unwrap_or_else(|| self.home.join("keys").join("worker.pem"))
    }

    /// Where the receipts of routers' jobs are logged.
    pub fn receipt_log_path(&self) -> PathBuf {
        self.receipt_log.clone().unwrap_or_else(|| self.key_path().with_extension("receipts"))
    }
}
