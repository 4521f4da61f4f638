//! Forwarding one request to workers: the seam between the router's fronts (HTTP and gRPC)
//! and the workers. [`Forwarder`] signs the job's ticket, retries on another worker before the
//! first token, resumes mid-stream on another worker of the same numeric class after it, checks
//! and countersigns the receipt at the end, logs it and offers the job for audit. The fronts
//! call nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use tonic::{Code, Status};
use tracing::Instrument;
use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::{
    EmbedRequest, EmbedResponse, GenerateDone, GenerateRequest, GenerateResponse, JobTicket, SignedReceipt,
    TokenDelta, generate_response,
};

use crate::audit::{AuditJob, AuditQueue};
use crate::config::RouterConfig;
use crate::metrics::RouterMetrics;
use crate::peer_table::{PeerTable, Picked, WorkerKey};
use crate::receipt_check::{self, Seen};
use crate::store::LogWriter;
use crate::ticket::{self, JobId, Terms, Ticketed};

#[cfg(test)]
mod hostile;
#[cfg(test)]
mod tests;

/// What the client receives, in order: deltas, then one final message or an error.
pub(crate) type Outbox = mpsc::Sender<Result<GenerateResponse, Status>>;

/// The receiving end of an [`Outbox`]: one generation's events.
pub(crate) type Generation = mpsc::Receiver<Result<GenerateResponse, Status>>;

/// How many workers a request may try and how long it may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Workers tried per request.
    pub(crate) max_attempts: usize,
    /// Whole-request time limit; also the lifetime of its ticket.
    pub(crate) request_timeout: Duration,
    /// Time a worker has to accept a call.
    pub(crate) connect_timeout: Duration,
    /// Highest price per 1000 tokens paid to a worker.
    pub(crate) max_price: u64,
    /// Longest silence of a worker in the middle of a job.
    pub(crate) idle_timeout: Duration,
    /// Most tokens of any job (and of one that sets no `max_tokens`).
    pub(crate) max_job_tokens: u32,
}

impl From<&RouterConfig> for Limits {
    fn from(c: &RouterConfig) -> Self {
        Self {
            max_attempts: c.max_attempts,
            request_timeout: c.request_timeout,
            connect_timeout: c.connect_timeout,
            max_price: c.max_price_per_1k_tokens,
            idle_timeout: c.idle_timeout,
            max_job_tokens: c.max_job_tokens,
        }
    }
}

/// Longest text a token may decode to, in bytes (the longest tokens of the catalog's models are
/// under 64 bytes): a worker's text beyond `tokens × this` is garbage.
const MAX_BYTES_PER_TOKEN: usize = 128;

/// What an honest worker can send for one job: at most `max_tokens` tokens (the request's, capped
/// by the router's), their text, and their log probabilities.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobBudget {
    tokens: usize,
    top_logprobs: usize,
}

impl JobBudget {
    /// The budget of `req` under the router's limits.
    pub(crate) fn of(req: &GenerateRequest, limits: &Limits) -> Self {
        let p = req.params.clone().unwrap_or_default();
        let cap = limits.max_job_tokens;
        let tokens = p.max_tokens.map_or(cap, |m| m.min(cap)) as usize;
        Self { tokens, top_logprobs: p.top_logprobs as usize }
    }

    /// Whether `delta`, after `tokens` and `text_bytes` so far, stays within the budget.
    pub(crate) fn admits(&self, tokens: usize, text_bytes: usize, delta: &TokenDelta) -> bool {
        let tokens = tokens.saturating_add(delta.token_ids.len());
        let bytes = text_bytes.saturating_add(delta.text.len());
        tokens <= self.tokens
            && bytes <= self.tokens.saturating_mul(MAX_BYTES_PER_TOKEN)
            && delta.logprobs.len() <= delta.token_ids.len()
            && delta
                .logprobs
                .iter()
                .all(|l| l.top.len() <= self.top_logprobs && l.token.len() <= MAX_BYTES_PER_TOKEN)
    }
}

/// Everything forwarding needs, owned in one place.
pub(crate) struct Forwarder {
    /// Signs tickets and countersignatures.
    pub(crate) key: SigningKey,
    /// Where workers are picked.
    pub(crate) peers: Arc<PeerTable>,
    /// Counts jobs routed and retried.
    pub(crate) metrics: Arc<RouterMetrics>,
    /// Logs countersigned receipts.
    pub(crate) log: LogWriter,
    /// Takes a sample of finished jobs for audit.
    pub(crate) audits: AuditQueue,
    /// Attempts and timeouts.
    pub(crate) limits: Limits,
    /// The ledger epoch as last seen (set by whoever follows the ledger; 0 without one): every
    /// ticket carries it.
    pub(crate) epoch: Arc<AtomicU64>,
}

