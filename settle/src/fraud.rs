//! A router's audit evidence becomes a fraud proof on the ledger: the job's ticket, the
//! receipts of the workers that ran it, and the accused worker.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wick_ledger::client::Session;
use wick_proto::v1::AuditEvidence;
use wick_staking::{Address, TxBody};

/// How long undelivered evidence waits before the next try.
const RETRY: Duration = Duration::from_secs(1);
/// How long the loop sleeps with nothing to deliver (new evidence wakes it at once).
const IDLE: Duration = Duration::from_secs(3600);

/// The fraud proof for `e`, if it accuses someone.
pub fn proof(e: &AuditEvidence) -> Option<TxBody> {
    let accused: [u8; 32] = e.accused_worker.as_slice().try_into().ok()?;
    let receipts = e.audited.iter().chain(e.auditor.iter()).chain(e.tiebreakers.iter()).cloned().collect();
    Some(TxBody::AuditProof { ticket: Box::new(e.ticket.clone()?), receipts, accused: Address(accused) })
}

/// Runs until `shutdown`: reports each piece of evidence once, first the `backlog` kept from
/// earlier runs, then what arrives on `feed` (a piece in both is reported once, by job id).
/// Evidence that cannot be delivered now is kept and retried.
pub async fn run(
    mut ledger: Session,
    key: SigningKey,
    backlog: Vec<AuditEvidence>,
    mut feed: mpsc::Receiver<AuditEvidence>,
    shutdown: CancellationToken,
) {
    let mut reported: HashSet<Vec<u8>> = HashSet::new();
    let mut waiting: VecDeque<AuditEvidence> = backlog.into();
    loop {
        while let Some(e) = waiting.pop_front() {
            let job = e.ticket.as_ref().map(|t| t.job_id.clone()).unwrap_or_default();
            if reported.contains(&job) {
                continue;
            }
            if report(&mut ledger, &key, &e).await {
                reported.insert(job);
            } else {
                waiting.push_front(e);
                break;
            }
        }
        let retry = if waiting.is_empty() { IDLE } else { RETRY };
        tokio::select! {
            () = shutdown.cancelled() => return,
            e = feed.recv() => match e {
                Some(e) => waiting.push_back(e),
                None if waiting.is_empty() => return,
                None => {}
            },
            () = tokio::time::sleep(retry) => {}
        }
    }
}

/// Sends the fraud proof of `e`; false if it should be tried again later.
async fn report(ledger: &mut Session, key: &SigningKey, e: &AuditEvidence) -> bool {
    let Some(body) = proof(e) else { return true };
    match ledger.send(key, body).await {
        Ok(done) => {
            tracing::warn!(accused = %hex::encode(&e.accused_worker), height = done.height, "fraud proof committed");
            true
        }
        Err(err) if !err.is_transient() => {
            // Final: already proven, or the ledger judges the evidence insufficient.
            tracing::warn!(error = %err, "fraud proof refused");
            true
        }
        Err(err) => {
            tracing::warn!(error = %err, "fraud proof not delivered; retrying");
            ledger.failed();
            false
        }
    }
}
