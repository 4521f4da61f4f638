//! A generation streamed as server-sent events: OpenAI's chunks (a role chunk first for chat),
//! a last chunk per choice with its finish reason and receipt, an optional usage chunk once
//! every choice is done, then `[DONE]`. An error after the stream started becomes an error
//! event.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::Event;
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;
use wick_api::openai::Delivery;
use wick_proto::v1::{GenerateDone, GenerateResponse, generate_response};

use super::error::ErrorBody;
use super::logprobs::ChoiceLogprobs;
use super::response::{ChunkHeader, Flavor, total_usage};
use crate::forward::Generation;
use crate::metrics::RouterMetrics;

/// What a stream's chunks carry besides the generated text.
pub(crate) struct SseJob {
    /// Id, model, creation time and flavour of every chunk.
    pub(crate) header: ChunkHeader,
    /// Choices, log probabilities, and whether a usage chunk follows the last choice.
    pub(crate) delivery: Delivery,
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
    /// Translates the generation's messages into events until every choice ends or the client
    /// goes away (dropping `rest` then cancels the jobs on the workers).
    async fn send(self, first: GenerateResponse, mut rest: Generation, tx: mpsc::Sender<Event>) {
        let header = &self.header;
        let route = header.flavor.route();
        let n = self.delivery.n.max(1) as usize;
        if header.flavor == Flavor::Chat && tx.send(event(&header.role(n as u32))).await.is_err() {
            return;
        }
        // Per choice: bytes of text so far (text completions' offsets), and the final message.
        let mut offsets = vec![0usize; n];
        let mut done: Vec<Option<GenerateDone>> = vec![None; n];
        let mut next: Option<Result<GenerateResponse, tonic::Status>> = Some(Ok(first));
        while let Some(msg) = next {
            let event = match msg {
                Ok(GenerateResponse { event: Some(generate_response::Event::Delta(d)) })
                    if !d.text.is_empty() || !d.logprobs.is_empty() =>
                {
                    let i = (d.index as usize).min(n - 1);
                    let logprobs = self
                        .delivery
                        .logprobs
                        .map(|_| ChoiceLogprobs::new(header.flavor, &d.logprobs, offsets[i]));
                    offsets[i] += d.logprobs.iter().map(|l| l.token.len()).sum::<usize>();
                    Some(event(&header.delta(d.index, &d.text, logprobs, None)))
                }
                Ok(GenerateResponse { event: Some(generate_response::Event::Done(d)) }) => {
                    if tx.send(event(&header.last(&d))).await.is_err() {
                        return;
                    }
                    let i = (d.index as usize).min(n - 1);
                    done[i] = Some(d);
                    None
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
        if done.iter().any(Option::is_none) {
            self.metrics.request(route, "error");
            let _ = tx.send(event(&ErrorBody::stream_failed("the job ended without a result"))).await;
            return;
        }
        self.metrics.request(route, "ok");
        if self.delivery.include_usage {
            let usage = total_usage(done.iter().flatten());
            if tx.send(event(&header.usage(usage))).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Event::default().data("[DONE]")).await;
    }
}
