//! Wick's benchmark harnesses, behind `wick bench …`: each measures Wick side by side with its
//! anchor in one run, alternating rounds so machine noise hits both alike, and reports ratios.
//!
//! - [`generate`]: prefill and decode at batch 1 beside llama.cpp's `llama-bench`.
//! - [`worker`]: a worker's throughput and time to first token beside `llama-server`.
//! - [`router`]: the router's added latency and routed requests/s beside calling workers directly.
//! - [`ledger`]: signed transactions durably committed per second beside raw batch verification.
//! - [`explorer`]: the explorer's overview (JSON and page) on 10 000 accounts and 100 workers.
//!
//! [`browser`] drives headless Chromium over WebDriver, for the explorer's bench and its
//! browser test.
//!
//! Benchmarks are programs, never assertions on wall time in tests.

use std::path::Path;

use wick_models::InstalledModel;

pub mod browser;
pub mod explorer;
pub mod generate;
pub mod ledger;
pub mod router;
pub mod stats;
pub mod structured;
pub mod worker;

/// What the harnesses need from the binary that runs them.
pub struct BenchEnv<'a> {
    /// The `--home` the user gave, passed on to the worker processes a harness starts.
    pub home: Option<&'a Path>,
    /// The `--threads` the user gave, if any.
    pub threads: Option<usize>,
    /// Returns an installed model, fetching it (with progress shown) when it is missing.
    pub ensure_model: &'a dyn Fn(&str) -> anyhow::Result<InstalledModel>,
}