fn no_worker(model: &str) -> Status {
    Status::unavailable(format!("no live worker serves model `{model}`; retry when one joins the network"))
}

/// Whether a failed worker call is worth retrying elsewhere.
fn retryable(status: &Status) -> bool {
    !matches!(
        status.code(),
        Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition | Code::OutOfRange
    )
}

/// The client's error once every attempt of a generation failed.
fn gave_up(model: &str, last_error: Option<Status>) -> Status {
    match last_error {
        Some(s) if s.code() == Code::ResourceExhausted => {
            Status::resource_exhausted(format!("every worker serving `{model}` is busy; retry later"))
        }
        Some(s) => Status::unavailable(format!("workers serving `{model}` failed: {}", s.message())),
        None => no_worker(model),
    }
}

enum Failure {
    ClientGone,
    Worker(Status),
    /// The worker broke the protocol (more tokens or text than the job allows): excluded.
    Lied(String),
}

/// What the client was sent so far, over every attempt: the receipt must cover exactly this.
#[derive(Default)]
struct Streamed {
    tokens: Vec<u32>,
    text: String,
    /// The numeric class of the worker that sent the first token. Only a worker of this class
    /// may continue the job: another device would go on from other bits than the receipt's
    /// first tokens. Before the first token any class may take it.
    class: Option<String>,
}

impl Forwarder {
    /// Starts job `job` on a task of its own (in the caller's tracing span) and returns its
    /// events.
    pub(crate) fn stream(self: &Arc<Self>, job: JobId, req: GenerateRequest) -> Generation {
        let (tx, rx) = mpsc::channel(64);
        let this = self.clone();
        tokio::spawn(async move { this.generate(job, req, tx).await }.in_current_span());
        rx
    }

    /// Runs generation `job` for a client, failing over between workers, and sends everything
    /// to `out`. Returns the countersigned receipt when the job completed. The whole job is
    /// bounded by the request timeout.
    pub(crate) async fn generate(
        &self,
        job: JobId,
        req: GenerateRequest,
        out: Outbox,
    ) -> Option<SignedReceipt> {
        self.generate_on(job, req, out, None).await
    }

    /// [`Forwarder::generate`], trying the worker `prefer` first when it is live (the choices of
    /// one request go to one worker, which computes their shared prompt once).
    pub(crate) async fn generate_on(
        &self,
        job: JobId,
        req: GenerateRequest,
        out: Outbox,
        prefer: Option<WorkerKey>,
    ) -> Option<SignedReceipt> {
        let timeout = self.limits.request_timeout;
        let bounded = tokio::time::timeout(timeout, self.attempts(job, req, out.clone(), prefer));
        match bounded.await {
            Ok(receipt) => receipt,
            Err(_) => {
                let _ = out
                    .send(Err(Status::deadline_exceeded("the job ran past the router's request timeout")))
                    .await;
                None
            }
        }
    }

    async fn attempts(
        &self,
        job: JobId,
        mut req: GenerateRequest,
        out: Outbox,
        prefer: Option<WorkerKey>,
    ) -> Option<SignedReceipt> {
        let model = req.model.clone();
        let budget = JobBudget::of(&req, &self.limits);
        let mut tried: Vec<WorkerKey> = Vec::new();
        let mut seen = Streamed::default();
        let mut last_error = None;
        for attempt in 0..self.limits.max_attempts {
            let prefer = if attempt == 0 { prefer } else { None };
            let Some(picked) = self.pick_next(&model, &tried, &seen, prefer) else { break };
            tried.push(picked.key);
            // Each attempt has its own ticket (the worker's price) and so its own job id.
            let attempt_job = if attempt == 0 { job } else { JobId::random() };
            req.ticket = None;
            req.ticket = Some(self.ticket(attempt_job, &picked, Ticketed::Generation(&req)));
            req.resume_tokens.clone_from(&seen.tokens);
            self.note_attempt(attempt, &picked, attempt_job, seen.tokens.len());
            let result = self.stream_from(&picked, req.clone(), &mut seen, budget, &out).await;
            self.peers.release(&picked.key);
            match result {
                Ok(done) => {
                    self.peers.mark_ok(&picked.key);
                    return self.finish(done, &picked, &seen, req, &out).await;
                }
                Err(Failure::ClientGone) => return None,
                Err(Failure::Lied(reason)) => {
                    tracing::warn!(endpoint = %picked.endpoint, %reason, "worker broke the protocol; excluded");
                    self.peers.exclude(picked.key, reason.clone());
                    last_error = Some(Status::unavailable(reason));
                }
                Err(Failure::Worker(status)) => {
                    if !retryable(&status) {
                        let _ = out.send(Err(status)).await;
                        return None;
                    }
                    if status.code() != Code::ResourceExhausted {
                        self.peers.mark_failed(&picked.key);
                    }
                    tracing::warn!(endpoint = %picked.endpoint, error = %status.message(), "worker failed");
                    last_error = Some(status);
                }
            }
        }
        let _ = out.send(Err(gave_up(&model, last_error))).await;
        None
    }

