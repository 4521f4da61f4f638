//! What every part of the router shares.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use wick_proto::v1::{GenerateRequest, JobTicket, SignedReceipt};

use crate::audit::AuditJob;
use crate::auth::Auth;
use crate::config::RouterConfig;
use crate::metrics::RouterMetrics;
use crate::peer_table::{PeerTable, WorkerKey};
use crate::store::RouterStore;

/// Shared router state.
pub struct RouterState {
    /// Signs tickets and countersignatures.
    pub key: SigningKey,
    /// Known workers.
    pub peers: Arc<PeerTable>,
    /// Options.
    pub config: RouterConfig,
    /// Metrics.
    pub metrics: Arc<RouterMetrics>,
    /// API keys and rate limits.
    pub auth: Auth,
    /// Durable receipt and evidence log.
    pub store: Arc<RouterStore>,
    /// Jobs picked for audit.
    pub audits: mpsc::Sender<AuditJob>,
}

impl RouterState {
    /// Logs a countersigned receipt durably.
    pub fn record_receipt(&self, signed: &SignedReceipt) {
        if let Err(e) = self.store.put_receipt(signed) {
            tracing::error!(error = %e, "could not log a receipt");
        }
    }

    /// Queues the job for re-execution with probability `audit_fraction`.
    pub fn maybe_audit(
        &self,
        request: GenerateRequest,
        ticket: JobTicket,
        receipt: SignedReceipt,
        worker: WorkerKey,
    ) {
        if rand::random::<f64>() >= self.config.audit_fraction {
            return;
        }
        let job = AuditJob { request, ticket, receipt, worker };
        if self.audits.try_send(job).is_err() {
            self.metrics.audit("skipped");
        }
    }
}
