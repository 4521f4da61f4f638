//! Prometheus metrics of a worker (names follow vLLM's, with a `wick_` prefix), served at
//! `/metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label of a finished request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// gRPC status code name, `ok` on success.
    pub status: String,
}

/// Every metric of the worker.
pub struct Metrics {
    registry: Registry,
    /// Requests by final status.
    pub requests: Family<StatusLabel, Counter>,
    /// Sequences in the running batch.
    pub running: Gauge,
    /// Jobs waiting for a slot.
    pub waiting: Gauge,
    /// Batch size per forward pass.
    pub batch_size: Histogram,
    /// Time to first token.
    pub ttft: Histogram,
    /// Time between output tokens.
    pub tpot: Histogram,
    /// Tokens generated.
    pub generation_tokens: Counter,
    /// Prompt tokens processed.
    pub prompt_tokens: Counter,
    /// Prompt tokens whose keys and values were copied from another sequence's prefix.
    pub prompt_tokens_reused: Counter,
    /// Other workers whose live capability records this node has received.
    pub known_workers: Gauge,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("wick");
        let requests = Family::<StatusLabel, Counter>::default();
        let running = Gauge::default();
        let waiting = Gauge::default();
        let batch_size = Histogram::new([1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0]);
        let ttft = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let tpot = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let generation_tokens = Counter::default();
        let prompt_tokens = Counter::default();
        let prompt_tokens_reused = Counter::default();
        let known_workers = Gauge::default();
        registry.register("requests", "Finished requests by status", requests.clone());
        registry.register("num_requests_running", "Sequences in the running batch", running.clone());
        registry.register("num_requests_waiting", "Jobs waiting for a batch slot", waiting.clone());
        registry.register("batch_size", "Sequences per forward pass", batch_size.clone());
        registry.register("time_to_first_token_seconds", "Time to first token", ttft.clone());
        registry.register("time_per_output_token_seconds", "Time between output tokens", tpot.clone());
        registry.register("generation_tokens", "Tokens generated", generation_tokens.clone());
        registry.register("prompt_tokens", "Prompt tokens processed", prompt_tokens.clone());
        registry.register(
            "prompt_tokens_reused",
            "Prompt tokens copied from another sequence's cached prefix instead of computed",
            prompt_tokens_reused.clone(),
        );
        registry.register(
            "p2p_known_workers",
            "Other workers with live capability records",
            known_workers.clone(),
        );
        Arc::new(Self {
            registry,
            requests,
            running,
            waiting,
            batch_size,
            ttft,
            tpot,
            generation_tokens,
            prompt_tokens,
            prompt_tokens_reused,
            known_workers,
        })
    }

    /// Counts a finished request.
    pub fn finished(&self, status: &str) {
        self.requests.get_or_create(&StatusLabel { status: status.to_string() }).inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
