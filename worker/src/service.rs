//! The `wick.v1.Inference` gRPC service of a worker.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use wick_models::sampling::SamplingParams as ModelSampling;
use wick_models::{ChatMessage, Embedder, FinishReason, GenerationParams};
use wick_proto::v1::inference_server::Inference;
use wick_proto::v1::{
    self, EmbedRequest, EmbedResponse, Embedding, GenerateDone, GenerateRequest, GenerateResponse,
    ListModelsRequest, ListModelsResponse, ModelInfo, TokenDelta, generate_response,
};

use crate::config::WorkerConfig;
use crate::engine::{Completion, EngineHandle, Event, Job, JobError, SubmitError};
use crate::grpc_timeout;
use crate::metrics::Metrics;
use crate::receipt::{self, JobRecord, Output};
use crate::receipt_log::ReceiptLog;
use crate::ticket_gate::{self, Admitted, TicketGate};

/// Most inputs in one embedding request.
pub const MAX_EMBED_INPUTS: usize = 256;

/// What the service shares between requests.
pub struct WorkerState {
    /// Signs receipts.
    pub key: SigningKey,
    /// One engine per chat model.
    pub chat: Vec<EngineHandle>,
    /// Embedding models.
    pub embedders: Vec<Arc<Embedder>>,
    /// Limits and options.
    pub config: WorkerConfig,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Bounds concurrent embedding batches (they run on blocking threads).
    pub embed_permits: Semaphore,
    /// Receipts of routers' jobs, kept for the ledger's work claims.
    pub receipts: Option<Arc<ReceiptLog>>,
    /// Which tickets it serves.
    pub gate: TicketGate,
}

impl WorkerState {
    /// Keeps the receipt of a router's job (one with a ticket) for the epoch's work claim.
    async fn keep_receipt(&self, ticketed: bool, signed: &v1::SignedReceipt) {
        if let (true, Some(log)) = (ticketed, &self.receipts)
            && let Err(e) = log.append(signed).await
        {
            tracing::error!(error = %e, path = %log.path().display(), "could not log a receipt");
        }
    }

    fn served_names(&self) -> String {
        let chat = self.chat.iter().map(|e| e.model().name().to_string());
        let embed = self.embedders.iter().map(|e| e.name().to_string());
        chat.chain(embed).collect::<Vec<_>>().join(", ")
    }

    fn chat_engine(&self, model: &str) -> Result<&EngineHandle, Status> {
        let found = if model.is_empty() {
            self.chat.first()
        } else {
            self.chat.iter().find(|e| e.model().name() == model || e.model().id().as_str() == model)
        };
        found.ok_or_else(|| {
            Status::not_found(format!(
                "model `{model}` is not served here as a chat model; served: {}",
                self.served_names()
            ))
        })
    }

    fn embedder(&self, model: &str) -> Result<&Arc<Embedder>, Status> {
        let found = if model.is_empty() {
            self.embedders.first()
        } else {
            self.embedders.iter().find(|e| e.name() == model || e.id().as_str() == model)
        };
        found.ok_or_else(|| {
            Status::not_found(format!(
                "model `{model}` is not served here as an embedding model; served: {}",
                self.served_names()
            ))
        })
    }
}

/// The gRPC service.
#[derive(Clone)]
pub struct InferenceService {
    state: Arc<WorkerState>,
}

impl InferenceService {
    /// A service over shared state.
    pub fn new(state: Arc<WorkerState>) -> Self {
        Self { state }
    }
}

/// Turns wire parameters into validated model parameters, applying the worker's limits.
pub fn generation_params(
    p: Option<&v1::SamplingParams>,
    config: &WorkerConfig,
) -> Result<GenerationParams, Status> {
    let d = v1::SamplingParams::default();
    let p = p.unwrap_or(&d);
    let max_tokens = p.max_tokens.map_or(config.default_max_tokens, |m| m as usize);
    if max_tokens > config.max_tokens_limit {
        return Err(Status::invalid_argument(format!(
            "max_tokens {max_tokens} is above this worker's limit of {}",
            config.max_tokens_limit
        )));
    }
    let params = GenerationParams {
        max_tokens,
        sampling: ModelSampling {
            temperature: p.temperature,
            top_p: if p.top_p == 0.0 { 1.0 } else { p.top_p },
            top_k: p.top_k as usize,
            repetition_penalty: if p.repetition_penalty == 0.0 { 1.0 } else { p.repetition_penalty },
            seed: p.seed,
            ..ModelSampling::default()
        },
        stop: p.stop.clone(),
        ignore_eos: p.ignore_eos,
    };
    params.validate().map_err(|e| Status::invalid_argument(e.to_string()))?;
    if params.stop.len() > 8 || params.stop.iter().any(|s| s.len() > 256) {
        return Err(Status::invalid_argument("at most 8 stop sequences of at most 256 bytes each"));
    }
    Ok(params)
}

