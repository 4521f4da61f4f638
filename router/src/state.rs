//! What the router's fronts (the HTTP API and the gRPC service) share.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::auth::Auth;
use crate::forward::Forwarder;
use crate::metrics::RouterMetrics;
use crate::peer_table::PeerTable;
use crate::store::RouterStore;

/// Shared router state.
pub struct RouterState {
    /// The ledger epoch as last seen, which every ticket carries: whoever follows the ledger
    /// stores it here (0 without a ledger).
    pub epoch: Arc<AtomicU64>,
    /// Known workers.
    pub peers: Arc<PeerTable>,
    /// The receipt and evidence log, for reading (settlement reads it).
    pub store: Arc<RouterStore>,
    /// Where requests go.
    pub(crate) forwarder: Arc<Forwarder>,
    /// API keys and rate limits.
    pub(crate) auth: Arc<Auth>,
    /// Request counts, latencies, live workers.
    pub(crate) metrics: Arc<RouterMetrics>,
    /// Largest HTTP request body in bytes.
    pub(crate) max_body_bytes: usize,
}
