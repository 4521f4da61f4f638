//! Forwarding one request to workers: job tickets, retries before the first token, resumption
//! mid-stream on another worker, and receipt checks and countersignatures at the end.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::{Code, Status};
use wick_proto::signing;
use wick_proto::time::unix_ms_after;
use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::{
    EmbedRequest, EmbedResponse, GenerateDone, GenerateRequest, GenerateResponse, JobTicket, SignedReceipt,
    generate_response,
};

use crate::peer_table::{Picked, WorkerKey};
use crate::state::RouterState;

/// What the client receives, in order: deltas, then one final message or an error.
pub type Outbox = mpsc::Sender<Result<GenerateResponse, Status>>;

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

/// A signed ticket for `req` on `model_id`.
fn ticket(state: &RouterState, req: &GenerateRequest, model_id: &str) -> JobTicket {
    let mut job_id = [0u8; 16];
    rand::fill(&mut job_id);
    let mut t = JobTicket {
        job_id: job_id.to_vec(),
        request_hash: signing::request_hash(model_id, &req.messages, &req.prompt, req.params.as_ref())
            .to_vec(),
        model_id: hex::decode(model_id).unwrap_or_default(),
        params: req.params.clone(),
        deadline_unix_ms: unix_ms_after(state.config.request_timeout),
        router_public_key: Vec::new(),
        signature: Vec::new(),
    };
    signing::sign_ticket(&state.key, &mut t);
    t
}

/// Checks a worker's receipt against what the router saw, then countersigns it.
pub fn accept_receipt(
    state: &RouterState,
    signed: Option<SignedReceipt>,
    ticket: &JobTicket,
    worker: &WorkerKey,
    output_tokens: Option<&[u32]>,
) -> Result<SignedReceipt, String> {
    let mut signed = signed.ok_or("the worker sent no receipt")?;
    let r = signed.receipt.as_ref().ok_or("empty receipt")?;
    if r.worker_public_key != worker {
        return Err("the receipt is signed by another key than the worker's".into());
    }
    if r.job_hash != signing::ticket_hash(ticket) {
        return Err("the receipt names another job".into());
    }
    if let Some(tokens) = output_tokens
        && (r.output_hash != signing::output_hash(tokens) || r.tokens_out as usize != tokens.len())
    {
        return Err("the receipt does not match the streamed tokens".into());
    }
    // Verifies the worker's signature before adding the router's.
    signing::countersign(&state.key, &mut signed).map_err(|e| e.to_string())?;
    Ok(signed)
}

/// Runs a generation for a client, failing over between workers, and sends everything to
/// `out`. Returns the countersigned receipt when the job completed.
pub async fn generate(
    state: Arc<RouterState>,
    mut req: GenerateRequest,
    out: Outbox,
) -> Option<SignedReceipt> {
    let model = req.model.clone();
    let mut tried: Vec<WorkerKey> = Vec::new();
    let mut tokens: Vec<u32> = Vec::new();
    let mut job_ticket: Option<JobTicket> = None;
    let mut last_error = None;
    for attempt in 0..state.config.max_attempts {
        let Some(picked) = state.peers.pick(&model, &tried) else { break };
        tried.push(picked.key);
        let t = job_ticket.get_or_insert_with(|| ticket(&state, &req, &picked.model_id)).clone();
        req.ticket = Some(t.clone());
        req.resume_tokens = tokens.clone();
        if attempt > 0 {
            let kind = if tokens.is_empty() { "retry" } else { "failover" };
            state.metrics.retry(kind);
            tracing::info!(endpoint = %picked.endpoint, resumed = tokens.len(), kind, "re-sending the job");
        }
        state.metrics.routed(&picked.endpoint);
        let result = stream_from(&state, &picked, req.clone(), &mut tokens, &out).await;
        state.peers.release(&picked.key);
        match result {
            Ok(done) => {
                state.peers.mark_ok(&picked.key);
                return finish(&state, done, &t, &picked, &tokens, &req, &out).await;
            }
            Err(Failure::ClientGone) => return None,
            Err(Failure::Worker(status)) => {
                if !retryable(&status) {
                    let _ = out.send(Err(status)).await;
                    return None;
                }
                if status.code() != Code::ResourceExhausted {
                    state.peers.mark_failed(&picked.key);
                }
                tracing::warn!(endpoint = %picked.endpoint, error = %status.message(), "worker failed");
                last_error = Some(status);
            }
        }
    }
    let status = match last_error {
        Some(s) if s.code() == Code::ResourceExhausted => {
            Status::resource_exhausted(format!("every worker serving `{model}` is busy; retry later"))
        }
        Some(s) => Status::unavailable(format!("workers serving `{model}` failed: {}", s.message())),
        None => no_worker(&model),
    };
    let _ = out.send(Err(status)).await;
    None
}

