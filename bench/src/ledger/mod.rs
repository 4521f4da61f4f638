//! The ledger benchmark behind `wick bench ledger`: signed transactions decoded, verified,
//! executed and **durably committed** (one synced rocksdb write batch per block, through
//! [`Store`]) per second, beside this machine's raw ZIP-215 verification rates.
//!
//! The workload is a devnet's steady state: many accounts, registered workers that claim their
//! work once per epoch, routers that attest it, and users moving tokens. Each run replays the
//! same pre-signed blocks from the same genesis into a fresh store as a pipeline: on a rayon pool
//! of the given size, block N+1 is decoded and batch-verified against its wire bytes
//! ([`decode_verify`]) while block N executes ([`State::apply_block`], serially: the staking
//! module has no parallel path, see its docs) and the state is hashed; a commit thread writes
//! each block. A run on `n` threads is pinned, all its threads, to `n` CPUs.
//!
//! The reference rate batch-verifies the same signatures in the same batches of 64 from
//! ready-made messages, on the same pinned CPUs. Rounds alternate the reference and the ledger
//! at each thread count, since a VM's speed drifts over seconds; the report gives medians.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use rayon::prelude::*;
use wick_proto::v1::Block;

use wick_ledger::execution::{Executed, block_record, decode_verify, end_epoch};
use wick_ledger::store::{Store, StoreError};
use wick_staking::verify::{BATCH, DecodedBlock};
use wick_staking::{SignedTx, State, TxError, wire};

use crate::stats::median;
use cores::Cores;

pub mod cli;
pub mod replicated;

/// The workload and the runs.
#[derive(Clone, Debug)]
pub struct LedgerBench {
    /// Accounts in the genesis (workers and routers included).
    pub accounts: usize,
    /// How many of them are registered, staked workers.
    pub workers: usize,
    /// How many of them are routers (each attests a share of the workers every epoch).
    pub routers: usize,
    /// Transfers per epoch, per worker.
    pub transfers_per_worker: usize,
    /// Transactions per block.
    pub block_txs: usize,
    /// Epochs replayed (each: one claim and one attestation per worker, then the transfers).
    pub epochs: usize,
    /// Thread counts to measure.
    pub threads: Vec<usize>,
    /// Rounds: each measures the raw batch-verify rate and then a ledger run, at every thread
    /// count, so that both sides of each ratio see the same machine (a VM's speed drifts); the
    /// report gives medians.
    pub rounds: usize,
    /// Pin each run, all its threads, to as many CPUs as it has threads. Off only where the
    /// process has other work that must not be squeezed (tests).
    pub pin: bool,
}

impl Default for LedgerBench {
    fn default() -> Self {
        Self {
            accounts: 10_000,
            workers: 2_000,
            routers: 50,
            transfers_per_worker: 2,
            block_txs: 4_000,
            epochs: 10,
            threads: vec![1, 2],
            rounds: 5,
            pin: true,
        }
    }
}

/// Raw signature verification rates of this machine (signatures per second).
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifyRate {
    /// Threads.
    pub threads: usize,
    /// One `verify` per signature (measured in the first round).
    pub single: f64,
    /// Batches of [`BATCH`] (64): the median over the rounds.
    pub batch: f64,
    /// Each round's batch rate.
    pub batch_rounds: Vec<f64>,
}

/// One measured ledger run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LedgerRun {
    /// Threads in the pool.
    pub threads: usize,
    /// Transactions committed.
    pub txs: usize,
    /// Blocks committed.
    pub blocks: usize,
    /// Wall time of the median round, seconds.
    pub seconds: f64,
    /// Committed transactions per second: the median over the rounds.
    pub tx_per_s: f64,
    /// Each round's committed transactions per second.
    pub tx_per_s_rounds: Vec<f64>,
    /// Each round's committed rate over the same round's batch-verify rate.
    pub ratio_rounds: Vec<f64>,
    /// Process CPU time over wall time (all threads, the commit thread included).
    pub cpu_cores_used: f64,
    /// Execution alone (signatures pre-verified, no storage), transactions per second.
    pub execute_tx_per_s: f64,
}

