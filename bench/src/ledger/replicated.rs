//! `wick bench ledger --validators N`: the ledger replicated by BFT consensus, N validators as
//! real nodes in this process (rocksdb stores, Malachite on loopback TCP, mempool relay over
//! gRPC), all sharing this machine's cores. It measures committed transactions per second at
//! saturation (pre-signed transfers submitted to the validators in turn, acknowledged once
//! decided and committed), then the finality latency (submit → acknowledged) of an open-loop
//! load at half that rate, beside the same machine's batch-verify rate of the same signatures
//! on 2 threads, measured in the same run.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use tokio_util::sync::CancellationToken;
use wick_ledger::node::{LedgerHandle, LedgerNode, NodeConfig};
use wick_ledger::replica::ReplicaConfig;
use wick_staking::genesis::{Genesis, GenesisAccount, GenesisAmount, GenesisParams, GenesisValidator};
use wick_staking::{Address, Amount, Params, Tx, TxBody, wire};

use super::{BATCH, BenchError, Message, batch_rate, pool};

/// The replicated run's settings.
#[derive(Clone, Debug)]
pub struct ReplicatedBench {
    /// Validators (each a full node here).
    pub validators: usize,
    /// Accounts sending transfers.
    pub senders: usize,
    /// Transfers each sender signs for the saturation run.
    pub txs_per_sender: usize,
    /// Submissions waiting for their decision at most, at saturation.
    pub in_flight: usize,
    /// Length of the half-load latency run.
    pub latency_seconds: f64,
}

/// Senders of the replicated run unless told otherwise.
pub const DEFAULT_SENDERS: usize = 2_000;

/// Transfers per sender at saturation unless told otherwise: 80 000 in all, ~8 s, so the
/// pipeline's first and last blocks weigh little in the rate.
pub const DEFAULT_TXS_PER_SENDER: usize = 40;

impl Default for ReplicatedBench {
    fn default() -> Self {
        Self {
            validators: 4,
            senders: DEFAULT_SENDERS,
            txs_per_sender: DEFAULT_TXS_PER_SENDER,
            in_flight: 4_000,
            latency_seconds: 5.0,
        }
    }
}

/// What the replicated run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReplicatedReport {
    /// Validators.
    pub validators: usize,
    /// Transactions committed in the saturation run.
    pub txs: usize,
    /// Committed transactions per second at saturation.
    pub committed_tx_per_s: f64,
    /// Batch-verify rate (signatures/s) of the same signatures on 2 threads, same run.
    pub batch_verify_2_threads: f64,
    /// `committed_tx_per_s × validators ÷ batch_verify_2_threads` (every validator verifies
    /// every transaction, so this is what consensus leaves of verification's rate).
    pub ratio: f64,
    /// Signatures the validators checked during the saturation run, per committed transaction
    /// and validator (1.0 when none is checked twice; relayed copies still arriving after the
    /// run's last acknowledgement are not counted, most of them dropped unchecked as stale).
    pub checks_per_tx: f64,
    /// The open-loop rate of the latency run (half the saturating rate).
    pub offered_tx_per_s: f64,
    /// Finality (submit → decided and committed) at that rate, median and 99th percentile.
    pub finality_p50_ms: f64,
    /// 99th percentile.
    pub finality_p99_ms: f64,
    /// Latency samples.
    pub samples: usize,
}

fn key(seed: u8, i: usize) -> SigningKey {
    let mut s = [seed; 32];
    s[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SigningKey::from_bytes(&s)
}

fn free_addr() -> Result<SocketAddr, BenchError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| BenchError::Replicated(e.to_string()))?;
    l.local_addr().map_err(|e| BenchError::Replicated(e.to_string()))
}

const CHAIN: &str = "wick-bench-bft";

