//! Prometheus metrics of a router.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label with one value.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Label {
    /// The value.
    pub(crate) value: String,
}

/// Requests by route and status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteStatus {
    /// API route.
    pub(crate) route: String,
    /// Outcome.
    pub(crate) status: String,
}

/// Every metric of the router.
pub(crate) struct RouterMetrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    routed: Family<Label, Counter>,
    retries: Family<Label, Counter>,
    audits: Family<Label, Counter>,
    /// Live workers in the peer table.
    pub(crate) workers: Gauge,
    /// Time to first token seen by clients.
    pub(crate) ttft: Histogram,
    /// Whole-request latency.
    pub(crate) latency: Histogram,
}

impl RouterMetrics {
    /// A registry with every metric.
    pub(crate) fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("wick_router");
        let requests = Family::default();
        let routed = Family::default();
        let retries = Family::default();
        let audits = Family::default();
        let workers = Gauge::default();
        let ttft = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 18));
        registry.register("requests", "Requests by route and status", requests.clone());
        registry.register("routed", "Requests sent to each worker", routed.clone());
        registry.register(
            "retries",
            "Re-sent jobs: retry (before the first token) or failover",
            retries.clone(),
        );
        registry.register("audits", "Audit results", audits.clone());
        registry.register("workers", "Live workers", workers.clone());
        registry.register("time_to_first_token_seconds", "Time to first token", ttft.clone());
        registry.register("request_duration_seconds", "Whole-request latency", latency.clone());
        Arc::new(Self { registry, requests, routed, retries, audits, workers, ttft, latency })
    }

    /// Counts a finished request.
    pub(crate) fn request(&self, route: &str, status: &str) {
        self.requests.get_or_create(&RouteStatus { route: route.into(), status: status.into() }).inc();
    }

    /// Counts a job sent to a worker.
    pub(crate) fn routed(&self, worker: &str) {
        self.routed.get_or_create(&Label { value: worker.into() }).inc();
    }

    /// Counts a retry or failover.
    pub(crate) fn retry(&self, kind: &str) {
        self.retries.get_or_create(&Label { value: kind.into() }).inc();
    }

    /// Counts an audit outcome.
    pub(crate) fn audit(&self, result: &str) {
        self.audits.get_or_create(&Label { value: result.into() }).inc();
    }

    /// The text exposition format.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
