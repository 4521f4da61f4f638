//! The Wick worker node: loads models, runs them in a continuous-batching engine on dedicated
//! threads, serves `wick.v1.Inference` over gRPC (with health and reflection), signs a receipt
//! for every finished job, announces itself on the libp2p network (`wick-net`) and exposes
//! Prometheus metrics.
//!
//! It knows the models (`wick-models`) and the wire protocol (`wick-proto`); it never imports
//! the router or the ledger.

pub mod announce;
pub mod config;
pub mod engine;
pub mod grpc_timeout;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod receipt;
pub mod receipt_log;
mod relay;
pub mod request;
pub mod service;
pub mod ticket_gate;
pub mod tokenize;

pub use config::WorkerConfig;
pub use node::{StartError, Worker};