    /// The worker for the next attempt: not tried yet, within the router's price, and once
    /// tokens were streamed of the class that computed them.
    fn pick_next(
        &self,
        model: &str,
        tried: &[WorkerKey],
        seen: &Streamed,
        prefer: Option<WorkerKey>,
    ) -> Option<Picked> {
        let class = seen.class.as_deref();
        let picked = self.peers.pick_preferring(model, tried, self.limits.max_price, class, prefer.as_ref());
        if let (None, Some(class)) = (&picked, class) {
            tracing::warn!(class, "no other worker of the streamed tokens' numeric class can resume the job");
        }
        picked
    }

    /// A ticket for `job` on `picked`, at its price, in the current epoch.
    fn ticket(&self, job: JobId, picked: &Picked, what: Ticketed<'_>) -> JobTicket {
        let terms = Terms {
            price_per_1k_tokens: picked.price_per_1k_tokens,
            epoch: self.epoch.load(Ordering::Relaxed),
            lifetime: self.limits.request_timeout,
        };
        ticket::sign(&self.key, job, &picked.model_id, what, terms)
    }

    fn note_attempt(&self, attempt: usize, picked: &Picked, ticket_job: JobId, resumed: usize) {
        if attempt > 0 {
            let kind = if resumed == 0 { "retry" } else { "failover" };
            self.metrics.retry(kind);
            tracing::info!(endpoint = %picked.endpoint, resumed, kind, ticket_job = %ticket_job, "re-sending the job");
        } else {
            tracing::info!(endpoint = %picked.endpoint, "sending the job");
        }
        self.metrics.routed(&picked.endpoint);
    }

    /// Streams one attempt to the client; `seen` accumulates every token and text seen so far.
    async fn stream_from(
        &self,
        picked: &Picked,
        req: GenerateRequest,
        seen: &mut Streamed,
        budget: JobBudget,
        out: &Outbox,
    ) -> Result<GenerateDone, Failure> {
        let mut client = InferenceClient::new(picked.channel.clone());
        let call = tokio::time::timeout(self.limits.connect_timeout, client.generate(req));
        let mut stream = match call.await {
            Ok(Ok(s)) => s.into_inner(),
            Ok(Err(status)) => return Err(Failure::Worker(status)),
            Err(_) => return Err(Failure::Worker(Status::unavailable("the worker did not answer in time"))),
        };
        loop {
            let msg = tokio::select! {
                msg = tokio::time::timeout(self.limits.idle_timeout, stream.message()) => match msg {
                    Ok(msg) => msg,
                    Err(_) => return Err(Failure::Worker(Status::unavailable("the worker went silent mid-job"))),
                },
                () = out.closed() => return Err(Failure::ClientGone),
            };
            match msg {
                Ok(Some(GenerateResponse { event: Some(generate_response::Event::Delta(d)) })) => {
                    if !budget.admits(seen.tokens.len(), seen.text.len(), &d) {
                        return Err(Failure::Lied(format!(
                            "the worker streamed more than the job allows ({} tokens)",
                            budget.tokens
                        )));
                    }
                    seen.tokens.extend_from_slice(&d.token_ids);
                    seen.text.push_str(&d.text);
                    if seen.class.is_none() && !seen.tokens.is_empty() {
                        seen.class = Some(picked.numeric_class.clone());
                    }
                    let msg = GenerateResponse { event: Some(generate_response::Event::Delta(d)) };
                    if out.send(Ok(msg)).await.is_err() {
                        return Err(Failure::ClientGone);
                    }
                }
                Ok(Some(GenerateResponse { event: Some(generate_response::Event::Done(done)) })) => {
                    return Ok(done);
                }
                Ok(Some(GenerateResponse { event: None })) => {}
                Ok(None) => {
                    return Err(Failure::Worker(Status::unavailable("the stream ended without a result")));
                }
                Err(status) => return Err(Failure::Worker(status)),
            }
        }
    }

