//! The router's `wick.v1.Inference` service: the same API as a worker's, so a client can call
//! either. API keys are checked before it, by an interceptor ([`crate::auth::Auth::intercept`]).

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use wick_proto::v1::inference_server::Inference;
use wick_proto::v1::{
    EmbedRequest, EmbedResponse, GenerateRequest, GenerateResponse, ListModelsRequest, ListModelsResponse,
    ModelInfo,
};

use crate::choices;
use crate::state::RouterState;
use crate::ticket::JobId;

/// The gRPC front of the router.
#[derive(Clone)]
pub(crate) struct RouterService {
    state: Arc<RouterState>,
}

impl RouterService {
    /// A service over shared state.
    pub(crate) fn new(state: Arc<RouterState>) -> Self {
        Self { state }
    }

    /// The first chat model on the network, for requests that name none.
    fn default_chat_model(&self) -> Result<String, Status> {
        self.state
            .peers
            .models()
            .into_iter()
            .find(|m| m.kind == "chat")
            .map(|m| m.name)
            .ok_or_else(|| Status::unavailable("no chat model is served on the network"))
    }
}

#[tonic::async_trait]
impl Inference for RouterService {
    type GenerateStream = ReceiverStream<Result<GenerateResponse, Status>>;

    async fn generate(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<Self::GenerateStream>, Status> {
        let mut req = request.into_inner();
        if req.ticket.is_some() || !req.resume_tokens.is_empty() {
            return Err(Status::invalid_argument(
                "ticket and resume_tokens are set by the router, not by clients",
            ));
        }
        if req.model.is_empty() {
            req.model = self.default_chat_model()?;
        }
        let job = JobId::random();
        let span = tracing::info_span!("request", route = "grpc.generate", job = %job);
        span.in_scope(|| tracing::info!(model = %req.model, "generation"));
        // Message count, stop sequences and choices (`n`); prompt size is the workers' call.
        wick_api::limits::check_generate(&req, usize::MAX)
            .map_err(|e| Status::invalid_argument(e.message))?;
        let (tx, rx) = mpsc::channel(64);
        let mut events = span.in_scope(|| choices::stream(&self.state.forwarder, job, req));
        let metrics = self.state.metrics.clone();
        tokio::spawn(
            async move {
                let mut ok = true;
                while let Some(msg) = events.recv().await {
                    ok &= msg.is_ok();
                    if tx.send(msg).await.is_err() {
                        ok = false;
                        break;
                    }
                }
                metrics.request("grpc.generate", if ok { "ok" } else { "error" });
            }
            .instrument(span),
        );
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn embed(&self, request: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
        let job = JobId::random();
        let span = tracing::info_span!("request", route = "grpc.embed", job = %job);
        wick_api::limits::check_embed(request.get_ref()).map_err(|e| Status::invalid_argument(e.message))?;
        let result = self.state.forwarder.embed(job, request.into_inner()).instrument(span).await;
        self.state.metrics.request("grpc.embed", if result.is_ok() { "ok" } else { "error" });
        result.map(Response::new)
    }

    async fn list_models(
        &self,
        _request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let models = self
            .state
            .peers
            .models()
            .into_iter()
            .map(|m| ModelInfo { name: m.name, id: m.id, kind: m.kind, max_context: 0 })
            .collect();
        Ok(Response::new(ListModelsResponse { models }))
    }
}