fn messages(req: &GenerateRequest) -> Result<Vec<ChatMessage>, Status> {
    if req.messages.is_empty() {
        return Err(Status::invalid_argument("messages must not be empty"));
    }
    req.messages
        .iter()
        .map(|m| match m.role.as_str() {
            "system" | "user" | "assistant" => {
                Ok(ChatMessage { role: m.role.clone(), content: m.content.clone() })
            }
            other => Err(Status::invalid_argument(format!(
                "message role `{other}` is not one of system, user, assistant"
            ))),
        })
        .collect()
}

fn status_of(e: &JobError) -> Status {
    match e {
        JobError::DeadlineExceeded(_) => Status::deadline_exceeded(e.to_string()),
        JobError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
        JobError::ShuttingDown => Status::unavailable(e.to_string()),
        JobError::Internal(_) => Status::internal(e.to_string()),
    }
}

type GenerateStream = ReceiverStream<Result<GenerateResponse, Status>>;

#[tonic::async_trait]
impl Inference for InferenceService {
    type GenerateStream = GenerateStream;

    async fn generate(&self, request: Request<GenerateRequest>) -> Result<Response<GenerateStream>, Status> {
        let arrived = Instant::now();
        let max_job = Duration::from_secs(self.state.config.max_ticket_secs);
        let mut deadline = grpc_timeout::deadline(request.metadata(), max_job)?;
        let req = request.into_inner();
        let span = job_span(req.ticket.as_ref());
        let state = &self.state;
        let result = self.prepare(&req, &mut deadline);
        let (engine, admitted, prompt, params) = match result {
            Ok(v) => v,
            Err(status) => {
                state.metrics.finished(&format!("{:?}", status.code()));
                return Err(status);
            }
        };
        let (events_tx, events) = mpsc::unbounded_channel();
        let resume = req.resume_tokens.clone();
        span.in_scope(|| {
            tracing::info!(prompt_tokens = prompt.len(), resumed = resume.len(), "job accepted")
        });
        let job = Job { prompt, params, resume, deadline, events: events_tx, span: span.clone() };
        if let Err(e) = engine.submit(job) {
            let status = match e {
                SubmitError::QueueFull { .. } => Status::resource_exhausted(e.to_string()),
                SubmitError::Stopped => Status::unavailable(e.to_string()),
            };
            state.metrics.finished(&format!("{:?}", status.code()));
            return Err(status);
        }
        let (out, out_rx) = mpsc::channel(64);
        let relay = Relay {
            state: self.state.clone(),
            ticket: req.ticket.clone(),
            request_hash: admitted.request_hash,
            model_id: engine.model().id().to_string(),
            arrived,
        };
        tokio::spawn(relay.run(events, out).instrument(span));
        Ok(Response::new(ReceiverStream::new(out_rx)))
    }

    async fn embed(&self, request: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
        let req = request.into_inner();
        let span = job_span(req.ticket.as_ref());
        let state = self.state.clone();
        let embedder = state.embedder(&req.model)?.clone();
        if req.inputs.is_empty() {
            return Err(Status::invalid_argument("inputs must not be empty"));
        }
        if req.inputs.len() > MAX_EMBED_INPUTS {
            return Err(Status::invalid_argument(format!(
                "{} inputs is above the limit of {MAX_EMBED_INPUTS}",
                req.inputs.len()
            )));
        }
        let request =
            ticket_gate::Request::Embedding { model_id: embedder.id().as_str(), inputs: &req.inputs };
        let admitted = state.gate.admit(req.ticket.as_ref(), &request)?;
        let _permit =
            state.embed_permits.acquire().await.map_err(|_| Status::unavailable("shutting down"))?;
        let started = SystemTime::now();
        let inputs = req.inputs.clone();
        let worker = embedder.clone();
        let (vectors, tokens) = tokio::task::spawn_blocking(move || {
            let texts: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let tokens: usize = texts.iter().map(|t| worker.count_tokens(t).unwrap_or(0)).sum();
            worker.embed(&texts).map(|v| (v, tokens))
        })
        .await
        .map_err(|e| Status::internal(format!("embedding task failed: {e}")))?
        .map_err(|e| Status::internal(e.to_string()))?;
        let bits: Vec<u32> = vectors.iter().flatten().map(|x| x.to_bits()).collect();
        let signed = receipt::sign(
            &state.key,
            &JobRecord {
                ticket: req.ticket.as_ref(),
                request_hash: admitted.request_hash,
                model_id: embedder.id().as_str(),
                output: Output::Embedding(&bits),
                tokens_in: tokens,
                started,
                finished: SystemTime::now(),
            },
        );
        tracing::info!(parent: &span, inputs = req.inputs.len(), "receipt signed");
        state.keep_receipt(req.ticket.is_some(), &signed).await;
        state.metrics.finished("Ok");
        Ok(Response::new(EmbedResponse {
            embeddings: vectors.into_iter().map(|values| Embedding { values }).collect(),
            usage: Some(v1::Usage { prompt_tokens: tokens as u32, completion_tokens: 0 }),
            receipt: Some(signed),
        }))
    }

