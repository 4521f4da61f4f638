//! Starting and stopping a worker: models, engines, the gRPC server (with health and
//! reflection), and the metrics endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use wick_models::fetch::{FetchOptions, NoProgress};
use wick_models::generate::LoadOptions;
use wick_models::{Embedder, ModelKind, ModelStore, TextModel};
use wick_proto::v1::inference_server::InferenceServer;

use crate::config::WorkerConfig;
use crate::engine::{EngineConfig, EngineHandle};
use crate::metrics::Metrics;
use crate::receipt_log::ReceiptLog;
use crate::service::{InferenceService, WorkerState};
use crate::ticket_gate::TicketGate;
use crate::tokenize::TokenizerPool;

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A model could not be fetched or loaded.
    #[error("model {name}")]
    Model {
        /// Catalog name.
        name: String,
        /// The cause.
        #[source]
        source: wick_models::ModelError,
    },
    /// No model was configured.
    #[error("no model to serve: pass --model NAME (see `wick models list`)")]
    NoModels,
    /// The chat models' numeric classes are invalid or differ.
    #[error("numeric class: {0}")]
    NumericClass(String),
    /// The peer network could not start.
    #[error("peer network: {0}")]
    Net(String),
    /// An I/O failure (key file, sockets, threads).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
}

/// A started worker.
pub struct Worker {
    /// The bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// The bound metrics address, if any.
    pub metrics_addr: Option<SocketAddr>,
    /// The node key.
    pub key: SigningKey,
    /// Shared state (engines, models, metrics).
    pub state: Arc<WorkerState>,
    /// The peer network, when p2p addresses are configured.
    pub net: Option<wick_net::NetHandle>,
    /// Where other nodes can reach this one over libp2p.
    pub p2p_addrs: Vec<wick_net::Multiaddr>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Worker {
    /// Loads the models, starts the engines and binds the servers.
    pub async fn start(config: WorkerConfig, shutdown: CancellationToken) -> Result<Self, StartError> {
        if config.models.is_empty() {
            return Err(StartError::NoModels);
        }
        let key = wick_net::identity::load_or_create(&config.key_path())
            .map_err(io(format!("node key {}", config.key_path().display())))?;
        let metrics = Metrics::new();
        let log_path = config.receipt_log_path();
        let receipts =
            Arc::new(ReceiptLog::open(&log_path).map_err(io(format!("receipt log {}", log_path.display())))?);
        spawn_log_sync(receipts.clone(), shutdown.clone());
        let (chat, embedders) = load_models(&config, metrics.clone()).await?;
        let numeric_class = one_numeric_class(chat.iter().map(|e| e.model().numeric_class()))?;
        let gate = TicketGate::new(
            config.price_per_1k_tokens,
            config.max_ticket_secs,
            config.dev_unticketed,
            config.follows_ledger,
        );
        gate.remember(&receipts.between(0, u64::MAX));
        if !config.follows_ledger {
            tracing::warn!("no ledger followed: tickets from any router key are served (nothing is paid)");
        }
        let state = Arc::new(WorkerState {
            key: key.clone(),
            chat,
            embedders,
            config: config.clone(),
            metrics: metrics.clone(),
            embed_permits: Semaphore::new(2),
            receipts: Some(receipts),
            gate,
            tokenizers: TokenizerPool::start(config.tokenizer_threads, 4 * config.max_queue)
                .map_err(io("starting the tokenizer threads"))?,
            numeric_class,
        });

        let listener =
            TcpListener::bind(config.grpc).await.map_err(io(format!("binding gRPC on {}", config.grpc)))?;
        let grpc_addr = listener.local_addr().map_err(io("reading the gRPC address"))?;
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<InferenceServer<InferenceService>>().await;
        let service =
            InferenceServer::new(InferenceService::new(state.clone())).max_decoding_message_size(4 << 20);
        let stop = shutdown.clone();
        let routes = tonic::transport::Server::builder().add_service(health_service).add_service(service);
        let routes = wick_proto::reflection::add_to(routes, "wick.v1.Inference")
            .map_err(|e| StartError::Io { context: "reflection".into(), source: std::io::Error::other(e) })?;
        let server = tokio::spawn(routes.serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move { stop.cancelled().await },
        ));

        let metrics_addr = match config.metrics {
            Some(addr) => Some(serve_metrics(addr, metrics, shutdown.clone()).await?),
            None => None,
        };
        let (net, p2p_addrs) = if config.p2p.is_empty() {
            (None, Vec::new())
        } else {
            let (net, addrs) = start_net(&config, &state, grpc_addr, shutdown.clone()).await?;
            (Some(net), addrs)
        };
        Ok(Self { grpc_addr, metrics_addr, key, state, net, p2p_addrs, shutdown, server })
    }

    /// Stops accepting work, lets in-flight streams finish, and returns when the server is down.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Waits until the server stops (after the shutdown token is cancelled), then fsyncs the
    /// receipt log.
    pub async fn wait(self) {
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "gRPC server failed"),
            Err(e) => tracing::error!(error = %e, "gRPC server task panicked"),
        }
        if let Some(log) = &self.state.receipts
            && let Err(e) = log.sync().await
        {
            tracing::error!(error = &e as &dyn std::error::Error, "final receipt log sync failed");
        }
    }
}