enum Failure {
    ClientGone,
    Worker(Status),
}

/// Streams one attempt to the client; `tokens` accumulates every token seen so far.
async fn stream_from(
    state: &RouterState,
    picked: &Picked,
    req: GenerateRequest,
    tokens: &mut Vec<u32>,
    out: &Outbox,
) -> Result<GenerateDone, Failure> {
    let mut client = InferenceClient::new(picked.channel.clone());
    let call = tokio::time::timeout(state.config.connect_timeout, client.generate(req));
    let mut stream = match call.await {
        Ok(Ok(s)) => s.into_inner(),
        Ok(Err(status)) => return Err(Failure::Worker(status)),
        Err(_) => return Err(Failure::Worker(Status::unavailable("the worker did not answer in time"))),
    };
    loop {
        let msg = tokio::select! {
            msg = stream.message() => msg,
            () = out.closed() => return Err(Failure::ClientGone),
        };
        match msg {
            Ok(Some(GenerateResponse { event: Some(generate_response::Event::Delta(d)) })) => {
                tokens.extend_from_slice(&d.token_ids);
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

async fn finish(
    state: &Arc<RouterState>,
    mut done: GenerateDone,
    ticket: &JobTicket,
    picked: &Picked,
    tokens: &[u32],
    req: &GenerateRequest,
    out: &Outbox,
) -> Option<SignedReceipt> {
    match accept_receipt(state, done.receipt.take(), ticket, &picked.key, Some(tokens)) {
        Ok(signed) => {
            state.record_receipt(&signed);
            state.maybe_audit(req.clone(), ticket.clone(), signed.clone(), picked.key);
            done.receipt = Some(signed.clone());
            let _ =
                out.send(Ok(GenerateResponse { event: Some(generate_response::Event::Done(done)) })).await;
            Some(signed)
        }
        Err(reason) => {
            tracing::warn!(endpoint = %picked.endpoint, %reason, "bad receipt; worker excluded");
            state.peers.exclude(picked.key, format!("bad receipt: {reason}"));
            let _ =
                out.send(Err(Status::internal(format!("the worker's receipt was invalid: {reason}")))).await;
            None
        }
    }
}

/// Forwards an embedding request, retrying on another worker when one fails.
pub async fn embed(state: &Arc<RouterState>, mut req: EmbedRequest) -> Result<EmbedResponse, Status> {
    let model = req.model.clone();
    let mut tried = Vec::new();
    let mut last = None;
    for _ in 0..state.config.max_attempts {
        let Some(picked) = state.peers.pick(&model, &tried) else { break };
        tried.push(picked.key);
        let mut t = JobTicket {
            job_id: {
                let mut id = [0u8; 16];
                rand::fill(&mut id);
                id.to_vec()
            },
            request_hash: Vec::new(),
            model_id: hex::decode(&picked.model_id).unwrap_or_default(),
            params: None,
            deadline_unix_ms: unix_ms_after(Duration::from_secs(60)),
            router_public_key: Vec::new(),
            signature: Vec::new(),
        };
        signing::sign_ticket(&state.key, &mut t);
        req.ticket = Some(t.clone());
        state.metrics.routed(&picked.endpoint);
        let mut client = InferenceClient::new(picked.channel.clone());
        let result = client.embed(req.clone()).await;
        state.peers.release(&picked.key);
        match result {
            Ok(resp) => {
                state.peers.mark_ok(&picked.key);
                let mut resp = resp.into_inner();
                let signed = accept_receipt(state, resp.receipt.take(), &t, &picked.key, None)
                    .map_err(|e| Status::internal(format!("the worker's receipt was invalid: {e}")))?;
                state.record_receipt(&signed);
                resp.receipt = Some(signed);
                return Ok(resp);
            }
            Err(s) if !retryable(&s) => return Err(s),
            Err(s) => {
                state.peers.mark_failed(&picked.key);
                last = Some(s);
            }
        }
    }
    Err(last.map_or_else(|| no_worker(&model), |s| Status::unavailable(s.message().to_string())))
}
