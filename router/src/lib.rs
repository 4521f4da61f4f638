//! The Wick router: what applications call. It learns workers from their gossiped capability
//! records (`wick-net`), serves the same `wick.v1.Inference` gRPC service as a worker and an
//! OpenAI-compatible HTTP API, picks a worker per request (power of two choices over expected
//! latency), fails over (retrying before the first token, resuming mid-stream on another
//! worker), checks and countersigns every receipt, keeps them in a rocksdb log, and audits a
//! sample of jobs by re-running them elsewhere.
//!
//! The fronts (`http`, `grpc`) only call the forwarder (`forward`); forwarding offers finished
//! jobs to the audits (`audit`), which never call back into forwarding.
//!
//! It never imports the worker crate: workers are reached only through the network and gRPC.

mod audit;
mod auth;
mod choices;
mod config;
#[cfg(test)]
mod fake_worker;
mod forward;
mod grpc;
mod http;
mod metrics;
mod node;
mod peer_table;
mod receipt_check;
mod state;
mod store;
mod ticket;

pub use config::{ApiKey, RouterConfig};
pub use node::{Router, StartError};
pub use peer_table::PeerTable;
pub use state::RouterState;
pub use store::{RouterStore, StoreError};
