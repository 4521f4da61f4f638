//! Starting a consensus node: the engine's actors (network, WAL, sync, consensus) with Wick's
//! context and codec, and the loop that answers them with an [`Application`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ed25519_consensus::SigningKey;
use malachitebft_app_channel::app::config::{ConsensusConfig, NodeConfig, P2pConfig, ValueSyncConfig};
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::app::types::codec::Codec as _;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, EngineHandle, NetworkContext, NetworkIdentity, RequestContext,
    Signer as _, SyncContext, WalContext,
};
use malachitebft_core_types::LinearTimeouts;
use malachitebft_engine::network::Multiaddr;
use tokio::task::JoinHandle;

use crate::application::Application;
use crate::codec::WickCodec;
use crate::context::{Address, WickContext};
use crate::run::{Driver, run};
use crate::signing::Keys;

/// How a consensus node runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Name in logs.
    pub moniker: String,
    /// The chain (every signature names it).
    pub chain_id: String,
    /// Where the node listens for its peers (TCP).
    pub listen: SocketAddr,
    /// Peers it keeps connections to.
    pub peers: Vec<SocketAddr>,
    /// Its folder (the engine's write-ahead log lives in `wal/`).
    pub home: PathBuf,
    /// Shortest time between two heights: the engine waits this long after a decision
    /// (gathering late precommits) before the next height starts.
    pub block_interval: Duration,
    /// Round timeouts.
    pub timeouts: LinearTimeouts,
    /// Whether it votes (a validator) or only follows (a full node).
    pub validator: bool,
    /// Test-only misbehaviour: besides each vote it casts, this validator signs and sends a
    /// conflicting one (the engine's Byzantine proxy), so the evidence path can be tested.
    #[cfg(feature = "byzantine")]
    pub equivocate: bool,
}

impl Config {
    /// A validator listening on `listen`, with timeouts for a LAN or one machine.
    pub fn new(moniker: &str, chain_id: &str, listen: SocketAddr, home: PathBuf) -> Self {
        Config {
            moniker: moniker.to_string(),
            chain_id: chain_id.to_string(),
            listen,
            peers: Vec::new(),
            home,
            block_interval: Duration::from_millis(100),
            timeouts: LinearTimeouts {
                propose: Duration::from_millis(1_000),
                propose_delta: Duration::from_millis(500),
                prevote: Duration::from_millis(500),
                prevote_delta: Duration::from_millis(250),
                precommit: Duration::from_millis(500),
                precommit_delta: Duration::from_millis(250),
                rebroadcast: Duration::from_millis(1_500),
                max_timeout: Duration::from_secs(10),
            },
            validator: true,
            #[cfg(feature = "byzantine")]
            equivocate: false,
        }
    }
}

fn tcp(addr: SocketAddr) -> Multiaddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) => format!("/ip4/{ip}"),
        std::net::IpAddr::V6(ip) => format!("/ip6/{ip}"),
    };
    // A socket address always makes a valid multiaddr.
    format!("{ip}/tcp/{}", addr.port()).parse().unwrap_or_else(|_| Multiaddr::empty())
}

/// The engine's view of [`Config`].
#[derive(Clone, Debug)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

impl EngineConfig {
    fn new(config: &Config) -> Self {
        let p2p = P2pConfig {
            listen_addr: tcp(config.listen),
            persistent_peers: config.peers.iter().copied().map(tcp).collect(),
            // Peers are dialled by address; inbound ones arrive from ephemeral ports, so an
            // allow-list by address would refuse them. Every message is signed anyway.
            persistent_peers_only: false,
            ..P2pConfig::default()
        };
        let consensus = ConsensusConfig { enabled: true, p2p, ..ConsensusConfig::default() };
        let value_sync = ValueSyncConfig {
            status_update_interval: Duration::from_millis(500),
            request_timeout: Duration::from_secs(5),
            ..ValueSyncConfig::default()
        };
        EngineConfig { moniker: config.moniker.clone(), consensus, value_sync }
    }
}

