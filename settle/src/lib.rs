//! How Wick's nodes settle with the ledger: at each epoch's end a worker claims the work it did
//! (a Merkle root over the receipts of routers' jobs, their count and tokens) and each router
//! attests, per worker, the receipts it countersigned; the ledger credits work that both sides
//! agree on. Routers also turn audit evidence into fraud proofs.
//!
//! # Which receipts belong to an epoch
//! Worker and router must put exactly the same receipts under the same epoch, or their roots
//! differ and nothing is credited. Both read the epoch's end `E` and length `L` from the ledger
//! (`Epoch` query) and take the receipts whose `finished_unix_ms` lies in
//! `[E − L − M, E − M)`, with the margin `M = L / 4`. They submit at `E − M/2`, when every
//! receipt of the window is known to both, and before the ledger closes the epoch. A receipt
//! finished in the margin counts for the next epoch.
//!
//! This crate is glue: workers and routers never import it (nor the ledger); the `wick` binary
//! wires them together through closures that read their receipt logs.

pub mod eligibility;
pub mod fraud;
pub mod merkle;
pub mod window;
pub mod work;

pub use merkle::receipts_root;
pub use window::EpochWindow;