/// Transfers of `sender` with nonces `from..from + n`, signed, paying the required fee.
fn transfers(sender: &SigningKey, from: u64, n: usize) -> Vec<Vec<u8>> {
    let p = Params::default();
    let signer = Address(sender.verifying_key().to_bytes());
    (0..n as u64)
        .map(|k| {
            let body = TxBody::Transfer { to: Address([9; 32]), amount: Amount(1) };
            let mut tx = Tx { chain_id: CHAIN.into(), signer, nonce: from + k, fee: Amount(0), body };
            tx.fee = Amount(p.min_fee + p.fee_per_byte * tx.wire_len() as u128);
            wire::encode(&tx.sign(sender))
        })
        .collect()
}

fn genesis(senders: &[SigningKey], validators: &[SigningKey]) -> Genesis {
    let hex_of = |k: &SigningKey| hex::encode(k.verifying_key().to_bytes());
    Genesis {
        chain_id: CHAIN.into(),
        epoch_seconds: 3_600,
        params: GenesisParams::default(),
        accounts: senders
            .iter()
            .chain(validators)
            .map(|k| GenesisAccount { address: hex_of(k), balance: GenesisAmount(1 << 60) })
            .collect(),
        workers: Vec::new(),
        delegations: Vec::new(),
        routers: Vec::new(),
        validators: validators
            .iter()
            .map(|k| GenesisValidator { address: hex_of(k), stake: GenesisAmount(100_000) })
            .collect(),
    }
}

/// The validators, started in this process.
async fn start_nodes(
    cfg: &ReplicatedBench,
    genesis: &Genesis,
    keys: &[SigningKey],
    dir: &Path,
    shutdown: &CancellationToken,
) -> Result<Vec<(LedgerNode, LedgerHandle)>, BenchError> {
    let n = cfg.validators;
    let grpc: Vec<SocketAddr> = (0..n).map(|_| free_addr()).collect::<Result<_, _>>()?;
    let p2p: Vec<SocketAddr> = (0..n).map(|_| free_addr()).collect::<Result<_, _>>()?;
    let mut nodes = Vec::new();
    for i in 0..n {
        let mut config = NodeConfig::new(dir.join(format!("validator-{i}")), genesis.clone());
        config.replica = Some(ReplicaConfig::new(
            ed25519_consensus::SigningKey::from(keys[i].to_bytes()),
            p2p[i],
            p2p.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| *a).collect(),
            grpc.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| format!("http://{a}")).collect(),
        ));
        let node = LedgerNode::start(config, shutdown.clone())
            .await
            .map_err(|e| BenchError::Replicated(e.to_string()))?;
        let handle = node.handle.clone();
        wick_ledger::service::spawn_server(handle.clone(), grpc[i], shutdown.clone())
            .await
            .map_err(|e| BenchError::Replicated(e.to_string()))?;
        nodes.push((node, handle));
    }
    Ok(nodes)
}

