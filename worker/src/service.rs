//! The `wick.v1.Inference` gRPC service of a worker.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ed25519_dalek::SigningKey;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use wick_models::{Embedder, GenerationParams};
use wick_proto::v1::inference_server::Inference;
use wick_proto::v1::{
    self, EmbedRequest, EmbedResponse, Embedding, GenerateRequest, GenerateResponse, ListModelsRequest,
    ListModelsResponse, ModelInfo,
};

use crate::config::WorkerConfig;
use crate::engine::{EngineHandle, Job, SubmitError};
use crate::grpc_timeout;
use crate::limits;
use crate::metrics::Metrics;
use crate::receipt::{self, JobRecord, Output};
use crate::receipt_log::ReceiptLog;
use crate::relay::Relay;
use crate::request::{self, Input, Tokenized};
use crate::ticket_gate::{self, Admitted, TicketGate};
use crate::tokenize::TokenizerPool;

/// Most inputs in one embedding request.
pub const MAX_EMBED_INPUTS: usize = limits::MAX_EMBED_INPUTS;

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
    /// Renders, tokenizes and compiles formats off the async threads.
    pub tokenizers: TokenizerPool,
    /// The numeric class its capability record announces: its chat models' (one device serves
    /// them all), or the CPU class without chat models.
    pub numeric_class: String,
}

impl WorkerState {
    /// Keeps the receipt of a router's job (one with a ticket) for the epoch's work claim.
    pub(crate) async fn keep_receipt(&self, ticketed: bool, signed: &v1::SignedReceipt) {
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
        let counted = |status: Status| {
            state.metrics.finished(&format!("{:?}", status.code()));
            status
        };
        limits::check_generate(&req, state.config.max_prompt_bytes).map_err(counted)?;
        let (engine, admitted, input, params) = self.prepare(&req, &mut deadline).map_err(counted)?;
        let model = engine.model().clone();
        let resumed = req.resume_tokens.len();
        // The schema is client JSON of up to megabytes: parsed on the tokenizer thread too.
        let wire_params = req.params.clone();
        let tokenized = state
            .tokenizers
            .run(move || {
                let format = request::response_format(wire_params.as_ref())?;
                request::tokenize(&model, &input, &format, resumed)
            })
            .await
            .and_then(|r| r)
            .map_err(counted)?;
        let Tokenized { prompt, constraint } = tokenized;
        let (events_tx, events) = mpsc::unbounded_channel();
        let resume = req.resume_tokens.clone();
        span.in_scope(|| {
            tracing::info!(prompt_tokens = prompt.len(), resumed = resume.len(), "job accepted")
        });
        let job = Job { prompt, params, resume, deadline, constraint, events: events_tx, span: span.clone() };
        if let Err(e) = engine.submit(job) {
            let status = match e {
                SubmitError::QueueFull { .. } => Status::resource_exhausted(e.to_string()),
                SubmitError::Stopped => Status::unavailable(e.to_string()),
            };
            return Err(counted(status));
        }
        let (out, out_rx) = mpsc::channel(64);
        let relay = Relay {
            state: self.state.clone(),
            ticket: req.ticket.clone(),
            request_hash: admitted.request_hash,
            model: engine.model().clone(),
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
        limits::check_embed(&req)?;
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
                // Embedders run on the CPU (candle), whatever device the chat models use.
                numeric_class: wick_models::CPU_NUMERIC_CLASS,
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
            max_context: e.model().transformer().max_context() as u32,
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

impl InferenceService {
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        req: &GenerateRequest,
        deadline: &mut Option<Instant>,
    ) -> Result<(&EngineHandle, Admitted, Input, GenerationParams), Status> {
        let state = &self.state;
        let engine = state.chat_engine(&req.model)?;
        let input = Input::of(req)?;
        let params = request::generation_params(req.params.as_ref(), &state.config)?;
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
        Ok((engine, admitted, input, params))
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
