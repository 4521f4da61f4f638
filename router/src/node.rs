//! Starting and stopping a router: identity, receipt log, peer network, audits, and the gRPC
//! and HTTP servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wick_proto::v1::inference_server::InferenceServer;

use crate::auth::Auth;
use crate::config::RouterConfig;
use crate::grpc::RouterService;
use crate::metrics::RouterMetrics;
use crate::peer_table::PeerTable;
use crate::state::RouterState;
use crate::store::{RouterStore, SYNC_INTERVAL};

/// Why a router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Key, sockets or the receipt log.
    #[error("{context}: {reason}")]
    Setup {
        /// What was being done.
        context: String,
        /// Why it failed.
        reason: String,
    },
}

fn setup(context: impl Into<String>) -> impl FnOnce(String) -> StartError {
    let context = context.into();
    move |reason| StartError::Setup { context, reason }
}

/// A started router.
pub struct Router {
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// Bound HTTP address (OpenAI API, /metrics, /health).
    pub http_addr: SocketAddr,
    /// The router's key.
    pub key: SigningKey,
    /// libp2p addresses.
    pub p2p_addrs: Vec<wick_net::Multiaddr>,
    /// Shared state.
    pub state: Arc<RouterState>,
    /// The peer network (the swarm task lives as long as this handle).
    pub net: wick_net::NetHandle,
    shutdown: CancellationToken,
    grpc: tokio::task::JoinHandle<()>,
}

impl Router {
    /// Starts every part of the router.
    pub async fn start(config: RouterConfig, shutdown: CancellationToken) -> Result<Self, StartError> {
        let key = wick_net::identity::load_or_create(&config.key_path())
            .map_err(|e| e.to_string())
            .map_err(setup(format!("router key {}", config.key_path().display())))?;
        let store = Arc::new(
            RouterStore::open(&config.db_path())
                .map_err(|e| e.to_string())
                .map_err(setup(format!("receipt log {}", config.db_path().display())))?,
        );
        let peers = Arc::new(PeerTable::new());
        let (audit_tx, audit_rx) = mpsc::channel(64);
        let state = Arc::new(RouterState {
            key: key.clone(),
            peers: peers.clone(),
            auth: Auth::new(&config.api_keys),
            config: config.clone(),
            metrics: RouterMetrics::new(),
            store: store.clone(),
            audits: audit_tx,
        });
        tokio::spawn(crate::audit::run(state.clone(), audit_rx));
        if let Some(url) = &config.ledger {
            // Nobody gets traffic until the ledger has vouched for them.
            peers.set_eligible(Default::default());
            tokio::spawn(crate::eligibility::run(url.clone(), peers.clone(), shutdown.clone()));
        }
        spawn_wal_sync(store, shutdown.clone());

        let parse = |list: &[String], what: &str| -> Result<Vec<wick_net::Multiaddr>, StartError> {
            list.iter()
                .map(|a| {
                    a.parse().map_err(|e| format!("`{a}`: {e}")).map_err(setup(format!("{what} address")))
                })
                .collect()
        };
        let net_config = wick_net::NetConfig {
            listen: parse(&config.p2p, "--p2p")?,
            bootstrap: parse(&config.bootstrap, "--bootstrap")?,
            ..wick_net::NetConfig::default()
        };
        let net = wick_net::start(key.to_bytes(), net_config, None, shutdown.clone())
            .await
            .map_err(|e| e.to_string())
            .map_err(setup("peer network"))?;
        feed_peer_table(&net, peers, shutdown.clone());
        let p2p_addrs = net
            .wait_listening(Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())
            .map_err(setup("peer network"))?;

        let grpc_listener = TcpListener::bind(config.grpc)
            .await
            .map_err(|e| e.to_string())
            .map_err(setup(format!("binding gRPC on {}", config.grpc)))?;
        let grpc_addr =
            grpc_listener.local_addr().map_err(|e| e.to_string()).map_err(setup("gRPC address"))?;
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<InferenceServer<RouterService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(wick_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| e.to_string())
            .map_err(setup("reflection"))?;
        let stop = shutdown.clone();
        let grpc = tokio::spawn({
            let service = InferenceServer::new(RouterService::new(state.clone()));
            async move {
                let served = tonic::transport::Server::builder()
                    .add_service(health_service)
                    .add_service(reflection)
                    .add_service(service)
                    .serve_with_incoming_shutdown(
                        tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true)),
                        stop.cancelled_owned(),
                    )
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "gRPC server failed");
                }
            }
        });

        let http_listener = TcpListener::bind(config.http)
            .await
            .map_err(|e| e.to_string())
            .map_err(setup(format!("binding HTTP on {}", config.http)))?;
        let http_addr =
            http_listener.local_addr().map_err(|e| e.to_string()).map_err(setup("HTTP address"))?;
        let app = crate::openai::app(state.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            // Small SSE chunks must not wait for Nagle's algorithm.
            let listener = http_listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        Ok(Self { grpc_addr, http_addr, key, p2p_addrs, state, net, shutdown, grpc })
    }

    /// Waits until the servers stop (after the shutdown token is cancelled).
    pub async fn wait(self) {
        let _ = self.grpc.await;
        let _ = self.state.store.sync();
    }

    /// Stops the router.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }
}

/// Verified capability records from the network become peer table entries; expired ones leave.
fn feed_peer_table(net: &wick_net::NetHandle, peers: Arc<PeerTable>, shutdown: CancellationToken) {
    let mut records = net.subscribe();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                r = records.recv() => match r {
                    Ok(record) => {
                        peers.upsert(record);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "capability records dropped");
                    }
                    Err(_) => return,
                },
                _ = sweep.tick() => {
                    peers.expire();
                }
            }
        }
    });
}

fn spawn_wal_sync(store: Arc<RouterStore>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = store.sync();
                    return;
                }
                _ = tick.tick() => {
                    if let Err(e) = store.sync() {
                        tracing::error!(error = %e, "receipt log sync failed");
                    }
                }
            }
        }
    });
}
