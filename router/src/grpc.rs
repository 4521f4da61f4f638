//! The router's `wick.v1.Inference` service: the same API as a worker's, so a client can call
//! either.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use wick_proto::v1::inference_server::Inference;
use wick_proto::v1::{
    EmbedRequest, EmbedResponse, GenerateRequest, GenerateResponse, ListModelsRequest, ListModelsResponse,
    ModelInfo,
};

use crate::auth::AuthError;
use crate::state::RouterState;

/// The gRPC front of the router.
#[derive(Clone)]
pub struct RouterService {
    state: Arc<RouterState>,
}

impl RouterService {
    /// A service over shared state.
    pub fn new(state: Arc<RouterState>) -> Self {
        Self { state }
    }

    fn authorize<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let header = req.metadata().get("authorization").and_then(|v| v.to_str().ok());
        self.state.auth.check(header).map_err(|e| match e {
            AuthError::Unauthenticated => Status::unauthenticated(e.to_string()),
            AuthError::RateLimited { .. } => Status::resource_exhausted(e.to_string()),
        })
    }
}

#[tonic::async_trait]
impl Inference for RouterService {
    type GenerateStream = ReceiverStream<Result<GenerateResponse, Status>>;

    async fn generate(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<Self::GenerateStream>, Status> {
        self.authorize(&request)?;
        let mut req = request.into_inner();
        if req.ticket.is_some() || !req.resume_tokens.is_empty() {
            return Err(Status::invalid_argument(
                "ticket and resume_tokens are set by the router, not by clients",
            ));
        }
        if req.model.is_empty() {
            req.model = self
                .state
                .peers
                .models()
                .into_iter()
                .find(|m| m.kind == "chat")
                .map(|m| m.name)
                .ok_or_else(|| Status::unavailable("no chat model is served on the network"))?;
        }
        let (tx, rx) = mpsc::channel(64);
        let state = self.state.clone();
        tokio::spawn(async move {
            let ok = crate::forward::generate(state.clone(), req, tx).await.is_some();
            state.metrics.request("grpc.generate", if ok { "ok" } else { "error" });
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn embed(&self, request: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
        self.authorize(&request)?;
        let result = crate::forward::embed(&self.state, request.into_inner()).await;
        self.state.metrics.request("grpc.embed", if result.is_ok() { "ok" } else { "error" });
        result.map(Response::new)
    }

    async fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        self.authorize(&request)?;
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
