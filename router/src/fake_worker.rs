//! Fake workers for the router's tests: real tonic servers on 127.0.0.1:0 that implement
//! `wick.v1.Inference` without a model (a generation's tokens are 1, 2, 3, … up to
//! `max_tokens`, whatever numeric class the worker announces) and sign their receipts, honestly
//! or not.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::{Request, Response, Status};
use wick_proto::signing;
use wick_proto::time::{now_unix_ms, unix_ms};
use wick_proto::v1::inference_server::{Inference, InferenceServer};
use wick_proto::v1::{
    CapabilityRecord, EmbedRequest, EmbedResponse, Embedding, FinishReason, GenerateDone, GenerateRequest,
    GenerateResponse, JobTicket, ListModelsRequest, ListModelsResponse, ModelAd, SignedReceipt, TokenDelta,
    Usage, generate_response,
};

use crate::peer_table::WorkerKey;

/// The one model fake workers serve.
pub(crate) const MODEL: &str = "fake";
/// Its id (sha256 hex of nothing in particular).
pub(crate) const MODEL_ID: &str = "abababababababababababababababababababababababababababababababab";
/// The numeric class fake workers announce unless told otherwise (Wick's CPU kernels').
pub(crate) const CPU_CLASS: &str = "cpu-v1";

/// How a fake worker behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    /// Streams the job's tokens (after any resume tokens) and signs a true receipt.
    Honest,
    /// Fails every call before the first token (UNAVAILABLE).
    Down,
    /// Streams this many tokens, then fails.
    DiesAfter(usize),
    /// Streams honestly, but its receipt is for other tokens.
    BadReceipt,
    /// Streams other tokens than an honest worker, with a receipt that matches them.
    Liar,
    /// Honest, one token every this many milliseconds.
    Paced(u64),
    /// Streams garbage tokens, one after the other, and never ends.
    Endless,
    /// Sends one delta of megabytes of text.
    Huge,
    /// Sends one token, then nothing, never ending the stream.
    Silent,
    /// Streams honestly, but signs its receipts in another numeric class than it announces.
    OtherClass,
}

/// A running fake worker; it stops when dropped.
pub(crate) struct FakeWorker {
    key: SigningKey,
    endpoint: String,
    class: String,
    generations: Arc<Mutex<Vec<GenerateRequest>>>,
    embeddings: Arc<Mutex<Vec<EmbedRequest>>>,
    _stop: DropGuard,
}

impl FakeWorker {
    /// Starts a worker of numeric class `class` whose key is derived from `seed`.
    pub(crate) async fn start_in(class: &str, seed: u8, behaviour: Behaviour) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("bound address"));
        let receipt_class = if behaviour == Behaviour::OtherClass { "other-class-9" } else { class };
        let service = Service {
            key: key.clone(),
            behaviour,
            class: receipt_class.to_string(),
            generations: Arc::default(),
            embeddings: Arc::default(),
        };
        let (generations, embeddings) = (service.generations.clone(), service.embeddings.clone());
        let stop = CancellationToken::new();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(InferenceServer::new(service))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    stop.clone().cancelled_owned(),
                ),
        );
        Self { key, endpoint, class: class.to_string(), generations, embeddings, _stop: stop.drop_guard() }
    }

    /// Its public key.
    pub(crate) fn key(&self) -> WorkerKey {
        self.key.verifying_key().to_bytes()
    }

    /// The capability record a router would have verified, with `queue_depth` jobs waiting
    /// (the router prefers the worker with the shorter queue).
    pub(crate) fn record(&self, queue_depth: u32) -> CapabilityRecord {
        CapabilityRecord {
            worker_public_key: self.key().to_vec(),
            grpc_endpoint: self.endpoint.clone(),
            models: vec![ModelAd { name: MODEL.into(), id: MODEL_ID.into(), kind: "chat".into() }],
            free_slots: 4,
            queue_depth,
            tokens_per_second: 100.0,
            version: "test".into(),
            expires_unix_ms: now_unix_ms() + 600_000,
            sequence: 1,
            numeric_class: self.class.clone(),
            ..Default::default()
        }
    }

    /// The generation requests it received.
    pub(crate) fn generations(&self) -> Vec<GenerateRequest> {
        self.generations.lock().expect("lock").clone()
    }

    /// The embedding requests it received.
    pub(crate) fn embeddings(&self) -> Vec<EmbedRequest> {
        self.embeddings.lock().expect("lock").clone()
    }
}

struct Service {
    key: SigningKey,
    behaviour: Behaviour,
    /// The class its receipts name.
    class: String,
    generations: Arc<Mutex<Vec<GenerateRequest>>>,
    embeddings: Arc<Mutex<Vec<EmbedRequest>>>,
}

impl Service {
    /// The final message of an honest job.
    fn done(&self, ticket: Option<&JobTicket>, all: &[u32], total: u32) -> GenerateDone {
        GenerateDone {
            finish_reason: FinishReason::Length as i32,
            usage: Some(Usage { prompt_tokens: 1, completion_tokens: total }),
            receipt: Some(self.receipt(ticket, all, &text_of(all), (1, all.len() as u32))),
            ..Default::default()
        }
    }

