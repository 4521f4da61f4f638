//! A request's `n` choices: each is a job of its own (its own ticket, receipt and audit), seeded
//! with [`signing::choice_seed`] of the request's seed, so that choice 0 is exactly the `n = 1`
//! answer and every choice can be replayed alone. All go to one worker when it is live, where
//! the engine computes their shared prompt once and copies it to the others.
//!
//! The fronts read one [`Generation`]: the choices' messages interleaved, each tagged with its
//! `index`, every choice ending with its own final message.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::Instrument;
use wick_proto::signing;
use wick_proto::v1::{GenerateRequest, GenerateResponse, generate_response};

use crate::forward::{Forwarder, Generation};
use crate::ticket::JobId;

/// How many choices a request asks for (at least one).
pub(crate) fn count(req: &GenerateRequest) -> u32 {
    req.params.as_ref().map_or(1, |p| p.n.max(1))
}

/// Choice `index` of `req`: its own seed, and `n = 1`.
pub(crate) fn choice(req: &GenerateRequest, index: u32) -> GenerateRequest {
    let mut one = req.clone();
    if let Some(p) = one.params.as_mut() {
        p.seed = signing::choice_seed(p.seed, index);
        p.n = 1;
    }
    one
}

fn tagged(mut msg: GenerateResponse, index: u32) -> GenerateResponse {
    match &mut msg.event {
        Some(generate_response::Event::Delta(d)) => d.index = index,
        Some(generate_response::Event::Done(d)) => d.index = index,
        None => {}
    }
    msg
}

/// Starts every choice of `req` (the first as job `job`) and returns their merged events.
pub(crate) fn stream(forwarder: &Arc<Forwarder>, job: JobId, req: GenerateRequest) -> Generation {
    let n = count(&req);
    if n == 1 {
        return forwarder.stream(job, choice(&req, 0));
    }
    // Choices are separate jobs, never compared with each other: any class will do.
    let prefer = forwarder.peers.pick_within(&req.model, &[], forwarder.limits.max_price, None).map(|p| {
        forwarder.peers.release(&p.key);
        p.key
    });
    let (tx, rx) = mpsc::channel(64);
    for index in 0..n {
        let id = if index == 0 { job } else { JobId::random() };
        let one = choice(&req, index);
        let (one_tx, mut one_rx) = mpsc::channel(64);
        let f = forwarder.clone();
        let span = tracing::info_span!("choice", index, job = %id);
        tokio::spawn(async move { f.generate_on(id, one, one_tx, prefer).await }.instrument(span));
        let tx = tx.clone();
        tokio::spawn(
            async move {
                while let Some(msg) = one_rx.recv().await {
                    // A closed receiver means the client went away: dropping `one_rx` cancels.
                    if tx.send(msg.map(|m| tagged(m, index))).await.is_err() {
                        return;
                    }
                }
            }
            .in_current_span(),
        );
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_proto::v1::SamplingParams;

    #[test]
    fn choices_get_derived_seeds_and_n_one() {
        let req = GenerateRequest {
            params: Some(SamplingParams { seed: 5, n: 3, ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(count(&req), 3);
        let seeds: Vec<u64> = (0..3).map(|i| choice(&req, i).params.expect("params").seed).collect();
        assert_eq!(seeds[0], 5, "choice 0 is the n = 1 answer");
        assert_eq!(seeds[1], signing::choice_seed(5, 1));
        assert_ne!(seeds[1], seeds[2]);
        assert!((0..3).all(|i| choice(&req, i).params.expect("params").n == 1));
        assert_eq!(count(&GenerateRequest::default()), 1);
    }
}