/// Everything `wick bench ledger` prints.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LedgerReport {
    /// Raw verification rates, one per thread count.
    pub verify: Vec<VerifyRate>,
    /// Ledger runs, one per thread count.
    pub runs: Vec<LedgerRun>,
}

/// Why the benchmark failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A thread pool could not start.
    #[error("thread pool: {0}")]
    Pool(String),
    /// The replicated run failed (a node would not start, a submission was refused).
    #[error("replicated ledger: {0}")]
    Replicated(String),
    /// The workload did not execute as generated (a bug: every transaction is valid).
    #[error("transaction {index} of block {height} was rejected: {error}")]
    Rejected {
        /// Block.
        height: u64,
        /// Index in the block.
        index: usize,
        /// Why.
        error: TxError,
    },
    /// Scratch directory.
    #[error("scratch directory: {0}")]
    Io(#[from] std::io::Error),
}

mod cores;

mod workload;

use workload::Workload;

/// Process CPU time (user + system) in seconds, from `/proc/self/stat` (0 where unavailable).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf only reads a constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / per_second
}

fn pool(threads: usize) -> Result<rayon::ThreadPool, BenchError> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(|e| BenchError::Pool(e.to_string()))
}

type Message = (ed25519_consensus::VerificationKeyBytes, [u8; 64], Vec<u8>);

/// Raw ZIP-215 verification, one `verify` per signature, on `pool`: signatures per second.
fn single_rate(pool: &rayon::ThreadPool, batches: &[&[Message]]) -> f64 {
    let t = Instant::now();
    let ok = pool.install(|| {
        batches.par_iter().all(|b| {
            b.iter().all(|(vk, sig, m)| {
                ed25519_consensus::VerificationKey::try_from(*vk)
                    .is_ok_and(|k| k.verify(&ed25519_consensus::Signature::from(*sig), m).is_ok())
            })
        })
    });
    debug_assert!(ok);
    signatures(batches) / t.elapsed().as_secs_f64()
}

/// Raw ZIP-215 batch verification of `batches` on `pool`: signatures per second.
fn batch_rate(pool: &rayon::ThreadPool, batches: &[&[Message]]) -> f64 {
    let t = Instant::now();
    let ok = pool.install(|| {
        batches.par_iter().all(|chunk| {
            let mut b = ed25519_consensus::batch::Verifier::new();
            for (vk, sig, m) in *chunk {
                b.queue((*vk, ed25519_consensus::Signature::from(*sig), m.as_slice()));
            }
            b.verify(rand_core_06::OsRng).is_ok()
        })
    });
    debug_assert!(ok);
    signatures(batches) / t.elapsed().as_secs_f64()
}

fn signatures(batches: &[&[Message]]) -> f64 {
    batches.iter().map(|b| b.len()).sum::<usize>() as f64
}

/// The median of `v` (the upper one of an even count; NaN when empty).
/// One pipelined ledger run, timed.
struct Timed {
    seconds: f64,
    cpu_cores_used: f64,
}

