//! Router configuration: a TOML file, overridden by flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// An application's API key and its rate limit.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The secret sent as `Authorization: Bearer <key>`.
    pub key: String,
    /// Sustained requests per second.
    #[serde(default = "default_rate")]
    pub requests_per_second: f64,
    /// Burst size.
    #[serde(default = "default_burst")]
    pub burst: f64,
}

fn default_rate() -> f64 {
    50.0
}

fn default_burst() -> f64 {
    100.0
}

/// Everything a router needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// Data directory (key, receipt log).
    pub home: PathBuf,
    /// gRPC listen address.
    pub grpc: SocketAddr,
    /// OpenAI-compatible HTTP listen address (also serves /metrics).
    pub http: SocketAddr,
    /// libp2p listen addresses.
    pub p2p: Vec<String>,
    /// libp2p bootstrap peers.
    pub bootstrap: Vec<String>,
    /// API keys; empty means no authentication.
    pub api_keys: Vec<ApiKey>,
    /// Largest HTTP request body in bytes.
    pub max_body_bytes: usize,
    /// Workers tried per request before giving up.
    pub max_attempts: usize,
    /// Fraction of finished jobs re-executed on another worker.
    pub audit_fraction: f64,
    /// Whole-request time limit.
    #[serde(with = "secs")]
    pub request_timeout: Duration,
    /// Ledger gRPC endpoint: when set, only workers registered and staked there get traffic.
    pub ledger: Option<String>,
    /// Time to wait for a worker to accept a call.
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// Highest price per 1000 tokens this router pays (its escrow pays the worker's advertised
    /// price): workers asking more get no traffic, so none can drain the escrow by advertising
    /// an absurd price.
    pub max_price_per_1k_tokens: u64,
    /// Longest silence of a worker in the middle of a job before it counts as failed.
    #[serde(with = "secs")]
    pub idle_timeout: Duration,
    /// Most tokens a job may produce when the request sets no `max_tokens`, and the cap on any
    /// request's: a worker that streams more is cut off and excluded.
    pub max_job_tokens: u32,
}

mod secs {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        // A day at most: every duration here bounds a single request.
        Duration::try_from_secs_f64(secs.min(86_400.0))
            .map_err(|e| serde::de::Error::custom(format!("{secs} is not a number of seconds: {e}")))
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            home: PathBuf::from(".wick"),
            grpc: ([127, 0, 0, 1], 7000).into(),
            http: ([127, 0, 0, 1], 8080).into(),
            p2p: vec!["/ip4/127.0.0.1/tcp/0".into()],
            bootstrap: Vec::new(),
            api_keys: Vec::new(),
            max_body_bytes: 1 << 20,
            max_attempts: 3,
            audit_fraction: 0.05,
            request_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_job_tokens: 4096,
            ledger: None,
            max_price_per_1k_tokens: 10_000,
        }
    }
}

impl RouterConfig {
    /// Where the node key lives.
    pub fn key_path(&self) -> PathBuf {
        self.home.join("keys").join("router.pem")
    }

    /// Where the receipt and evidence log lives.
    pub fn db_path(&self) -> PathBuf {
        self.home.join("router-db")
    }
}
