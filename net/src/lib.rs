//! Wick's peer network: libp2p with TCP + Noise + Yamux, identify, Kademlia and gossipsub.
//! Workers publish their signed capability records on a gossipsub topic; every node verifies
//! the records it receives (signature, author, expiry, version) and hands the good ones to its
//! subscribers, which is how routers learn about workers.
//!
//! One task owns the `Swarm`; the rest of the process holds a cloneable [`NetHandle`]. This
//! crate knows nothing about models, gRPC serving or the ledger.

mod behaviour;
pub mod identity;
mod node;
pub mod records;

pub use libp2p::{Multiaddr, PeerId};
pub use node::{Announcer, NetConfig, NetError, NetHandle, start};
