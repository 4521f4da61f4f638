//! Starting and stopping a router: identity, receipt log, peer network, audits, and the gRPC
//! and HTTP servers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::serve::ListenerExt;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wick_proto::v1::AuditEvidence;
use wick_proto::v1::inference_server::InferenceServer;

use crate::audit::{AuditQueue, Auditor};
use crate::auth::Auth;
use crate::config::RouterConfig;
use crate::forward::{Forwarder, Limits};
use crate::grpc::RouterService;
use crate::metrics::RouterMetrics;
use crate::peer_table::PeerTable;
use crate::state::RouterState;
use crate::store::{LogWriter, RouterStore, SYNC_INTERVAL, StoreError};

/// Evidence published and not yet read before new evidence is only kept in the log.
const EVIDENCE_FEED: usize = 1024;

/// Why a router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The node key could not be read or created.
    #[error("router key {}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The receipt log could not be opened.
    #[error("receipt log {}", path.display())]
    Store {
        /// The log's folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: StoreError,
    },
    /// A configured libp2p address does not parse.
    #[error("{flag} address `{addr}`")]
    Multiaddr {
        /// Which list it is in (`--p2p`, `--bootstrap`).
        flag: &'static str,
        /// The address as written.
        addr: String,
        /// What is wrong with it.
        #[source]
        source: <wick_net::Multiaddr as FromStr>::Err,
    },
    /// The peer network did not start or listen.
    #[error("peer network")]
    Net(#[source] wick_net::NetError),
    /// A server socket could not be bound or read back.
    #[error("binding {what} on {addr}")]
    Bind {
        /// `gRPC` or `HTTP`.
        what: &'static str,
        /// The configured address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC reflection service could not be built.
    #[error("reflection")]
    Reflection(#[source] wick_proto::reflection::Error),
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
    evidence_feed: Option<mpsc::Receiver<AuditEvidence>>,
    log: LogWriter,
    shutdown: CancellationToken,
    servers: [JoinHandle<()>; 2],
}

impl Router {
    /// Starts every part of the router.
    pub async fn start(config: RouterConfig, shutdown: CancellationToken) -> Result<Self, StartError> {
        let key_path = config.key_path();
        let key = wick_net::identity::load_or_create(&key_path)
            .map_err(|source| StartError::Key { path: key_path, source })?;
        let db_path = config.db_path();
        let (store, log) =
            RouterStore::open(&db_path).map_err(|source| StartError::Store { path: db_path, source })?;
        spawn_log_sync(log.clone(), shutdown.clone());
        let peers = Arc::new(PeerTable::new());
        let metrics = RouterMetrics::new();
        let (audits, audit_jobs) = AuditQueue::new(config.audit_fraction, metrics.clone());
        let (feed, evidence_feed) = mpsc::channel(EVIDENCE_FEED);
        let auditor = Auditor {
            key: key.clone(),
            peers: peers.clone(),
            metrics: metrics.clone(),
            log: log.clone(),
            feed,
            limits: Limits::from(&config),
        };
        tokio::spawn(auditor.run(audit_jobs));
        let epoch = Arc::new(AtomicU64::new(0));
        let forwarder = Forwarder {
            key: key.clone(),
            peers: peers.clone(),
            metrics: metrics.clone(),
            log: log.clone(),
            audits,
            limits: Limits::from(&config),
            epoch: epoch.clone(),
        };
        let state = Arc::new(RouterState {
            epoch,
            peers: peers.clone(),
            store: Arc::new(store),
            forwarder: Arc::new(forwarder),
            auth: Arc::new(Auth::new(&config.api_keys)),
            metrics,
            max_body_bytes: config.max_body_bytes,
        });
        if config.ledger.is_some() {
            // Nobody gets traffic until the ledger has vouched for them (the `wick` binary runs
            // the check, `wick_settle::eligibility`, and feeds the result to the peer table).
            peers.set_eligible(Default::default());
        }
        let (net, p2p_addrs) = start_net(&config, &key, peers, shutdown.clone()).await?;
        let (grpc_addr, grpc) = serve_grpc(config.grpc, state.clone(), shutdown.clone()).await?;
        let (http_addr, http) = serve_http(config.http, state.clone(), shutdown.clone()).await?;
        let evidence_feed = Some(evidence_feed);
        let servers = [grpc, http];
        Ok(Self { grpc_addr, http_addr, key, p2p_addrs, state, net, evidence_feed, log, shutdown, servers })
    }

    /// New audit evidence, each piece once it is in the log (the first call only). Evidence from
    /// before the call waits in the feed; evidence from earlier runs is only in the log
    /// ([`RouterStore::evidence`]): read the log after taking the feed, and expect a piece in
    /// both (same ticket `job_id`).
    pub fn take_evidence_feed(&mut self) -> Option<mpsc::Receiver<AuditEvidence>> {
        self.evidence_feed.take()
    }

    /// Waits until the servers stop (after the shutdown token is cancelled), then fsyncs the
    /// receipt log.
    pub async fn wait(self) {
        for server in self.servers {
            let _ = server.await;
        }
        if let Err(e) = self.log.sync().await {
            tracing::error!(error = &e as &dyn std::error::Error, "final receipt log sync failed");
        }
    }

    /// Stops the router.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }
}

fn parse_addrs(list: &[String], flag: &'static str) -> Result<Vec<wick_net::Multiaddr>, StartError> {
    list.iter()
        .map(|a| a.parse().map_err(|source| StartError::Multiaddr { flag, addr: a.clone(), source }))
        .collect()
}

/// Joins the peer network; verified capability records from it become peer table entries.
async fn start_net(
    config: &RouterConfig,
    key: &SigningKey,
    peers: Arc<PeerTable>,
    shutdown: CancellationToken,
) -> Result<(wick_net::NetHandle, Vec<wick_net::Multiaddr>), StartError> {
    let net_config = wick_net::NetConfig {
        listen: parse_addrs(&config.p2p, "--p2p")?,
        bootstrap: parse_addrs(&config.bootstrap, "--bootstrap")?,
        ..wick_net::NetConfig::default()
    };
    let net =
        wick_net::start(key.to_bytes(), net_config, None, shutdown.clone()).await.map_err(StartError::Net)?;
    feed_peer_table(&net, peers, shutdown);
    let addrs = net.wait_listening(Duration::from_secs(10)).await.map_err(StartError::Net)?;
    Ok((net, addrs))
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_error = |source| StartError::Bind { what, addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

/// The `wick.v1.Inference` service (behind the API-key interceptor), health and reflection.
async fn serve_grpc(
    addr: SocketAddr,
    state: Arc<RouterState>,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let (listener, bound) = bind("gRPC", addr).await?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<InferenceServer<RouterService>>().await;
    let auth = state.auth.clone();
    let service =
        InferenceServer::with_interceptor(RouterService::new(state), move |req| auth.intercept(req));
    let routes = tonic::transport::Server::builder().add_service(health_service).add_service(service);
    let routes =
        wick_proto::reflection::add_to(routes, "wick.v1.Inference").map_err(StartError::Reflection)?;
    let server = tokio::spawn(async move {
        let served = routes
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown.cancelled_owned(),
            )
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    Ok((bound, server))
}

/// The OpenAI-compatible API, /metrics and /health.
async fn serve_http(
    addr: SocketAddr,
    state: Arc<RouterState>,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let (listener, bound) = bind("HTTP", addr).await?;
    let app = crate::http::app(state);
    let server = tokio::spawn(async move {
        // Small SSE chunks must not wait for Nagle's algorithm.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok((bound, server))
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

/// Asks the log's writer thread for an fsync every [`SYNC_INTERVAL`], and once more at shutdown.
fn spawn_log_sync(log: LogWriter, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    log.request_sync();
                    return;
                }
                _ = tick.tick() => log.request_sync(),
            }
        }
    });
}
