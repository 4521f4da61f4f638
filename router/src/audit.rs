//! Audits: a sample of finished jobs is re-executed on other workers with the same ticket
//! (model, parameters, seed). Inference is deterministic, so an honest re-execution reproduces
//! the output hash; a mismatch becomes evidence, and the worker judged to have lied is
//! excluded. A third worker's re-execution breaks the tie: the one of the first two that differs
//! from it is accused. With no third worker the mismatch is kept as a dispute and nobody is
//! excluded, since the router cannot tell which of the two lied.

use std::sync::Arc;

use tokio::sync::mpsc;
use tonic::Status;
use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::{AuditEvidence, GenerateRequest, JobTicket, SignedReceipt, generate_response};

use crate::forward::accept_receipt;
use crate::peer_table::WorkerKey;
use crate::state::RouterState;

/// A finished job picked for audit.
#[derive(Debug, Clone)]
pub struct AuditJob {
    /// The original request (ticket included).
    pub request: GenerateRequest,
    /// Its ticket.
    pub ticket: JobTicket,
    /// The audited worker's countersigned receipt.
    pub receipt: SignedReceipt,
    /// The audited worker.
    pub worker: WorkerKey,
}

/// Runs audits one at a time until the channel closes.
pub async fn run(state: Arc<RouterState>, mut jobs: mpsc::Receiver<AuditJob>) {
    while let Some(job) = jobs.recv().await {
        match audit(&state, &job).await {
            Ok(Outcome::Passed) => state.metrics.audit("passed"),
            Ok(Outcome::Fraud(evidence)) => {
                state.metrics.audit("fraud");
                if let Ok(accused) = <WorkerKey>::try_from(evidence.accused_worker.as_slice()) {
                    state.peers.exclude(accused, "failed an audit".into());
                }
                if let Err(e) = state.store.put_evidence(&evidence) {
                    tracing::error!(error = %e, "could not keep audit evidence");
                }
            }
            Ok(Outcome::Disputed(evidence)) => {
                state.metrics.audit("disputed");
                if let Err(e) = state.store.put_evidence(&evidence) {
                    tracing::error!(error = %e, "could not keep audit evidence");
                }
            }
            Ok(Outcome::NoAuditor) => state.metrics.audit("no_auditor"),
            Err(e) => {
                tracing::warn!(error = %e, "audit could not run");
                state.metrics.audit("error");
            }
        }
    }
}

enum Outcome {
    Passed,
    /// A third execution sided with one of the two: the other is accused.
    Fraud(AuditEvidence),
    /// Two workers disagree and no third could decide: kept, nobody accused.
    Disputed(AuditEvidence),
    NoAuditor,
}

fn output_hash(r: &SignedReceipt) -> Vec<u8> {
    r.receipt.as_ref().map(|r| r.output_hash.clone()).unwrap_or_default()
}

async fn audit(state: &Arc<RouterState>, job: &AuditJob) -> Result<Outcome, Status> {
    let mut used = vec![job.worker];
    let Some(auditor) = reexecute(state, job, &mut used).await? else { return Ok(Outcome::NoAuditor) };
    if output_hash(&auditor) == output_hash(&job.receipt) {
        return Ok(Outcome::Passed);
    }
    tracing::warn!(worker = %hex::encode(job.worker), "audit mismatch");
    let third = reexecute(state, job, &mut used).await?;
    let accused = match &third {
        // The auditor was the odd one out.
        Some(t) if output_hash(t) == output_hash(&job.receipt) => key_of(&auditor),
        Some(t) if output_hash(t) == output_hash(&auditor) => Some(job.worker),
        // All three differ, or nobody could decide.
        _ => None,
    };
    let evidence = AuditEvidence {
        ticket: Some(job.ticket.clone()),
        audited: Some(job.receipt.clone()),
        auditor: Some(auditor),
        tiebreakers: third.into_iter().collect(),
        accused_worker: accused.map(|k| k.to_vec()).unwrap_or_default(),
        detected_unix_ms: wick_proto::time::now_unix_ms(),
    };
    Ok(if accused.is_some() { Outcome::Fraud(evidence) } else { Outcome::Disputed(evidence) })
}

fn key_of(r: &SignedReceipt) -> Option<WorkerKey> {
    r.receipt.as_ref()?.worker_public_key.as_slice().try_into().ok()
}

/// Runs the job on a worker not in `used`; returns its countersigned receipt.
async fn reexecute(
    state: &Arc<RouterState>,
    job: &AuditJob,
    used: &mut Vec<WorkerKey>,
) -> Result<Option<SignedReceipt>, Status> {
    let Some(picked) = state.peers.pick(&job.request.model, used) else { return Ok(None) };
    used.push(picked.key);
    let mut req = job.request.clone();
    req.ticket = Some(job.ticket.clone());
    req.resume_tokens.clear();
    let mut client = InferenceClient::new(picked.channel.clone());
    let result = async {
        let mut stream = client.generate(req).await?.into_inner();
        let mut tokens = Vec::new();
        while let Some(msg) = stream.message().await? {
            match msg.event {
                Some(generate_response::Event::Delta(d)) => tokens.extend(d.token_ids),
                Some(generate_response::Event::Done(done)) => {
                    let signed = accept_receipt(state, done.receipt, &job.ticket, &picked.key, Some(&tokens))
                        .map_err(Status::internal)?;
                    // The auditor did real work: it is attested like any other job.
                    state.record_receipt(&signed);
                    return Ok(signed);
                }
                None => {}
            }
        }
        Err(Status::unavailable("the audit stream ended without a result"))
    }
    .await;
    state.peers.release(&picked.key);
    result.map(Some)
}
