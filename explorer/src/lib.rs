//! The Wick explorer: the page people open before they stake into or serve the network. It
//! follows the chain through the one ledger client (`StreamBlocks`, decoded with
//! `wick_staking::wire`) into its own in-memory [`index`], reads the ledger's current state
//! ([`ledger_state`]: several endpoints with failover), listens on the peer network for
//! workers' capability records (verified by `wick-net`, as routers verify them) into a
//! [`peers`] book, and serves a web UI with the JSON it is built from ([`http`], [`views`]),
//! including a [`receipt`] check.
//!
//! It only reads: it holds no key the ledger knows and sends no transaction. It must not know
//! how workers compute or how routers pick workers; what it shows comes from blocks, the
//! ledger's answers and signed records.

pub mod actor;
pub mod follow;
pub mod http;
pub mod index;
pub mod ledger_state;
pub mod peers;
pub mod receipt;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wick_ledger::client::Session;
use wick_net::{Multiaddr, NetConfig, NetHandle};

use crate::actor::IndexHandle;
use crate::ledger_state::LedgerReader;

/// How an explorer runs.
#[derive(Debug, Clone)]
pub struct ExplorerConfig {
    /// Ledger gRPC endpoints, tried in order.
    pub ledger: Vec<String>,
    /// HTTP listen address (port 0 picks a free port).
    pub http: SocketAddr,
    /// Join the peer network (listen for capability records).
    pub network: bool,
    /// libp2p listen addresses.
    pub p2p: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
}

/// Why the explorer could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExplorerError {
    /// No ledger endpoint was given.
    #[error("at least one ledger endpoint is needed")]
    NoLedger,
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The peer network could not start.
    #[error(transparent)]
    Net(#[from] wick_net::NetError),
    /// The HTTP server failed.
    #[error("the explorer's HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The HTTP server's task panicked.
    #[error("the explorer's HTTP server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running explorer.
pub struct Explorer {
    /// Where the web UI is, `http://ADDR`.
    pub url: String,
    /// The chain index and the peer book.
    pub index: IndexHandle,
    /// The ledger's current state.
    pub ledger: LedgerReader,
    /// The peer network, when joined.
    pub net: Option<NetHandle>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for Explorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Explorer").field("url", &self.url).field("network", &self.net.is_some()).finish()
    }
}

impl Explorer {
    /// Starts following the ledger, listening on the network and serving HTTP; everything stops
    /// at `shutdown`.
    pub async fn start(
        config: ExplorerConfig,
        shutdown: CancellationToken,
    ) -> Result<Explorer, ExplorerError> {
        if config.ledger.is_empty() {
            return Err(ExplorerError::NoLedger);
        }
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .map_err(|source| ExplorerError::Bind { addr: config.http, source })?;
        let bound =
            listener.local_addr().map_err(|source| ExplorerError::Bind { addr: config.http, source })?;
        let net = if config.network {
            let mut net_config = NetConfig { bootstrap: config.bootstrap.clone(), ..Default::default() };
            if !config.p2p.is_empty() {
                net_config.listen = config.p2p.clone();
            }
            Some(wick_net::start(rand::random(), net_config, None, shutdown.clone()).await?)
        } else {
            None
        };
        let ledger = LedgerReader::start(config.ledger.clone(), shutdown.clone());
        let (blocks_tx, blocks) = mpsc::channel(1024);
        tokio::spawn(follow::follow(Session::new(config.ledger), 1, blocks_tx, shutdown.clone()));
        let index = actor::start(blocks, net.as_ref().map(NetHandle::subscribe), shutdown.clone());
        let state = Arc::new(http::AppState { index: index.clone(), ledger: ledger.clone() });
        let app = http::app(state);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await
        });
        Ok(Explorer { url: format!("http://{bound}"), index, ledger, net, server })
    }

    /// Waits until the HTTP server stops (at shutdown, or on a failure).
    pub async fn wait(self) -> Result<(), ExplorerError> {
        self.server.await?.map_err(ExplorerError::Serve)
    }
}