/// Runs the benchmark; `dir` holds the scratch stores (one per run, removed afterwards).
pub fn run(
    cfg: &LedgerBench,
    dir: &Path,
    mut progress: impl FnMut(&str),
) -> Result<LedgerReport, BenchError> {
    progress("signing the workload");
    let work = cfg.workload();
    let total: usize = work.blocks.iter().map(|(b, _)| b.len()).sum();
    progress(&format!("{total} transactions in {} blocks over {} accounts", work.blocks.len(), cfg.accounts));
    // Decoded once: for the reference's messages and the execution-only runs.
    let decoded: Vec<(Vec<SignedTx>, bool)> = work
        .blocks
        .iter()
        .map(|(b, end)| (b.iter().filter_map(|x| wire::decode(x).ok()).collect(), *end))
        .collect();
    // The reference verifies exactly the signatures the ledger does, in the same batches (64
    // per batch within each block, so the same signers share batches), from ready-made messages.
    let per_block: Vec<Vec<Message>> = decoded
        .iter()
        .map(|(txs, _)| {
            txs.iter()
                .map(|t| {
                    let vk = ed25519_consensus::VerificationKeyBytes::from(t.tx.signer.0);
                    (vk, t.signature, t.tx.signing_bytes())
                })
                .collect()
        })
        .collect();
    let batches: Vec<&[Message]> = per_block.iter().flat_map(|b| b.chunks(BATCH)).collect();
    let cores = Cores::allowed(cfg.pin)?;
    // Every CPU again when the run ends, errors and panics included.
    let _unpin = cores.unpin_on_drop();
    let pools: Vec<rayon::ThreadPool> = cfg.threads.iter().map(|&t| pool(t)).collect::<Result<_, _>>()?;
    let mut singles = Vec::new();
    for (p, &threads) in pools.iter().zip(&cfg.threads) {
        cores.pin(threads)?;
        singles.push(single_rate(p, &batches));
    }
    let rounds = cfg.rounds.max(1);
    // batch[k][r], runs[k][r]: thread count k, round r.
    let mut batch = vec![Vec::new(); pools.len()];
    let mut runs: Vec<Vec<Timed>> = pools.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for (k, &threads) in cfg.threads.iter().enumerate() {
            progress(&format!("round {}/{rounds}: {threads} thread(s)", round + 1));
            cores.pin(threads)?;
            batch[k].push(batch_rate(&pools[k], &batches));
            let scratch = dir.join(format!("ledger-bench-{}-{threads}", std::process::id()));
            let _ = std::fs::remove_dir_all(&scratch);
            let run = ledger_run(&work, &pools[k], &scratch);
            let _ = std::fs::remove_dir_all(&scratch);
            runs[k].push(run?);
        }
    }
    let genesis = work.genesis.state().map_err(|e| BenchError::Store(e.into()))?;
    let mut report = LedgerReport { verify: Vec::new(), runs: Vec::new() };
    for (k, &threads) in cfg.threads.iter().enumerate() {
        let rates: Vec<f64> = runs[k].iter().map(|r| total as f64 / r.seconds).collect();
        let ratio_rounds = rates.iter().zip(&batch[k]).map(|(l, v)| l / v).collect();
        let tx_per_s = median(&rates);
        let mid = runs[k].iter().min_by(|a, b| {
            (total as f64 / a.seconds - tx_per_s)
                .abs()
                .total_cmp(&(total as f64 / b.seconds - tx_per_s).abs())
        });
        let (seconds, cpu_cores_used) = mid.map_or((f64::NAN, f64::NAN), |m| (m.seconds, m.cpu_cores_used));
        cores.pin(threads)?;
        report.runs.push(LedgerRun {
            threads,
            txs: total,
            blocks: work.blocks.len(),
            seconds,
            tx_per_s,
            tx_per_s_rounds: rates,
            ratio_rounds,
            cpu_cores_used,
            execute_tx_per_s: execute_only(&decoded, genesis.clone()),
        });
        report.verify.push(VerifyRate {
            threads,
            single: singles[k],
            batch: median(&batch[k]),
            batch_rounds: batch[k].clone(),
        });
    }
    Ok(report)
}

