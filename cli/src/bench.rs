//! `wick bench`: performance measured side by side with a reference implementation (the
//! harnesses are the `wick-bench` crate).

use clap::Subcommand;
use wick_bench::BenchEnv;

use crate::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Prefill and decode speed at batch 1, beside llama.cpp's llama-bench on the same GGUF.
    Generate(wick_bench::generate::GenerateBench),
    /// Worker throughput and time to first token over gRPC, beside llama-server over HTTP.
    Worker(wick_bench::worker::WorkerBench),
    /// Router overhead: added latency and routed requests/s, beside calling a worker directly.
    Router(wick_bench::router::RouterBench),
    /// Ledger transactions durably committed per second, beside raw ed25519 verify rates.
    Ledger(wick_bench::ledger::cli::LedgerBenchArgs),
    /// The explorer's overview with 10 000 accounts and 100 workers: JSON build and page render
    /// in headless Chromium.
    Explorer(wick_bench::explorer::ExplorerBench),
}

pub fn run(global: &GlobalArgs, cmd: BenchCommand) -> anyhow::Result<()> {
    let ensure = |name: &str| crate::models::ensure(global, name);
    let env = BenchEnv { home: global.home.as_deref(), threads: global.threads, ensure_model: &ensure };
    match cmd {
        BenchCommand::Generate(args) => wick_bench::generate::run(&env, args),
        BenchCommand::Worker(args) => wick_bench::worker::run(&env, args),
        BenchCommand::Ledger(args) => wick_bench::ledger::cli::run_ledger(args),
        BenchCommand::Router(args) => wick_bench::router::run(args),
        BenchCommand::Explorer(args) => wick_bench::explorer::run(args),
    }
}
