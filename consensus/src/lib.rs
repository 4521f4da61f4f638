//! Replication of the Wick ledger on Malachite, a Tendermint-style BFT consensus engine.
//!
//! - [`context`]: Wick's `Context` for the engine: heights, validator addresses (ed25519
//!   keys), validator sets with voting power = bonded stake, proposals of block hashes, votes.
//! - [`signing`]: ed25519 with ZIP-215 verification; every signature names its domain and chain.
//! - [`codec`]: borsh on the wire and in the write-ahead log; decoding untrusted bytes never panics.
//! - [`stream`]: a block streamed as proposal parts, reassembled within bounds.
//! - [`evidence`]: double votes, checked again by every validator before a slash.
//! - [`application`]: the small trait the ledger implements, so the state machine knows no engine.
//! - [`node`]: starting the engine's actors and the loop that answers them.
//!
//! # How a height is decided
//! The proposer of (height, round) — drawn by a hash of both over the set's voting power — asks the
//! application for a block (mempool transactions, its clock's time, the state root they give),
//! signs (height, round, sha256(block)) and streams the block in parts. Every validator
//! reassembles it, checks the proposer's turn and signature, and asks the application to
//! re-execute it: it prevotes the block only if the state root matches, nil otherwise. Once
//! more than two thirds of the voting power precommit the hash, every node commits the block
//! with its certificate in one synced write, and the next height starts after
//! `block_interval`. A node that was down asks its peers for decided blocks and their
//! certificates (value sync) and commits them in order.
//!
//! # Safety and liveness
//! Tendermint's: with less than a third of the voting power faulty, no two nodes commit
//! different blocks at a height; with more than two thirds online and connected, heights keep
//! being decided. With a third or more offline nothing is decided and nothing forks.

pub mod application;
pub mod codec;
pub mod context;
pub mod evidence;
pub mod node;
mod run;
pub mod signing;
pub mod stream;

pub use application::Application;
pub use context::{Address, BlockHash, Height, ValidatorSet, WickContext};
pub use evidence::Equivocation;
pub use node::{Config, Node, start};