    /// The stream of a hostile behaviour (none for the others).
    fn hostile_stream(&self) -> Option<ReceiverStream<Result<GenerateResponse, Status>>> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let behaviour = self.behaviour;
        let delta = |text: String, t: u32| {
            message(generate_response::Event::Delta(TokenDelta {
                text,
                token_ids: vec![t],
                ..Default::default()
            }))
        };
        match behaviour {
            Behaviour::Endless => {
                tokio::spawn(async move {
                    for t in 0u32.. {
                        if tx.send(delta(format!("garbage{t} "), t)).await.is_err() {
                            return;
                        }
                    }
                });
            }
            Behaviour::Huge => {
                let _ = tx.try_send(delta("x".repeat(3 << 20), 1));
                tokio::spawn(async move { tx.closed().await });
            }
            Behaviour::Silent => {
                let _ = tx.try_send(delta("t1 ".into(), 1));
                tokio::spawn(async move { tx.closed().await });
            }
            _ => return None,
        }
        Some(ReceiverStream::new(rx))
    }

    /// A receipt over `output` and `text` with these token counts.
    fn receipt(
        &self,
        ticket: Option<&JobTicket>,
        output: &[u32],
        text: &str,
        tokens: (u32, u32),
    ) -> SignedReceipt {
        let now = unix_ms(SystemTime::now());
        let mut receipt = signing::receipt_for(ticket, [0; 32]);
        receipt.model_id = hex::decode(MODEL_ID).unwrap_or_default();
        receipt.output_hash = signing::output_hash(output, text).to_vec();
        (receipt.tokens_in, receipt.tokens_out) = tokens;
        receipt.started_unix_ms = now;
        receipt.finished_unix_ms = now;
        receipt.numeric_class.clone_from(&self.class);
        signing::sign_receipt(&self.key, receipt)
    }
}

/// The text an honest fake worker streams for `tokens`.
fn text_of(tokens: &[u32]) -> String {
    tokens.iter().map(|t| format!("t{t} ")).collect()
}

fn message(event: generate_response::Event) -> Result<GenerateResponse, Status> {
    Ok(GenerateResponse { event: Some(event) })
}

#[tonic::async_trait]
impl Inference for Service {
    type GenerateStream = ReceiverStream<Result<GenerateResponse, Status>>;

    async fn generate(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<Self::GenerateStream>, Status> {
        let req = request.into_inner();
        self.generations.lock().expect("lock").push(req.clone());
        if self.behaviour == Behaviour::Down {
            return Err(Status::unavailable("this fake worker is down"));
        }
        if let Some(stream) = self.hostile_stream() {
            return Ok(Response::new(stream));
        }
        let total = req.params.as_ref().and_then(|p| p.max_tokens).unwrap_or(4);
        let first = if self.behaviour == Behaviour::Liar { 101 } else { 1 };
        let all: Vec<u32> = (first..first + total).collect();
        let new = &all[req.resume_tokens.len().min(all.len())..];
        let (sent, fails) = match self.behaviour {
            Behaviour::DiesAfter(n) => (&new[..n.min(new.len())], true),
            _ => (new, false),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(all.len() + 2);
        if let Behaviour::Paced(ms) = self.behaviour {
            let done = self.done(req.ticket.as_ref(), &all, total);
            let sent = sent.to_vec();
            tokio::spawn(async move {
                for t in sent {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    let delta =
                        TokenDelta { text: format!("t{t} "), token_ids: vec![t], ..Default::default() };
                    if tx.send(message(generate_response::Event::Delta(delta))).await.is_err() {
                        return;
                    }
                }
                let _ = tx.send(message(generate_response::Event::Done(done))).await;
            });
            return Ok(Response::new(ReceiverStream::new(rx)));
        }
        for &t in sent {
            let _ = tx.try_send(message(generate_response::Event::Delta(TokenDelta {
                text: format!("t{t} "),
                token_ids: vec![t],
                ..Default::default()
            })));
        }
        if fails {
            let _ = tx.try_send(Err(Status::unavailable("this fake worker died mid-stream")));
        } else {
            let hashed: Vec<u32> =
                if self.behaviour == Behaviour::BadReceipt { vec![7] } else { all.clone() };
            let text = text_of(&hashed);
            let done = GenerateDone {
                finish_reason: FinishReason::Length as i32,
                usage: Some(Usage { prompt_tokens: 1, completion_tokens: total }),
                receipt: Some(self.receipt(req.ticket.as_ref(), &hashed, &text, (1, hashed.len() as u32))),
                ..Default::default()
            };
            let _ = tx.try_send(message(generate_response::Event::Done(done)));
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn embed(&self, request: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
        let req = request.into_inner();
        self.embeddings.lock().expect("lock").push(req.clone());
        let vector = vec![0.5f32, -1.0];
        let bits: Vec<u32> = req.inputs.iter().flat_map(|_| vector.iter().map(|x| x.to_bits())).collect();
        Ok(Response::new(EmbedResponse {
            embeddings: req.inputs.iter().map(|_| Embedding { values: vector.clone() }).collect(),
            usage: Some(Usage { prompt_tokens: req.inputs.len() as u32, completion_tokens: 0 }),
            receipt: Some(self.receipt(req.ticket.as_ref(), &bits, "", (req.inputs.len() as u32, 0))),
        }))
    }

    async fn list_models(
        &self,
        _: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Ok(Response::new(ListModelsResponse::default()))
    }
}
