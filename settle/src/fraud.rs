//! A router's audit evidence becomes a fraud proof on the ledger: the job's ticket, the
//! receipts of the workers that ran it, and the accused worker.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio_util::sync::CancellationToken;
use wick_ledger::client::Session;
use wick_proto::v1::AuditEvidence;
use wick_staking::{Address, Amount, TxBody};

/// Reads every piece of evidence the router keeps.
pub type EvidenceSource = Arc<dyn Fn() -> Vec<AuditEvidence> + Send + Sync>;

/// How often the evidence log is read.
const POLL: Duration = Duration::from_secs(1);

/// The fraud proof for `e`, if it accuses someone.
pub fn proof(e: &AuditEvidence) -> Option<TxBody> {
    let accused: [u8; 32] = e.accused_worker.as_slice().try_into().ok()?;
    let receipts = e.audited.iter().chain(e.auditor.iter()).chain(e.tiebreakers.iter()).cloned().collect();
    Some(TxBody::AuditProof { ticket: Box::new(e.ticket.clone()?), receipts, accused: Address(accused) })
}

/// Runs until `shutdown`: reports each new piece of evidence once.
pub async fn run(mut ledger: Session, key: SigningKey, source: EvidenceSource, shutdown: CancellationToken) {
    let mut reported: HashSet<Vec<u8>> = HashSet::new();
    loop {
        for e in source() {
            let job = e.ticket.as_ref().map(|t| t.job_id.clone()).unwrap_or_default();
            if reported.contains(&job) {
                continue;
            }
            let Some(body) = proof(&e) else {
                reported.insert(job);
                continue;
            };
            match ledger.send(&key, Amount(0), body).await {
                Ok(done) => {
                    tracing::warn!(accused = %hex::encode(&e.accused_worker), height = done.height, "fraud proof committed");
                    reported.insert(job);
                }
                Err(err) if !err.is_transient() => {
                    // Final: already proven, or the ledger judges the evidence insufficient.
                    tracing::warn!(error = %err, "fraud proof refused");
                    reported.insert(job);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "fraud proof not delivered; retrying");
                    ledger.failed();
                    break;
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}
