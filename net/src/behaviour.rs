//! The composed libp2p behaviour.

use std::time::Duration;

use libp2p::kad::store::MemoryStore;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{gossipsub, identify, identity, kad};

/// Protocol version announced by identify.
pub const PROTOCOL_VERSION: &str = "/wick/1.0.0";

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub identify: identify::Behaviour,
    pub kad: kad::Behaviour<MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
}

impl Behaviour {
    pub fn new(
        key: &identity::Keypair,
        heartbeat: Duration,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let peer_id = key.public().to_peer_id();
        let identify = identify::Behaviour::new(identify::Config::new(PROTOCOL_VERSION.into(), key.public()));
        let mut kad = kad::Behaviour::new(peer_id, MemoryStore::new(peer_id));
        kad.set_mode(Some(kad::Mode::Server));
        // Small networks (a devnet has a handful of nodes): keep a mesh with a single peer, and
        // flood our own messages to every subscribed peer.
        let config = gossipsub::ConfigBuilder::default()
            .heartbeat_interval(heartbeat)
            .mesh_n(2)
            .mesh_n_low(1)
            .mesh_n_high(6)
            .mesh_outbound_min(1)
            .flood_publish(true)
            .validation_mode(gossipsub::ValidationMode::Strict)
            .build()?;
        let gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)?;
        Ok(Self { identify, kad, gossipsub })
    }
}
