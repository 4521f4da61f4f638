//! A generation streamed as server-sent events: OpenAI's chunks (a role chunk first for chat),
//! a last chunk with the finish reason and the receipt, an optional usage chunk, then `[DONE]`.
//! An error after the stream started becomes an error event.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event;
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;
use wick_proto::v1::{GenerateResponse, generate_response};

use super::error::ErrorBody;
use super::response::{ChunkHeader, Flavor};
use crate::forward::Generation;
use crate::metrics::RouterMetrics;

/// What a stream's chunks carry besides the generated text.
pub(crate) struct SseJob {
    /// Id, model, creation time and flavour of every chunk.
    pub(crate) header: ChunkHeader,
    /// Whether a usage chunk follows the last choice.
    pub(crate) include_usage: bool,
    /// Counts the request once it ends.
    pub(crate) metrics: Arc<RouterMetrics>,
}

fn event(data: &impl Serialize) -> Event {
    // Serializing these plain structs cannot fail.
    Event::default().json_data(data).unwrap_or_default()
}

/// The events of a generation whose first message, `first`, has already arrived.
pub(crate) fn sse_stream(
    job: SseJob,
    first: GenerateResponse,
    rest: Generation,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let (tx, out) = mpsc::channel::<Event>(64);
    tokio::spawn(job.send(first, rest, tx).in_current_span());
    ReceiverStream::new(out).map(Ok)
}

impl SseJob {
    /// Translates the generation's messages into events until it ends or the client goes away
    /// (dropping `rest` then cancels the job on the worker).
    async fn send(self, first: GenerateResponse, mut rest: Generation, tx: mpsc::Sender<Event>) {
        let header = &self.header;
        let route = header.flavor.route();
        if header.flavor == Flavor::Chat && tx.send(event(&header.role())).await.is_err() {
            return;
        }
        let mut next: Option<Result<GenerateResponse, tonic::Status>> = Some(Ok(first));
        while let Some(msg) = next {
            let event = match msg {
                Ok(GenerateResponse { event: Some(generate_response::Event::Delta(d)) })
                    if !d.text.is_empty() =>
                {
                    Some(event(&header.delta(&d.text, None)))
                }
                Ok(GenerateResponse { event: Some(generate_response::Event::Done(done)) }) => {
                    if tx.send(event(&header.last(&done))).await.is_err() {
                        return;
                    }
                    self.metrics.request(route, "ok");
                    self.include_usage.then(|| event(&header.usage(done.usage.unwrap_or_default())))
                }
                Ok(_) => None,
                Err(s) => {
                    self.metrics.request(route, "error");
                    let _ = tx.send(event(&ErrorBody::stream_failed(s.message()))).await;
                    return;
                }
            };
            if let Some(event) = event
                && tx.send(event).await.is_err()
            {
                return;
            }
            next = rest.recv().await;
        }
        let _ = tx.send(Event::default().data("[DONE]")).await;
    }
}