    /// Checks and countersigns the receipt of a finished generation (whose ticket is in `req`),
    /// logs it, offers the job for audit and sends the final message.
    async fn finish(
        &self,
        mut done: GenerateDone,
        picked: &Picked,
        seen: &Streamed,
        req: GenerateRequest,
        out: &Outbox,
    ) -> Option<SignedReceipt> {
        let ticket = req.ticket.clone().unwrap_or_default();
        let output = Seen::Generation { tokens: &seen.tokens, text: &seen.text };
        let class = Some(picked.numeric_class.as_str());
        match receipt_check::accept(
            &self.key,
            done.receipt.take(),
            &ticket,
            &picked.verifying_key,
            class,
            output,
        ) {
            Ok(signed) => {
                self.log.keep_receipt(&signed).await;
                tracing::info!(tokens = seen.tokens.len(), "receipt countersigned");
                if self.audits.sample() {
                    let receipt = signed.clone();
                    self.audits.push(AuditJob { request: req, ticket, receipt, worker: picked.key });
                }
                done.receipt = Some(signed.clone());
                let done = GenerateResponse { event: Some(generate_response::Event::Done(done)) };
                let _ = out.send(Ok(done)).await;
                Some(signed)
            }
            Err(reason) => {
                tracing::warn!(endpoint = %picked.endpoint, %reason, "bad receipt; worker excluded");
                self.peers.exclude(picked.key, format!("bad receipt: {reason}"));
                let _ = out
                    .send(Err(Status::internal(format!("the worker's receipt was invalid: {reason}"))))
                    .await;
                None
            }
        }
    }

    /// Forwards embedding job `job`, retrying on another worker when one fails.
    pub(crate) async fn embed(&self, job: JobId, mut req: EmbedRequest) -> Result<EmbedResponse, Status> {
        let model = req.model.clone();
        let mut tried = Vec::new();
        let mut last = None;
        for attempt in 0..self.limits.max_attempts {
            let Some(picked) = self.peers.pick_within(&model, &tried, self.limits.max_price, None) else {
                break;
            };
            tried.push(picked.key);
            let attempt_job = if attempt == 0 { job } else { JobId::random() };
            let t = self.ticket(attempt_job, &picked, Ticketed::Embedding(&req.inputs));
            req.ticket = Some(t.clone());
            if attempt == 0 {
                tracing::info!(endpoint = %picked.endpoint, "sending the job");
            }
            self.metrics.routed(&picked.endpoint);
            let mut client = InferenceClient::new(picked.channel.clone());
            let call = tokio::time::timeout(self.limits.request_timeout, client.embed(req.clone()));
            let result =
                call.await.unwrap_or_else(|_| Err(Status::unavailable("the worker did not answer in time")));
            self.peers.release(&picked.key);
            match result {
                Ok(resp) if resp.get_ref().embeddings.len() != req.inputs.len() => {
                    let reason =
                        "the worker answered with another number of embeddings than inputs".to_string();
                    self.peers.exclude(picked.key, reason.clone());
                    last = Some(Status::unavailable(reason));
                }
                Ok(resp) => {
                    self.peers.mark_ok(&picked.key);
                    let mut resp = resp.into_inner();
                    let bits: Vec<u32> =
                        resp.embeddings.iter().flat_map(|e| e.values.iter().map(|x| x.to_bits())).collect();
                    let tokens_in = resp.usage.map_or(0, |u| u.prompt_tokens);
                    let seen = Seen::Embedding { bits: &bits, tokens_in };
                    // Embedders run on the CPU whatever the worker announces: any valid class.
                    let checked = receipt_check::accept(
                        &self.key,
                        resp.receipt.take(),
                        &t,
                        &picked.verifying_key,
                        None,
                        seen,
                    );
                    let signed = checked
                        .map_err(|e| Status::internal(format!("the worker's receipt was invalid: {e}")))?;
                    self.log.keep_receipt(&signed).await;
                    resp.receipt = Some(signed);
                    return Ok(resp);
                }
                Err(s) if !retryable(&s) => return Err(s),
                Err(s) => {
                    self.peers.mark_failed(&picked.key);
                    last = Some(s);
                }
            }
        }
        Err(last.map_or_else(|| no_worker(&model), |s| Status::unavailable(s.message().to_string())))
    }
}
