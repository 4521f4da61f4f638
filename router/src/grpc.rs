//! The router's `wick.v1.Inference` service: the same API as a worker's, so a client can call
//! either. API keys are checked before it, by an interceptor ([`crate::auth::Auth::intercept`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use wick_proto::v1::inference_server::Inference;
use wick_proto::v1::{
    EmbedRequest, EmbedResponse, GenerateRequest, GenerateResponse, ListModelsRequest, ListModelsResponse,
    ModelInfo,
};

use crate::choices;
use crate::forward::Generation;
use crate::metrics::RouterMetrics;
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
    type GenerateStream = CountedGeneration;

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
        let events = span.in_scope(|| choices::stream(&self.state.forwarder, job, req));
        Ok(Response::new(CountedGeneration {
            events,
            metrics: self.state.metrics.clone(),
            ok: true,
            ended: false,
        }))
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

/// A generation's events, streamed to the client as they come (no relay task between the job
/// and the connection). Counts the request once: when the events end, as an error if one of
/// them was; when dropped before that (the client went away), as an error.
pub(crate) struct CountedGeneration {
    events: Generation,
    metrics: Arc<RouterMetrics>,
    ok: bool,
    ended: bool,
}

impl CountedGeneration {
    fn count(&mut self) {
        if !self.ended {
            self.ended = true;
            self.metrics.request("grpc.generate", if self.ok { "ok" } else { "error" });
        }
    }
}

impl Stream for CountedGeneration {
    type Item = Result<GenerateResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = std::task::ready!(self.events.poll_recv(cx));
        match &next {
            Some(event) => self.ok &= event.is_ok(),
            None => self.count(),
        }
        Poll::Ready(next)
    }
}

impl Drop for CountedGeneration {
    fn drop(&mut self) {
        self.ok &= self.ended;
        self.count();
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;
    use tokio_stream::StreamExt;
    use wick_proto::v1::generate_response::Event;
    use wick_proto::v1::{GenerateDone, TokenDelta};

    use super::*;

    fn counted(
        metrics: &Arc<RouterMetrics>,
    ) -> (mpsc::Sender<Result<GenerateResponse, Status>>, CountedGeneration) {
        let (tx, events) = mpsc::channel(8);
        (tx, CountedGeneration { events, metrics: metrics.clone(), ok: true, ended: false })
    }

    async fn drain(stream: &mut CountedGeneration) -> usize {
        let mut events = 0;
        while stream.next().await.is_some() {
            events += 1;
        }
        events
    }

    fn count(metrics: &RouterMetrics, status: &str) -> String {
        let line = format!("wick_router_requests_total{{route=\"grpc.generate\",status=\"{status}\"}} ");
        metrics.encode().lines().find_map(|l| l.strip_prefix(&line).map(str::to_string)).unwrap_or_default()
    }

    #[tokio::test]
    async fn each_generation_is_counted_once_by_how_it_ended() {
        let metrics = RouterMetrics::new();
        let delta = || Ok(GenerateResponse { event: Some(Event::Delta(TokenDelta::default())) });
        let done = || Ok(GenerateResponse { event: Some(Event::Done(GenerateDone::default())) });

        // Streamed to the end: ok, counted at the end and not again when dropped.
        let (tx, mut stream) = counted(&metrics);
        tx.send(delta()).await.expect("send");
        tx.send(done()).await.expect("send");
        drop(tx);
        assert_eq!(drain(&mut stream).await, 2);
        assert_eq!(count(&metrics, "ok"), "1");
        drop(stream);
        assert_eq!((count(&metrics, "ok"), count(&metrics, "error")), ("1".into(), String::new()));

        // An error event, even a last one, makes it an error.
        let (tx, mut stream) = counted(&metrics);
        tx.send(delta()).await.expect("send");
        tx.send(Err(Status::unavailable("no worker"))).await.expect("send");
        drop(tx);
        assert_eq!(drain(&mut stream).await, 2);
        drop(stream);
        assert_eq!(count(&metrics, "error"), "1");

        // The client went away mid-stream: an error, and the job's sender sees it closed.
        let (tx, mut stream) = counted(&metrics);
        tx.send(delta()).await.expect("send");
        assert!(stream.next().await.is_some());
        drop(stream);
        assert!(tx.is_closed(), "the job learns that its client left");
        assert_eq!((count(&metrics, "ok"), count(&metrics, "error")), ("1".into(), "2".into()));
    }
}
