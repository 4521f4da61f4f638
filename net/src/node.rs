//! The swarm task and its handle.

use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, identity, noise, tcp, yamux};
use prost::Message;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::{CapabilityRecord, SignedCapabilityRecord};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::key_budget::KeyBudget;
use crate::records::{self, RecordError};

/// Produces the node's current signed capability record; called every announce interval.
pub type Announcer = Box<dyn Fn() -> SignedCapabilityRecord + Send + Sync>;

/// Network settings.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Addresses to listen on (`/ip4/127.0.0.1/tcp/0` picks a free port).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// Time between capability record publications.
    pub announce_interval: Duration,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap_or_else(|_| Multiaddr::empty())],
            bootstrap: Vec::new(),
            announce_interval: Duration::from_secs(2),
            heartbeat: Duration::from_millis(500),
        }
    }
}

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The key is not a valid ed25519 secret.
    #[error("node key: {0}")]
    Key(String),
    /// Building the transport or behaviour failed.
    #[error("libp2p setup: {0}")]
    Setup(String),
    /// An address could not be listened on.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// The swarm task has stopped.
    #[error("the network task has stopped")]
    Stopped,
}

enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Peers(oneshot::Sender<Vec<PeerId>>),
}

/// A cloneable handle to the swarm task.
#[derive(Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    records: broadcast::Sender<CapabilityRecord>,
    peer_id: PeerId,
}

impl NetHandle {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Addresses the node listens on, each ending in `/p2p/<peer id>` (empty until bound).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::ListenAddrs(tx)).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Waits (at most `timeout`) until the node listens somewhere.
    pub async fn wait_listening(&self, timeout: Duration) -> Result<Vec<Multiaddr>, NetError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let addrs = self.listen_addrs().await?;
            if !addrs.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(addrs);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Peers with an open connection.
    pub async fn peers(&self) -> Result<Vec<PeerId>, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Peers(tx)).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Verified capability records as they arrive.
    pub fn subscribe(&self) -> broadcast::Receiver<CapabilityRecord> {
        self.records.subscribe()
    }
}

/// Starts the swarm task with the node's ed25519 secret key.
pub async fn start(
    secret: [u8; 32],
    config: NetConfig,
    announcer: Option<Announcer>,
    shutdown: CancellationToken,
) -> Result<NetHandle, NetError> {
    let keypair = identity::Keypair::ed25519_from_bytes(secret).map_err(|e| NetError::Key(e.to_string()))?;
    let peer_id = keypair.public().to_peer_id();
    let heartbeat = config.heartbeat;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| NetError::Setup(e.to_string()))?
        .with_behaviour(|key| Behaviour::new(key, heartbeat))
        .map_err(|e| NetError::Setup(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    let topic = IdentTopic::new(records::TOPIC);
    swarm.behaviour_mut().gossipsub.subscribe(&topic).map_err(|e| NetError::Setup(e.to_string()))?;
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen { addr: addr.clone(), reason: e.to_string() })?;
    }
    for addr in &config.bootstrap {
        if let Some(Protocol::P2p(peer)) = addr.iter().last() {
            swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
        }
    }
    let (commands, rx) = mpsc::channel(64);
    let (records, _) = broadcast::channel(256);
    let task = SwarmTask {
        swarm,
        topic,
        announcer,
        records: records.clone(),
        peer_id,
        budget: KeyBudget::default(),
    };
    tokio::spawn(task.run(rx, config.announce_interval, shutdown));
    Ok(NetHandle { commands, records, peer_id })
}

struct SwarmTask {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    announcer: Option<Announcer>,
    records: broadcast::Sender<CapabilityRecord>,
    peer_id: PeerId,
    budget: KeyBudget,
}

impl SwarmTask {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        interval: Duration,
        shutdown: CancellationToken,
    ) {
        let mut announce = tokio::time::interval(interval);
        let mut discover = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                _ = announce.tick() => self.announce(),
                _ = discover.tick() => {
                    // Fails harmlessly while the routing table is empty.
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                }
            }
        }
        tracing::debug!("network task stopped");
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::ListenAddrs(reply) => {
                let me = self.peer_id;
                let addrs =
                    self.swarm.listeners().map(|a| a.clone().with_p2p(me).unwrap_or_else(|a| a)).collect();
                let _ = reply.send(addrs);
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
        }
    }

    fn announce(&mut self) {
        let Some(announcer) = &self.announcer else { return };
        let data = announcer().encode_to_vec();
        match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), data) {
            Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => tracing::debug!(error = %e, "capability record not published"),
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_record(propagation_source, &message_id, &message),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => tracing::info!(%address, "p2p listening"),
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "peer connected");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "dial failed");
            }
            _ => {}
        }
    }

    /// Validates a record before gossipsub may forward it: a good one is delivered to the
    /// subscribers and forwarded; a bad one costs its relay score (an expired one, which may
    /// just have been slow, is dropped at no cost).
    fn on_record(&mut self, from: PeerId, id: &gossipsub::MessageId, message: &gossipsub::Message) {
        let acceptance = match records::verify(&message.data, message.source) {
            Ok(record) if self.budget.admit(from, &record.worker_public_key, now_unix_ms()) => {
                // No subscriber is fine: workers publish without listening.
                let _ = self.records.send(record);
                MessageAcceptance::Accept
            }
            Ok(_) => {
                tracing::debug!(%from, "capability record over the relay's budget of new keys");
                MessageAcceptance::Reject
            }
            Err(RecordError::Expired) => MessageAcceptance::Ignore,
            Err(e) => {
                tracing::debug!(error = %e, source = ?message.source, "capability record dropped");
                MessageAcceptance::Reject
            }
        };
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(id, &from, acceptance);
    }
}
