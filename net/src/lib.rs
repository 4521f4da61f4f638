//! Wick's peer network: libp2p with TCP + Noise + Yamux, identify, Kademlia and gossipsub.
//! Workers publish their signed capability records on a gossipsub topic; every node validates
//! the records it receives before gossipsub forwards them (signature, author, expiry, plausible
//! figures, a budget of new keys per peer) and hands the good ones to its subscribers, which is
//! how routers learn about workers. Peers that relay invalid records lose score and are
//! graylisted; connections are limited.
//!
//! One task owns the `Swarm`; the rest of the process holds a cloneable [`NetHandle`]. This
//! crate knows nothing about models, gRPC serving or the ledger.

mod behaviour;
pub mod identity;
pub mod key_budget;
mod node;
pub mod records;

pub use libp2p::{Multiaddr, PeerId};
pub use node::{Announcer, NetConfig, NetError, NetHandle, start};
