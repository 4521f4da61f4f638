//! The Wick ledger node: it runs the staking state machine (`wick-staking`) as a service.
//!
//! - [`store`]: the rocksdb store of blocks (one synced write per block) and recovery by replay.
//! - [`execution`]: a block's transactions through the state machine, and the block's record.
//! - [`node`]: the actor that owns the state and the store, cuts blocks from submitted
//!   transactions, ends epochs by the clock, and publishes snapshots to readers.
//! - [`replica`]: the same node replicated by BFT consensus (`wick-consensus`) with other
//!   ledger nodes: blocks proposed in turn, re-executed and decided by the validators.
//! - [`service`]: `wick.v1.Ledger` over gRPC.
//! - [`client`]: the one client every other part of Wick talks to the ledger with.
//! - [`json`]: the JSON form of its answers and of transactions, shared by the CLI's `--json`
//!   and the explorer.
//!
//! The node submits a transaction's reply only once its block is on disk; readers see immutable
//! snapshots and never wait for the actor.

pub mod client;
pub mod execution;
pub mod json;
pub mod node;
pub mod replica;
pub mod service;
pub mod store;