    async fn list_models(
        &self,
        _: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let s = &self.state;
        let chat = s.chat.iter().map(|e| ModelInfo {
            name: e.model().name().to_string(),
            id: e.model().id().to_string(),
            kind: "chat".into(),
            max_context: e.model().llama().max_context() as u32,
        });
        let embed = s.embedders.iter().map(|e| ModelInfo {
            name: e.name().to_string(),
            id: e.id().to_string(),
            kind: "embedding".into(),
            max_context: wick_models::embed::MAX_INPUT_TOKENS as u32,
        });
        Ok(Response::new(ListModelsResponse { models: chat.chain(embed).collect() }))
    }
}

/// The span of one job: its ticket's id (hex) as the `job` field, as on the router.
fn job_span(ticket: Option<&v1::JobTicket>) -> tracing::Span {
    let job = ticket.map(|t| hex::encode(&t.job_id));
    tracing::info_span!("job", job = %job.as_deref().unwrap_or("-"))
}

/// Relays one generation's engine events to its gRPC stream, signing the receipt at the end.
struct Relay {
    state: Arc<WorkerState>,
    ticket: Option<v1::JobTicket>,
    request_hash: [u8; 32],
    model_id: String,
    arrived: Instant,
}

impl Relay {
    async fn run(
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
                Event::Delta { text, token_ids } => {
                    if first {
                        first = false;
                        state.metrics.ttft.observe(self.arrived.elapsed().as_secs_f64());
                    }
                    Ok(generate_response::Event::Delta(TokenDelta { text, token_ids }))
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
                model_id: &self.model_id,
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
        }
    }
}

impl InferenceService {
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        req: &GenerateRequest,
        deadline: &mut Option<Instant>,
    ) -> Result<(&EngineHandle, Admitted, Vec<u32>, GenerationParams), Status> {
        let state = &self.state;
        let engine = state.chat_engine(&req.model)?;
        let msgs =
            if req.prompt.is_empty() || !req.messages.is_empty() { messages(req)? } else { Vec::new() };
        let params = generation_params(req.params.as_ref(), &state.config)?;
        #[cfg(feature = "fault-injection")]
        let params = if state.config.corrupt_outputs { corrupted(params) } else { params };
        let model_id = engine.model().id().to_string();
        let request = ticket_gate::Request::Generation {
            model_id: &model_id,
            messages: &req.messages,
            prompt: &req.prompt,
            params: req.params.as_ref(),
        };
        let admitted = state.gate.admit(req.ticket.as_ref(), &request)?;
        if let Some(ticket_deadline) = admitted.deadline {
            *deadline = Some(deadline.map_or(ticket_deadline, |d| d.min(ticket_deadline)));
        }
        let prompt =
            engine.model().encode_chat(&msgs).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let limit = engine.model().llama().max_context();
        if prompt.len() + req.resume_tokens.len() >= limit {
            return Err(Status::invalid_argument(format!(
                "prompt of {} tokens does not fit the context of {limit} tokens",
                prompt.len() + req.resume_tokens.len()
            )));
        }
        Ok((engine, admitted, prompt, params))
    }
}

/// Fault injection: behave like a worker that cuts corners (another seed, always sampling),
/// with stream and receipt consistent, so only re-execution can tell.
#[cfg(feature = "fault-injection")]
fn corrupted(mut params: GenerationParams) -> GenerationParams {
    params.sampling.temperature = params.sampling.temperature.max(1.0);
    params.sampling.seed ^= 0x5eed_5eed;
    params
}