/// One pipelined run into a fresh store: the pool decodes and batch-verifies block N+1 while
/// one of its threads executes block N, hashes the state and hands the record to a commit
/// thread, which writes it (synced) while the next blocks go on. (A design with execution on its
/// own thread and verification running blocks ahead, with no per-block join, measured 2 % slower
/// here: the extra thread's switches cost more than the join's idle moments.)
fn ledger_run(work: &Workload, pool: &rayon::ThreadPool, dir: &Path) -> Result<Timed, BenchError> {
    let (store, recovered) = Store::open(dir, &work.genesis)?;
    let mut state = recovered.state;
    let start_height = state.height;
    // A node owns the bytes it received and moves them into the block record: so does the run.
    let mut owned: Vec<Option<Vec<Vec<u8>>>> = work.blocks.iter().map(|(b, _)| Some(b.clone())).collect();
    let (to_commit, commits) = mpsc::sync_channel::<Block>(2);
    let committer = std::thread::Builder::new().name("bench-commit".into()).spawn(move || {
        for block in commits {
            store.commit(&block)?;
        }
        Ok::<(), StoreError>(())
    })?;
    let decode_and_verify = |i: usize, bytes: &Vec<Vec<u8>>| -> Result<DecodedBlock, BenchError> {
        decode_verify(bytes).map_err(|(index, error)| BenchError::Rejected {
            height: start_height + i as u64 + 1,
            index,
            error,
        })
    };
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let outcome = pool.install(|| -> Result<(), BenchError> {
        let mut pending: Option<(usize, DecodedBlock)> = None;
        for i in 0..=work.blocks.len() {
            let next = work.blocks.get(i);
            let (verified, done) = rayon::join(
                || next.map(|(b, _)| decode_and_verify(i, b)).transpose(),
                || match pending.take() {
                    Some((j, (txs, sigs))) => {
                        let bytes = owned[j].take().unwrap_or_default();
                        execute_block(&mut state, bytes, work.blocks[j].1, &txs, sigs).map(Some)
                    }
                    None => Ok(None),
                },
            );
            if let Some(block) = done?
                && to_commit.send(block).is_err()
            {
                break;
            }
            pending = verified?.map(|v| (i, v));
        }
        Ok(())
    });
    drop(to_commit);
    let committed = committer.join().map_err(|_| BenchError::Pool("commit thread panicked".into()))?;
    outcome?;
    committed?;
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    Ok(Timed { seconds, cpu_cores_used: cpu / seconds })
}

/// Executes one verified block, checks every transaction was accepted and builds the block
/// record to commit.
fn execute_block(
    state: &mut State,
    bytes: Vec<Vec<u8>>,
    epoch_end: bool,
    txs: &[SignedTx],
    sigs: Vec<Result<(), TxError>>,
) -> Result<Block, BenchError> {
    let now = wick_proto::time::now_unix_ms();
    let results = state.apply_block(txs, sigs, now);
    if let Some((index, Err(error))) = results.iter().enumerate().find(|(_, r)| r.is_err()) {
        return Err(BenchError::Rejected { height: state.height, index, error: error.clone() });
    }
    let executed = Executed { results, epoch_end: epoch_end.then(|| end_epoch(state, now)) };
    Ok(block_record(state, bytes, &executed, now))
}

/// Execution alone: every block pre-decoded and pre-verified, no storage.
fn execute_only(blocks: &[(Vec<SignedTx>, bool)], mut state: State) -> f64 {
    let t = Instant::now();
    let mut n = 0;
    for (txs, end) in blocks {
        let time = state.last_block_ms + 1;
        n += state.apply_block(txs, vec![Ok(()); txs.len()], time).len();
        if *end {
            state.end_epoch(time);
        }
    }
    n as f64 / t.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_commits_every_transaction_on_each_thread_count() {
        let cfg = LedgerBench {
            accounts: 120,
            workers: 20,
            routers: 3,
            transfers_per_worker: 2,
            block_txs: 50,
            epochs: 2,
            threads: vec![1, 2],
            rounds: 2,
            pin: false,
        };
        let dir = tempfile::tempdir().expect("dir");
        let report = run(&cfg, dir.path(), |_| {}).expect("run");
        // Two epochs of one claim and one attestation per worker plus the transfers.
        let txs = 2 * (20 * 2 + 20 * 2);
        for r in &report.runs {
            assert_eq!(r.txs, txs);
            assert_eq!(r.blocks, 4);
            assert_eq!(r.tx_per_s_rounds.len(), 2);
            assert!(r.tx_per_s > 0.0 && r.ratio_rounds.iter().all(|x| x.is_finite() && *x > 0.0));
        }
        assert!(report.verify.iter().all(|v| v.batch > 0.0 && v.single > 0.0));
        // The scratch stores are gone.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