/// A running consensus node.
pub struct Node {
    /// The engine's actors.
    pub engine: EngineHandle,
    /// The loop that answers the engine (ends with an error if the engine stops).
    pub app: JoinHandle<eyre::Result<()>>,
    /// This node's address.
    pub address: Address,
}

impl Node {
    /// Stops the engine and the loop.
    pub async fn stop(self) {
        let _ = self.engine.actor.kill_and_wait(None).await;
        self.engine.handle.abort();
        self.app.abort();
    }
}

/// The engine's Byzantine proxy around the real network: every vote goes out twice, the
/// second for another block (or for one when the first was nil).
#[cfg(feature = "byzantine")]
fn byzantine(
    identity: NetworkIdentity,
    keys: &Keys,
    address: Address,
) -> malachitebft_app_channel::ByzantineContext<WickContext, WickCodec> {
    use crate::context::BlockHash;
    use malachitebft_engine_byzantine::{ByzantineConfig, Trigger};
    malachitebft_app_channel::ByzantineContext {
        identity,
        codec: WickCodec,
        config: ByzantineConfig::default().with_equivocate_votes(Trigger::Always),
        signer: Box::new(keys.clone()),
        address,
        conflicting_value_fn: None,
        conflicting_vote_value_fn: Some(Box::new(|id: Option<&BlockHash>| {
            let mut other = id.map_or([0xee; 32], |h| h.0);
            other[0] ^= 1;
            BlockHash(other)
        })),
    }
}

/// Starts a node that replicates `app` with validator key `key`.
pub async fn start<A: Application>(config: Config, key: SigningKey, app: A) -> eyre::Result<Node> {
    let keys = Keys::new(&config.chain_id, key.clone());
    let address = Address(keys.public());
    // The network peer's key is the validator key: one identity to manage, and its proof
    // below binds the two anyway.
    let keypair = Keypair::ed25519_from_bytes(key.to_bytes())
        .map_err(|e| eyre::eyre!("the validator key is not a network key: {e}"))?;
    let identity = if config.validator {
        let peer_id = keypair.public().to_peer_id().to_bytes();
        let proof = keys
            .sign_validator_proof(keys.public().to_vec(), peer_id)
            .await
            .map_err(|e| eyre::eyre!("signing the validator proof: {e:?}"))?;
        let proof = WickCodec.encode(&proof)?;
        NetworkIdentity::new_validator(config.moniker.clone(), keypair, address.to_string(), proof)
    } else {
        NetworkIdentity::new(config.moniker.clone(), keypair, None)
    };
    let consensus = if config.validator {
        ConsensusContext::new_validator(address, Box::new(keys.verifier()), Box::new(keys.clone()))
    } else {
        ConsensusContext::new_full_node(address, Box::new(keys.verifier()))
    };
    std::fs::create_dir_all(config.home.join("wal"))?;
    let builder = EngineBuilder::new(WickContext, EngineConfig::new(&config))
        .with_default_wal(WalContext::new(config.home.join("wal").join("consensus.wal"), WickCodec));
    #[cfg(feature = "byzantine")]
    if config.equivocate {
        let (channels, engine) = builder
            .with_byzantine_network(byzantine(identity, &keys, address))
            .await?
            .with_default_consensus(consensus)
            .with_default_sync(SyncContext::new(WickCodec))
            .with_default_request(RequestContext::new(128))
            .build()
            .await?;
        let app = tokio::spawn(run(Driver::new(config, keys, app), channels));
        return Ok(Node { engine, app, address });
    }
    let (channels, engine) = builder
        .with_default_network(NetworkContext::new(identity, WickCodec))
        .with_default_consensus(consensus)
        .with_default_sync(SyncContext::new(WickCodec))
        .with_default_request(RequestContext::new(128))
        .build()
        .await?;
    let driver = Driver::new(config, keys, app);
    let app = tokio::spawn(run(driver, channels));
    Ok(Node { engine, app, address })
}
