//! The flags and the report of `wick bench ledger` (the harness is the parent module).

use anyhow::Context;

use super::{LedgerBench as Config, LedgerReport, run};

/// Flags of `wick bench ledger`.
#[derive(Debug, clap::Args)]
pub struct LedgerBenchArgs {
    /// Accounts in the genesis.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Registered workers among them (each claims once per epoch and is attested once).
    #[arg(long, default_value_t = 2_000)]
    workers: usize,
    /// Routers among them (they attest the workers' claims).
    #[arg(long, default_value_t = 50)]
    routers: usize,
    /// Transfers per worker per epoch.
    #[arg(long, default_value_t = 2)]
    transfers_per_worker: usize,
    /// Transactions per block.
    #[arg(long, default_value_t = 4_000)]
    block_txs: usize,
    /// Epochs of workload (10: 80 000 transactions in 20 blocks with the defaults; the last
    /// block's execution and commit cannot overlap anything, so short runs understate the rate).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Thread counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2",
          value_parser = clap::value_parser!(u16).range(1..))]
    bench_threads: Vec<u16>,
    /// Rounds: each measures batch verification, then the ledger, at every thread count (the
    /// report gives medians, so both sides of a ratio see the same machine).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Run the ledger replicated by BFT consensus with this many validators (all in this
    /// process, sharing its cores) and report committed tx/s and finality latency beside the
    /// 2-thread batch-verify rate, instead of the single-node runs.
    #[arg(long)]
    validators: Option<usize>,
    /// Senders of the replicated run (each signs its transfers in nonce order).
    #[arg(long, default_value_t = super::replicated::DEFAULT_SENDERS)]
    senders: usize,
    /// Transfers per sender in the replicated run's saturation phase (the default, 80 000 in
    /// all, runs ~8 s, so the pipeline's first and last blocks weigh little in the rate).
    #[arg(long, default_value_t = super::replicated::DEFAULT_TXS_PER_SENDER)]
    txs_per_sender: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `wick bench ledger` and prints its report.
pub fn run_ledger(args: LedgerBenchArgs) -> anyhow::Result<()> {
    if let Some(validators) = args.validators {
        anyhow::ensure!(validators >= 1, "--validators must be at least 1");
        return run_replicated(validators, &args);
    }
    let cfg = Config {
        accounts: args.accounts,
        workers: args.workers,
        routers: args.routers,
        transfers_per_worker: args.transfers_per_worker,
        block_txs: args.block_txs,
        epochs: args.epochs,
        threads: args.bench_threads.into_iter().map(usize::from).collect(),
        pin: true,
        rounds: args.rounds,
    };
    let dir = tempfile::tempdir().context("while creating a scratch directory for the stores")?;
    let quiet = args.json;
    let report = run(&cfg, dir.path(), |m| {
        if !quiet {
            eprintln!("… {m}");
        }
    })
    .context("while running the ledger benchmark")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(r: &LedgerReport) {
    println!("raw ed25519 verification (ZIP-215, ed25519-consensus), signatures/s:");
    println!("{:>8} {:>12} {:>12}", "threads", "single", "batch-64");
    for v in &r.verify {
        println!("{:>8} {:>12.0} {:>12.0}", v.threads, v.single, v.batch);
    }
    println!("ledger: signed transactions decoded, verified, executed and committed (synced rocksdb):");
    println!(
        "{:>8} {:>8} {:>8} {:>12} {:>16} {:>14} {:>10} {:>14}",
        "threads", "txs", "blocks", "tx/s", "÷ batch verify", "rounds' ratios", "cpu cores", "exec only"
    );
    for run in &r.runs {
        let batch = r.verify.iter().find(|v| v.threads == run.threads).map_or(f64::NAN, |v| v.batch);
        let lo = run.ratio_rounds.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = run.ratio_rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{:>8} {:>8} {:>8} {:>12.0} {:>16.2} {:>14} {:>10.2} {:>14.0}",
            run.threads,
            run.txs,
            run.blocks,
            run.tx_per_s,
            run.tx_per_s / batch,
            format!("{lo:.2}–{hi:.2}"),
            run.cpu_cores_used,
            run.execute_tx_per_s
        );
    }
    let one = r.runs.iter().find(|x| x.threads == 1);
    let two = r.runs.iter().find(|x| x.threads == 2);
    if let (Some(one), Some(two)) = (one, two) {
        println!("scaling: 2 threads ÷ 1 thread = {:.2} (goal ≥ 1.8)", two.tx_per_s / one.tx_per_s);
    }
    let rounds = r.runs.first().map_or(0, |x| x.ratio_rounds.len());
    println!("goal: committed tx/s ÷ batch-verify rate ≥ 0.9 at each thread count");
    println!(
        "(medians of {rounds} rounds, each measuring batch verify then the ledger at every thread count;"
    );
    println!(" exec only: execution alone, signatures pre-verified, no storage, tx/s)");
}

fn run_replicated(validators: usize, args: &LedgerBenchArgs) -> anyhow::Result<()> {
    let cfg = super::replicated::ReplicatedBench {
        validators,
        senders: args.senders.max(1),
        txs_per_sender: args.txs_per_sender.max(1),
        ..Default::default()
    };
    let dir = tempfile::tempdir().context("while creating a scratch directory for the stores")?;
    let quiet = args.json;
    let r = super::replicated::run(&cfg, dir.path(), |m| {
        if !quiet {
            eprintln!("… {m}");
        }
    })
    .context("while running the replicated ledger benchmark")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "ledger replicated by BFT consensus: {} validators in one process, sharing its cores",
        r.validators
    );
    println!("  committed tx/s at saturation   {:>10.0}  ({} transfers)", r.committed_tx_per_s, r.txs);
    println!(
        "  batch-64 verify/s, 2 threads   {:>10.0}  (same signatures, same run)",
        r.batch_verify_2_threads
    );
    println!("  committed × validators ÷ verify {:>9.2}  (goal ≥ 0.7)", r.ratio);
    println!(
        "  signature checks per transaction, per validator {:.2}  (1.00: each checked once)",
        r.checks_per_tx
    );
    println!(
        "  finality at {:.0} tx/s (half load): p50 {:.0} ms, p99 {:.0} ms over {} transfers (goals ≤ 300, ≤ 1000)",
        r.offered_tx_per_s, r.finality_p50_ms, r.finality_p99_ms, r.samples
    );
    Ok(())
}