/// Submits `txs` (each to validator `i % n`) with at most `in_flight` waiting; returns each
/// one's latency, in submission order. A refused or failed submission is an error.
async fn submit_all(
    handles: &[LedgerHandle],
    txs: Vec<Vec<u8>>,
    in_flight: usize,
    pace: Option<Duration>,
) -> Result<Vec<Duration>, BenchError> {
    let gate = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(txs.len());
    for (i, tx) in txs.into_iter().enumerate() {
        if let Some(p) = pace {
            tokio::time::sleep_until(start + p * i as u32).await;
        }
        let permit = gate.clone().acquire_owned().await.map_err(|e| BenchError::Replicated(e.to_string()))?;
        let handle = handles[i % handles.len()].clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = handle.submit_bytes(tx).await;
            drop(permit);
            r.map(|_| t.elapsed())
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        let r = t.await.map_err(|e| BenchError::Replicated(e.to_string()))?;
        out.push(r.map_err(|e| BenchError::Replicated(format!("a submission failed: {e}")))?);
    }
    Ok(out)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// Runs the replicated benchmark; `dir` holds the validators' stores.
pub fn run(
    cfg: &ReplicatedBench,
    dir: &Path,
    mut progress: impl FnMut(&str),
) -> Result<ReplicatedReport, BenchError> {
    let senders: Vec<SigningKey> = (0..cfg.senders).map(|i| key(3, i)).collect();
    let validators: Vec<SigningKey> = (0..cfg.validators).map(|i| key(5, i)).collect();
    let genesis = genesis(&senders, &validators);
    progress("signing the workload");
    // Saturation: nonces 0..k of each sender, interleaved so each block holds many senders.
    let k = cfg.txs_per_sender;
    let per_sender: Vec<Vec<Vec<u8>>> = senders.iter().map(|s| transfers(s, 0, k)).collect();
    let saturate: Vec<Vec<u8>> = (0..k).flat_map(|n| per_sender.iter().map(move |t| t[n].clone())).collect();
    let reference = verify_reference(&saturate)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Replicated(e.to_string()))?;
    let shutdown = CancellationToken::new();
    let report = rt.block_on(async {
        progress(&format!("starting {} validators", cfg.validators));
        let nodes = start_nodes(cfg, &genesis, &validators, dir, &shutdown).await?;
        let handles: Vec<LedgerHandle> = nodes.iter().map(|(_, h)| h.clone()).collect();
        while handles.iter().any(|h| h.view().state.height < 2) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        progress(&format!("saturation: {} transfers", saturate.len()));
        let txs = saturate.len();
        let checks = || handles.iter().map(LedgerHandle::signature_checks).sum::<u64>();
        let checks_before = checks();
        let t = Instant::now();
        submit_all(&handles, saturate, cfg.in_flight, None).await?;
        let committed_tx_per_s = txs as f64 / t.elapsed().as_secs_f64();
        let checks_per_tx = (checks() - checks_before) as f64 / (txs * cfg.validators) as f64;
        let offered = committed_tx_per_s / 2.0;
        let count = ((offered * cfg.latency_seconds) as usize).max(1);
        progress(&format!("latency: {count} transfers at {offered:.0}/s"));
        let per = count.div_ceil(senders.len()).max(1);
        let mut paced: Vec<Vec<u8>> = Vec::new();
        let more: Vec<Vec<Vec<u8>>> = senders.iter().map(|s| transfers(s, k as u64, per)).collect();
        for n in 0..per {
            paced.extend(more.iter().map(|t| t[n].clone()));
        }
        paced.truncate(count);
        let pace = Duration::from_secs_f64(1.0 / offered.max(1.0));
        let mut lat = submit_all(&handles, paced, usize::MAX >> 4, Some(pace)).await?;
        lat.sort();
        shutdown.cancel();
        for (mut node, _) in nodes {
            let _ = node.wait().await;
        }
        Ok::<_, BenchError>(ReplicatedReport {
            validators: cfg.validators,
            txs,
            committed_tx_per_s,
            batch_verify_2_threads: reference,
            ratio: committed_tx_per_s * cfg.validators as f64 / reference,
            checks_per_tx,
            offered_tx_per_s: offered,
            finality_p50_ms: percentile(&lat, 0.5),
            finality_p99_ms: percentile(&lat, 0.99),
            samples: lat.len(),
        })
    })?;
    Ok(report)
}

/// The batch-verify rate of these transactions' signatures on 2 threads (batches of 64).
fn verify_reference(txs: &[Vec<u8>]) -> Result<f64, BenchError> {
    let msgs: Vec<Message> = txs
        .iter()
        .filter_map(|b| wire::decode(b).ok())
        .map(|t| {
            (ed25519_consensus::VerificationKeyBytes::from(t.tx.signer.0), t.signature, t.tx.signing_bytes())
        })
        .collect();
    let batches: Vec<&[Message]> = msgs.chunks(BATCH).collect();
    let two = pool(2)?;
    // Median of three, as the VM's speed drifts.
    let mut rates: Vec<f64> = (0..3).map(|_| batch_rate(&two, &batches)).collect();
    rates.sort_by(f64::total_cmp);
    Ok(rates[1])
}
