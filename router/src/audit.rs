//! Audits: a sample of finished jobs is re-executed on other workers with the same ticket
//! (model, parameters, seed), of the audited receipt's numeric class. Inference is
//! deterministic within a class, so an honest re-execution reproduces the output hash; a
//! mismatch becomes evidence, and the worker judged to have lied is excluded. Workers of
//! another class are never asked: their honest output may differ, and the ledger refuses
//! evidence that mixes classes. A third worker's re-execution breaks the tie: the one of the
//! first two that differs from it is accused. With no third worker the mismatch is kept as a dispute and nobody is
//! excluded, since the router cannot tell which of the two lied.
//!
//! Forwarding offers jobs through an [`AuditQueue`]; the [`Auditor`] runs up to
//! [`CONCURRENT_AUDITS`] at once, each re-execution bounded by a timeout so that a worker that
//! never answers holds up no other audit, keeps the evidence in the log and publishes it on the
//! evidence feed.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use tokio::sync::{Semaphore, mpsc};
use tonic::Status;
use tracing::Instrument;
use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::{AuditEvidence, GenerateRequest, JobTicket, SignedReceipt, generate_response};

use crate::forward::{JobBudget, Limits};
use crate::metrics::RouterMetrics;
use crate::peer_table::{PeerTable, WorkerKey};
use crate::receipt_check::{self, Seen};
use crate::store::LogWriter;
use crate::ticket::JobId;

/// Jobs waiting for audit before new ones are skipped.
const QUEUE: usize = 64;

/// Audits that run at once.
pub(crate) const CONCURRENT_AUDITS: usize = 4;

/// A finished job picked for audit.
#[derive(Debug, Clone)]
pub(crate) struct AuditJob {
    /// The original request.
    pub(crate) request: GenerateRequest,
    /// Its ticket, reused by every re-execution.
    pub(crate) ticket: JobTicket,
    /// The audited worker's countersigned receipt.
    pub(crate) receipt: SignedReceipt,
    /// The audited worker.
    pub(crate) worker: WorkerKey,
}

/// Where forwarding offers finished jobs; a sample of them (the configured fraction) is queued
/// for the [`Auditor`].
#[derive(Clone)]
pub(crate) struct AuditQueue {
    jobs: mpsc::Sender<AuditJob>,
    fraction: f64,
    metrics: Arc<RouterMetrics>,
}

impl AuditQueue {
    /// A queue that samples `fraction` of the jobs, and the receiving end for the [`Auditor`].
    pub(crate) fn new(fraction: f64, metrics: Arc<RouterMetrics>) -> (Self, mpsc::Receiver<AuditJob>) {
        let (jobs, rx) = mpsc::channel(QUEUE);
        (Self { jobs, fraction, metrics }, rx)
    }

    /// Draws whether the next finished job is audited.
    pub(crate) fn sample(&self) -> bool {
        rand::random::<f64>() < self.fraction
    }

    /// Queues a sampled job; skipped (and counted) when the auditor is behind.
    pub(crate) fn push(&self, job: AuditJob) {
        if self.jobs.try_send(job).is_err() {
            self.metrics.audit("skipped");
        }
    }
}

/// Re-runs queued jobs one at a time.
pub(crate) struct Auditor {
    /// Countersigns the auditors' receipts.
    pub(crate) key: SigningKey,
    /// Where auditors are picked and liars excluded.
    pub(crate) peers: Arc<PeerTable>,
    /// Counts outcomes.
    pub(crate) metrics: Arc<RouterMetrics>,
    /// Keeps the auditors' receipts and the evidence.
    pub(crate) log: LogWriter,
    /// New evidence, once it is in the log.
    pub(crate) feed: mpsc::Sender<AuditEvidence>,
    /// Time and token bounds of each re-execution.
    pub(crate) limits: Limits,
}

enum Outcome {
    Passed,
    /// A third execution sided with one of the two: the other is accused.
    Fraud(AuditEvidence),
    /// Two workers disagree and no third could decide: kept, nobody accused.
    Disputed(AuditEvidence),
    NoAuditor,
}

