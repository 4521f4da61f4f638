//! The Wick router: what applications call. It learns workers from their gossiped capability
//! records (`wick-net`), serves the same `wick.v1.Inference` gRPC service as a worker and an
//! OpenAI-compatible HTTP API, picks a worker per request (power of two choices over expected
//! latency), fails over (retrying before the first token, resuming mid-stream on another
//! worker), checks and countersigns every receipt, keeps them in a rocksdb log, and audits a
//! sample of jobs by re-running them elsewhere.
//!
//! It never imports the worker crate: workers are reached only through the network and gRPC.

pub mod audit;
pub mod auth;
pub mod config;
pub mod eligibility;
pub mod forward;
pub mod grpc;
pub mod metrics;
pub mod node;
pub mod openai;
pub mod peer_table;
pub mod state;
pub mod store;

pub use config::{ConfigError, RouterConfig};
pub use node::Router;