/// Asks the receipt log's writer thread for an fsync every
/// [`SYNC_INTERVAL`](crate::receipt_log::SYNC_INTERVAL), and once more at shutdown.
fn spawn_log_sync(log: Arc<ReceiptLog>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::receipt_log::SYNC_INTERVAL);
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

fn parse_addrs(list: &[String], what: &str) -> Result<Vec<wick_net::Multiaddr>, StartError> {
    list.iter()
        .map(|a| {
            a.parse().map_err(|e| StartError::Net(format!("{what} address `{a}` is not a multiaddr: {e}")))
        })
        .collect()
}

async fn start_net(
    config: &WorkerConfig,
    state: &Arc<WorkerState>,
    grpc_addr: SocketAddr,
    shutdown: CancellationToken,
) -> Result<(wick_net::NetHandle, Vec<wick_net::Multiaddr>), StartError> {
    let interval = std::time::Duration::from_secs(config.announce_interval_secs.max(1));
    let net_config = wick_net::NetConfig {
        listen: parse_addrs(&config.p2p, "--p2p")?,
        bootstrap: parse_addrs(&config.bootstrap, "--bootstrap")?,
        announce_interval: interval,
        ..wick_net::NetConfig::default()
    };
    let endpoint = config.advertise.clone().unwrap_or_else(|| format!("http://{grpc_addr}"));
    let announcer = crate::announce::announcer(state.clone(), endpoint, interval);
    let net = wick_net::start(state.key.to_bytes(), net_config, Some(announcer), shutdown.clone())
        .await
        .map_err(|e| StartError::Net(e.to_string()))?;
    crate::announce::track_peers(&net, state.clone(), shutdown);
    let addrs = net
        .wait_listening(std::time::Duration::from_secs(10))
        .await
        .map_err(|e| StartError::Net(e.to_string()))?;
    Ok((net, addrs))
}

async fn load_models(
    config: &WorkerConfig,
    metrics: Arc<Metrics>,
) -> Result<(Vec<EngineHandle>, Vec<Arc<Embedder>>), StartError> {
    let store = ModelStore::new(&config.home);
    let mut chat = Vec::new();
    let mut embedders = Vec::new();
    for name in &config.models {
        let err = |source| StartError::Model { name: name.clone(), source };
        let options = FetchOptions { verbose: false, ..FetchOptions::default() };
        let installed = store.ensure(name, &options, &NoProgress).map_err(err)?;
        match installed.entry.kind {
            ModelKind::Chat => {
                let load = LoadOptions { max_context: config.max_context, device: config.device };
                let model = load_blocking(move || TextModel::load(&installed, &load)).await?.map_err(err)?;
                let engine_config = EngineConfig {
                    max_batch: config.max_batch,
                    max_queue: config.max_queue,
                    share_prefixes: !config.no_prefix_sharing,
                    ..EngineConfig::default()
                };
                let engine = EngineHandle::start(Arc::new(model), engine_config, metrics.clone())
                    .map_err(io("starting the engine thread"))?;
                chat.push(engine);
            }
            ModelKind::Embedding => {
                let model = load_blocking(move || Embedder::load(&installed)).await?.map_err(err)?;
                embedders.push(Arc::new(model));
            }
        }
        tracing::info!(model = name, "model loaded");
    }
    Ok((chat, embedders))
}

/// The one numeric class of a worker's chat models (the CPU class without any): its record
/// announces one class and routers refuse receipts of another, so models of two classes, or a
/// class routers would refuse, stop the worker here rather than get it excluded later.
fn one_numeric_class<'a>(classes: impl IntoIterator<Item = &'a str>) -> Result<String, StartError> {
    let mut classes = classes.into_iter();
    let first = classes.next().unwrap_or(wick_models::CPU_NUMERIC_CLASS);
    wick_proto::class::validate_class(first)
        .map_err(|e| StartError::NumericClass(format!("`{first}`: {e}")))?;
    match classes.find(|c| *c != first) {
        Some(other) => Err(StartError::NumericClass(format!(
            "chat models of classes `{first}` and `{other}` on one worker; serve them from separate workers"
        ))),
        None => Ok(first.to_string()),
    }
}

/// Runs a model load on a blocking thread (loading reads and hashes the weights).
async fn load_blocking<T: Send + 'static>(
    load: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StartError> {
    tokio::task::spawn_blocking(load)
        .await
        .map_err(|e| StartError::Io { context: "loading a model".into(), source: std::io::Error::other(e) })
}

async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<SocketAddr, StartError> {
    let listener = TcpListener::bind(addr).await.map_err(io(format!("binding metrics on {addr}")))?;
    let bound = listener.local_addr().map_err(io("reading the metrics address"))?;
    let app =
        axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                async move {
                    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.encode())
                }
            }),
        );
    tokio::spawn(async move {
        let serve =
            axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_announces_the_one_class_of_its_chat_models() {
        assert_eq!(one_numeric_class([]).ok().as_deref(), Some("cpu-v1"), "embeddings only: the CPU");
        assert_eq!(one_numeric_class(["cuda-8.6", "cuda-8.6"]).ok().as_deref(), Some("cuda-8.6"));
        assert!(matches!(one_numeric_class(["cpu-v1", "cuda-8.6"]), Err(StartError::NumericClass(_))));
        assert!(matches!(one_numeric_class(["CUDA 8.6"]), Err(StartError::NumericClass(_))));
    }
}