impl Auditor {
    /// Runs audits, [`CONCURRENT_AUDITS`] at a time, until the queue closes.
    pub(crate) async fn run(self, mut jobs: mpsc::Receiver<AuditJob>) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(CONCURRENT_AUDITS));
        while let Some(job) = jobs.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else { return };
            let job_id = JobId::of(&job.ticket).map(|j| j.to_string()).unwrap_or_default();
            let auditor = this.clone();
            tokio::spawn(
                async move {
                    auditor.audit_one(&job).await;
                    drop(permit);
                }
                .instrument(tracing::info_span!("audit", job = %job_id)),
            );
        }
    }

    async fn audit_one(&self, job: &AuditJob) {
        match self.audit(job).await {
            Ok(Outcome::Passed) => self.metrics.audit("passed"),
            Ok(Outcome::Fraud(evidence)) => {
                self.metrics.audit("fraud");
                if let Ok(accused) = <WorkerKey>::try_from(evidence.accused_worker.as_slice()) {
                    self.peers.exclude(accused, "failed an audit".into());
                }
                self.keep(evidence).await;
            }
            Ok(Outcome::Disputed(evidence)) => {
                self.metrics.audit("disputed");
                self.keep(evidence).await;
            }
            Ok(Outcome::NoAuditor) => self.metrics.audit("no_auditor"),
            Err(e) => {
                tracing::warn!(error = %e, "audit could not run");
                self.metrics.audit("error");
            }
        }
    }

    /// Logs the evidence, then publishes it.
    async fn keep(&self, evidence: AuditEvidence) {
        if let Err(e) = self.log.put_evidence(&evidence).await {
            tracing::error!(error = &e as &dyn std::error::Error, "could not keep audit evidence");
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.feed.try_send(evidence) {
            tracing::warn!("the evidence feed is full; this evidence is only in the log");
        }
    }

    async fn audit(&self, job: &AuditJob) -> Result<Outcome, Status> {
        let class = job.receipt.receipt.as_ref().map(|r| r.numeric_class.as_str()).unwrap_or_default();
        let mut used = vec![job.worker];
        let Some(auditor) = self.reexecute(job, class, &mut used).await? else {
            return Ok(Outcome::NoAuditor);
        };
        if what_it_says(&auditor) == what_it_says(&job.receipt) {
            tracing::info!("audit passed");
            return Ok(Outcome::Passed);
        }
        tracing::warn!(worker = %hex::encode(job.worker), "audit mismatch");
        let third = self.reexecute(job, class, &mut used).await?;
        let accused = match &third {
            // The auditor was the odd one out.
            Some(t) if what_it_says(t) == what_it_says(&job.receipt) => key_of(&auditor),
            Some(t) if what_it_says(t) == what_it_says(&auditor) => Some(job.worker),
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

    /// Runs the job on a worker of numeric class `class` not in `used`; returns its countersigned
    /// receipt, which is of that class.
    async fn reexecute(
        &self,
        job: &AuditJob,
        class: &str,
        used: &mut Vec<WorkerKey>,
    ) -> Result<Option<SignedReceipt>, Status> {
        // The ticket's price is fixed: only workers that ask no more can re-run it.
        let price = job.ticket.price_per_1k_tokens;
        // By the model id the job ran with, not its name: only the same weights give the same tokens.
        let model_id = hex::encode(&job.ticket.model_id);
        let Some(picked) = self.peers.pick_within(&model_id, used, price, Some(class)) else {
            return Ok(None);
        };
        used.push(picked.key);
        let mut req = job.request.clone();
        req.ticket = Some(job.ticket.clone());
        req.resume_tokens.clear();
        let mut client = InferenceClient::new(picked.channel.clone());
        let run = async {
            let budget = JobBudget::of(&req, &self.limits);
            let mut stream = client.generate(req).await?.into_inner();
            let (mut tokens, mut text) = (Vec::new(), String::new());
            while let Some(msg) = stream.message().await? {
                match msg.event {
                    Some(generate_response::Event::Delta(d)) => {
                        if !budget.admits(tokens.len(), text.len(), &d) {
                            return Err(Status::internal("the auditor streamed more than the job allows"));
                        }
                        tokens.extend(d.token_ids);
                        text.push_str(&d.text);
                    }
                    Some(generate_response::Event::Done(done)) => {
                        let signed = receipt_check::accept(
                            &self.key,
                            done.receipt,
                            &job.ticket,
                            &picked.verifying_key,
                            // The auditor announced `class` (it was picked by it): a receipt of
                            // another class is refused, so no two classes are ever compared.
                            Some(class),
                            Seen::Generation { tokens: &tokens, text: &text },
                        )
                        .map_err(|e| Status::internal(e.to_string()))?;
                        // The auditor did real work: it is attested like any other job.
                        self.log.keep_receipt(&signed).await;
                        return Ok(signed);
                    }
                    None => {}
                }
            }
            Err(Status::unavailable("the audit stream ended without a result"))
        };
        let result = tokio::time::timeout(self.limits.request_timeout, run)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("the auditor did not finish in time")));
        self.peers.release(&picked.key);
        result.map(Some)
    }
}

/// What a receipt says about the job's output: audits compare whole receipts (the output hash,
/// which covers the token ids and the text, and the tokens in and out), as the ledger does.
fn what_it_says(r: &SignedReceipt) -> Option<(Vec<u8>, u32, u32)> {
    r.receipt.as_ref().map(|r| (r.output_hash.clone(), r.tokens_in, r.tokens_out))
}

fn key_of(r: &SignedReceipt) -> Option<WorkerKey> {
    r.receipt.as_ref()?.worker_public_key.as_slice().try_into().ok()
}
