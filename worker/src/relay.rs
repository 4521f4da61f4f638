//! Relays one generation's engine events to its gRPC stream (token log probabilities with each
//! token's bytes, when asked for) and signs the receipt at the end.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::{self, UnboundedReceiver};
use tonic::Status;
use wick_models::logprobs::Logprobs;
use wick_models::{FinishReason, TextModel};
use wick_proto::v1::{self, GenerateDone, GenerateResponse, TokenDelta, TopLogprob, generate_response};

use crate::engine::{Completion, Event, JobError};
use crate::receipt::{self, JobRecord, Output};
use crate::service::WorkerState;

/// The gRPC status of a failed job.
pub(crate) fn status_of(e: &JobError) -> Status {
    match e {
        JobError::DeadlineExceeded(_) => Status::deadline_exceeded(e.to_string()),
        JobError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
        JobError::ShuttingDown => Status::unavailable(e.to_string()),
        JobError::Internal(_) => Status::internal(e.to_string()),
    }
}

/// The wire form of a token's log probabilities.
fn wire_logprobs(model: &TextModel, l: &Logprobs) -> v1::TokenLogprob {
    let bytes = |t: u32| model.tokenizer().token_bytes(t).to_vec();
    v1::TokenLogprob {
        token_id: l.chosen.token,
        token: bytes(l.chosen.token),
        logprob: l.chosen.logprob,
        top: l
            .top
            .iter()
            .map(|t| TopLogprob { token_id: t.token, token: bytes(t.token), logprob: t.logprob })
            .collect(),
    }
}

/// Relays one generation's engine events to its gRPC stream, signing the receipt at the end.
pub(crate) struct Relay {
    pub(crate) state: Arc<WorkerState>,
    pub(crate) ticket: Option<v1::JobTicket>,
    pub(crate) request_hash: [u8; 32],
    pub(crate) model: Arc<TextModel>,
    pub(crate) arrived: Instant,
}

impl Relay {
    pub(crate) async fn run(
        self,
        mut events: UnboundedReceiver<Event>,
        out: mpsc::Sender<Result<GenerateResponse, Status>>,
    ) {
        let state = &self.state;
        let mut first = true;
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                // The client went away: dropping `events` frees the batch slot.
                () = out.closed() => {
                    state.metrics.finished("Cancelled");
                    return;
                }
            };
            let Some(event) = event else {
                let _ = out.send(Err(Status::unavailable("the engine stopped"))).await;
                return;
            };
            let message = match event {
                Event::Delta { text, token_ids, logprobs } => {
                    if first {
                        first = false;
                        state.metrics.ttft.observe(self.arrived.elapsed().as_secs_f64());
                    }
                    let logprobs = logprobs.iter().map(|l| wire_logprobs(&self.model, l)).collect();
                    Ok(generate_response::Event::Delta(TokenDelta { text, token_ids, logprobs, index: 0 }))
                }
                Event::Done(done) => Ok(generate_response::Event::Done(self.finish(done).await)),
                Event::Failed(e) => {
                    let status = status_of(&e);
                    state.metrics.finished(&format!("{:?}", status.code()));
                    Err(status)
                }
            };
            let end = !matches!(message, Ok(generate_response::Event::Delta(_)));
            if out.send(message.map(|event| GenerateResponse { event: Some(event) })).await.is_err() {
                state.metrics.finished("Cancelled");
                return;
            }
            if end {
                return;
            }
        }
    }

    /// Signs (and, for a router's job, logs) the receipt of a finished generation.
    async fn finish(&self, done: Completion) -> GenerateDone {
        let signed = receipt::sign(
            &self.state.key,
            &JobRecord {
                ticket: self.ticket.as_ref(),
                request_hash: self.request_hash,
                model_id: self.model.id().as_str(),
                // GPU and CPU paths of one model give other bits: the receipt says which ran.
                numeric_class: self.model.numeric_class(),
                output: Output::Generation { tokens: &done.output_tokens, text: &done.text },
                tokens_in: done.usage.prompt_tokens,
                started: done.started,
                finished: done.finished,
            },
        );
        tracing::info!(tokens_out = done.output_tokens.len(), "receipt signed");
        self.state.keep_receipt(self.ticket.is_some(), &signed).await;
        self.state.metrics.finished("Ok");
        GenerateDone {
            finish_reason: match done.finish_reason {
                FinishReason::Stop => v1::FinishReason::Stop,
                FinishReason::Length => v1::FinishReason::Length,
            } as i32,
            usage: Some(v1::Usage {
                prompt_tokens: done.usage.prompt_tokens as u32,
                completion_tokens: done.usage.completion_tokens as u32,
            }),
            receipt: Some(signed),
            index: 0,
        }
    }
}
