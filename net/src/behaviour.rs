//! The composed libp2p behaviour.

use std::time::Duration;

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{IdentTopic, PeerScoreParams, PeerScoreThresholds, TopicScoreParams};
use libp2p::kad::store::MemoryStore;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{gossipsub, identify, identity, kad};

use crate::records;

/// Established connections accepted from other peers.
pub const MAX_INCOMING: u32 = 128;
/// Connections being set up at once.
pub const MAX_PENDING: u32 = 32;
/// Connections to one peer.
pub const MAX_PER_PEER: u32 = 2;

/// Protocol version announced by identify.
pub const PROTOCOL_VERSION: &str = "/wick/1.0.0";

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
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
            // Records are validated by the node before they are forwarded.
            .validate_messages()
            .max_transmit_size(records::MAX_RECORD_BYTES)
            .build()?;
        let mut gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)?;
        gossipsub.with_peer_score(score_params(), PeerScoreThresholds::default())?;
        let limits = connection_limits::Behaviour::new(
            ConnectionLimits::default()
                .with_max_established_incoming(Some(MAX_INCOMING))
                .with_max_pending_incoming(Some(MAX_PENDING))
                .with_max_established_per_peer(Some(MAX_PER_PEER)),
        );
        Ok(Self { limits, identify, kad, gossipsub })
    }
}

/// Peer scoring: every invalid record a peer relays costs it, quadratically, so a few put it
/// below the graylist threshold (its messages are then ignored). Delivery-rate penalties are off:
/// devnets are a handful of quiet peers on one machine, and so is the IP colocation penalty.
fn score_params() -> PeerScoreParams {
    let topic = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.5,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        ip_colocation_factor_weight: 0.0,
        app_specific_weight: 0.0,
        ..PeerScoreParams::default()
    };
    params.topics.insert(IdentTopic::new(records::TOPIC).hash(), topic);
    params
}
