//! `wick devnet`: a whole Wick network on this machine — a ledger of V validators replicated by
//! BFT consensus, a router, N workers and an explorer as separate processes on loopback — set
//! up from one folder (keys, genesis, node data) that a later run can reuse with `--dir`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use wick_staking::genesis::{
    Genesis, GenesisAccount, GenesisAmount, GenesisDelegation, GenesisParams, GenesisRouter,
    GenesisValidator, GenesisWorker,
};

use crate::GlobalArgs;
use crate::devnet_process::Process;

/// Tokens every devnet account starts with, besides what it bonds.
const BALANCE: u128 = 1_000_000_000;
/// Each worker's own stake.
const WORKER_STAKE: u128 = 100_000;
/// Each staker's delegation to each worker.
const DELEGATION: u128 = 50_000;
/// The router's own bonded stake (workers serve only bonded routers' tickets).
const ROUTER_STAKE: u128 = 100_000;
/// The router's escrow: what pays for the work it attests.
const ROUTER_ESCROW: u128 = 100_000_000;
/// Stakers (delegators) in a new devnet.
const STAKERS: usize = 2;
/// Each validator's bonded stake (its voting power).
const VALIDATOR_STAKE: u128 = 100_000;

#[derive(Debug, clap::Args)]
pub struct DevnetArgs {
    /// Workers to start.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Ledger validators to start (4 tolerate one down; 1 runs a single validator).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Send this prompt through the router, print the answer and its receipt, and stop.
    #[arg(long)]
    chat: Option<String>,
    /// Folder of this devnet (keys, genesis, node data, logs); reused when it exists.
    /// Default: <home>/devnet.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Epoch length in seconds (a new devnet's genesis).
    #[arg(long, default_value_t = 20)]
    epoch_seconds: u64,
    /// Fraction of jobs the router audits.
    #[arg(long, default_value_t = 0.1)]
    audit_fraction: f64,
    /// The first validator's ledger gRPC address; validator i listens on its port + i (port 0
    /// picks free ports).
    #[arg(long, default_value = "127.0.0.1:7100")]
    ledger_grpc: SocketAddr,
    /// The first validator's consensus address; validator i listens on its port + i.
    #[arg(long, default_value = "127.0.0.1:7200")]
    ledger_p2p: SocketAddr,
    /// Router gRPC address.
    #[arg(long, default_value = "127.0.0.1:7000")]
    router_grpc: SocketAddr,
    /// Router HTTP address (OpenAI API, /metrics).
    #[arg(long, default_value = "127.0.0.1:8080")]
    router_http: SocketAddr,
    /// Explorer HTTP address (the web UI and its JSON).
    #[arg(long, default_value = "127.0.0.1:8090")]
    explorer_http: SocketAddr,
    /// Chat model of a worker, once per worker from worker 0 on (`--worker-model A
    /// --worker-model B`: worker 0 serves A, worker 1 serves B); workers without one serve the
    /// default chat model. Every worker also serves the default embedding model.
    #[arg(long = "worker-model", value_name = "NAME")]
    worker_models: Vec<String>,
    /// Device of a worker's chat model, once per worker from worker 0 on, like
    /// `--worker-model` (`--worker-device cuda:0 --worker-device cpu`); default cpu.
    #[arg(long = "worker-device", value_name = "DEVICE")]
    worker_devices: Vec<wick_models::ComputeDevice>,
    /// Test-only: the worker with this index produces wrong outputs, to exercise audits.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    corrupt_worker: Option<usize>,
}

/// The running network.
struct Devnet {
    ledgers: Vec<Process>,
    router: Process,
    workers: Vec<Process>,
    explorer: Process,
}

impl Devnet {
    fn stop(self) {
        // Front to back: no new requests, then finish the in-flight ones, then the ledger.
        self.explorer.stop(Duration::from_secs(5));
        self.router.stop(Duration::from_secs(20));
        for w in self.workers {
            w.stop(Duration::from_secs(30));
        }
        for l in self.ledgers {
            l.stop(Duration::from_secs(20));
        }
    }
}

pub fn run(global: &GlobalArgs, args: DevnetArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.workers >= 1, "--workers must be at least 1");
    anyhow::ensure!((1..=32).contains(&args.validators), "--validators must be between 1 and 32");
    let dir = args.dir.clone().unwrap_or_else(|| global.store().home().join("devnet"));
    std::fs::create_dir_all(dir.join("logs")).with_context(|| format!("while creating {}", dir.display()))?;
    let home = global.store().home().to_path_buf();

    eprintln!("devnet: fetching the models (if missing)");
    let defaults = [wick_models::DEFAULT_CHAT_MODEL, wick_models::DEFAULT_EMBEDDING_MODEL];
    for name in defaults.into_iter().chain(args.worker_models.iter().map(String::as_str)) {
        crate::models::ensure(global, name)?;
    }

    let genesis = genesis_file(&dir, args.workers, args.validators, args.epoch_seconds)?;
    let exe = std::env::current_exe().context("while locating the wick binary")?;
    let log = |name: &str| dir.join("logs").join(format!("{name}.log"));

    let ledgers = start_validators(&exe, &dir, &genesis, &args, &log)?;
    let urls: Vec<String> = ledgers.iter().map(|l| l.ready_str("grpc")).collect::<Result<_, _>>()?;
    // Every client gets every validator and fails over between them.
    let ledger_url = urls.join(",");

    let mut workers: Vec<Process> = Vec::new();
    for i in 0..args.workers {
        let key = dir.join("keys").join(format!("worker-{i}.pem")).to_string_lossy().into_owned();
        let home_arg = home.to_string_lossy().into_owned();
        let mut a: Vec<String> = [
            "--home",
            &home_arg,
            "worker",
            "--key",
            &key,
            "--grpc",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--p2p",
            "/ip4/127.0.0.1/tcp/0",
            "--ledger",
            &ledger_url,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(first) = workers.first() {
            a.extend(["--bootstrap".to_string(), first.ready_p2p()?]);
        }
        if let Some(model) = args.worker_models.get(i) {
            a.extend(["--model", model, "--model", wick_models::DEFAULT_EMBEDDING_MODEL].map(String::from));
        }
        if let Some(device) = args.worker_devices.get(i) {
            a.extend(["--device".to_string(), device.to_string()]);
        }
        #[cfg(feature = "fault-injection")]
        if args.corrupt_worker == Some(i) {
            a.push("--corrupt-outputs".into());
        }
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        workers.push(Process::start(&exe, &refs, &log(&format!("worker-{i}")))?);
    }

    let router_dir = dir.join("router").to_string_lossy().into_owned();
    let boot = workers[0].ready_p2p()?;
    let router = Process::start(
        &exe,
        &[
            "router",
            "--dir",
            &router_dir,
            "--grpc",
            &args.router_grpc.to_string(),
            "--http",
            &args.router_http.to_string(),
            "--p2p",
            "/ip4/127.0.0.1/tcp/0",
            "--bootstrap",
            &boot,
            "--ledger",
            &ledger_url,
            "--audit-fraction",
            &args.audit_fraction.to_string(),
        ],
        &log("router"),
    )?;
    let http = args.explorer_http.to_string();
    let explorer_args = ["explorer", "--ledger", &ledger_url, "--bootstrap", &boot, "--http", &http];
    let explorer = Process::start(&exe, &explorer_args, &log("explorer"))?;
    let net = Devnet { ledgers, router, workers, explorer };
    let result = serve(&net, &args, &dir, &ledger_url);
    net.stop();
    result
}

fn serve(net: &Devnet, args: &DevnetArgs, dir: &Path, ledger_url: &str) -> anyhow::Result<()> {
    let base_url = net.router.ready_str("openai_base_url")?;
    let health = format!("{}/health", base_url.trim_end_matches("/v1"));
    wait_for_workers(&health, args.workers, Duration::from_secs(120))
        .with_context(|| format!("see the logs in {}", dir.join("logs").display()))?;
    let ledgers = wick_ledger::client::endpoints(ledger_url);
    let ready = serde_json::json!({
        "event": "ready",
        "role": "devnet",
        "dir": dir,
        // The first validator (one URL, for clients that take one), then all of them.
        "ledger": ledgers.first(),
        "ledgers": ledgers,
        "router_public_key": net.router.ready["public_key"],
        "router_grpc": net.router.ready_str("grpc")?,
        "openai_base_url": base_url,
        "metrics": net.router.ready_str("metrics")?,
        "explorer": net.explorer.ready_str("http")?,
        "workers": net.workers.iter().map(|w| serde_json::json!({
            "grpc": w.ready["grpc"], "metrics": w.ready["metrics"], "public_key": w.ready["public_key"],
            "pid": w.ready["pid"],
        })).collect::<Vec<_>>(),
    });
    eprintln!("devnet: ledger   {ledger_url}");
    eprintln!("devnet: router   gRPC {}  OpenAI {base_url}", ready["router_grpc"].as_str().unwrap_or(""));
    eprintln!("devnet: metrics  {}", ready["metrics"].as_str().unwrap_or(""));
    eprintln!("devnet: explorer {}", ready["explorer"].as_str().unwrap_or(""));
    for (i, w) in net.workers.iter().enumerate() {
        eprintln!(
            "devnet: worker-{i} {} (key {})",
            w.ready["grpc"].as_str().unwrap_or(""),
            dir.join("keys").join(format!("worker-{i}.pem")).display()
        );
    }
    println!("{ready}");
    match &args.chat {
        Some(prompt) => chat(&base_url, prompt),
        None => {
            eprintln!(
                "devnet: ready; try `wick balance {} --ledger {ledger_url}`. Ctrl-C stops it.",
                dir.join("keys").join("worker-0.pem").display()
            );
            crate::gov::block_on(crate::worker::wait_for_signal())?;
            eprintln!("devnet: stopping");
            Ok(())
        }
    }
}

fn wait_for_workers(health: &str, n: usize, limit: Duration) -> anyhow::Result<()> {
    crate::gov::block_on(async {
        let started = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(health).await
                && let Ok(v) = r.json::<serde_json::Value>().await
                && v["workers"].as_u64() == Some(n as u64)
            {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!("the router did not see {n} staked workers within {} s", limit.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })?
}

/// Sends one chat request through the router and prints the answer and its receipt.
fn chat(base_url: &str, prompt: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "model": wick_models::DEFAULT_CHAT_MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": 128,
    });
    let (status, json) = crate::gov::block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{base_url}/chat/completions"))
            .json(&body)
            .send()
            .await
            .context("while calling the router")?;
        let status = resp.status();
        let json: serde_json::Value = resp.json().await.context("while reading the router's answer")?;
        anyhow::Ok((status, json))
    })??;
    if !status.is_success() {
        bail!("the router answered {status}: {}", json["error"]["message"]);
    }
    println!("{}", json["choices"][0]["message"]["content"].as_str().unwrap_or_default());
    let r = &json["wick_receipt"];
    eprintln!(
        "receipt: job {} output {} tokens {}+{}\n  worker {} signature {}\n  router {} countersignature {}",
        r["job_hash"].as_str().unwrap_or(""),
        r["output_hash"].as_str().unwrap_or(""),
        r["tokens_in"],
        r["tokens_out"],
        r["worker_public_key"].as_str().unwrap_or(""),
        r["worker_signature"].as_str().unwrap_or(""),
        r["router_public_key"].as_str().unwrap_or(""),
        r["router_signature"].as_str().unwrap_or(""),
    );
    Ok(())
}

/// The address `first` shifted by `i` ports, or a free port when `first`'s port is 0.
fn nth_addr(first: SocketAddr, i: usize) -> anyhow::Result<SocketAddr> {
    if first.port() == 0 {
        let l = std::net::TcpListener::bind(SocketAddr::new(first.ip(), 0))
            .context("while picking a free port")?;
        return Ok(l.local_addr()?);
    }
    let port = u16::try_from(usize::from(first.port()) + i).context("ports past 65535")?;
    Ok(SocketAddr::new(first.ip(), port))
}

/// Starts the validators, each with every other one as consensus peer and relay target.
fn start_validators(
    exe: &Path,
    dir: &Path,
    genesis: &Path,
    args: &DevnetArgs,
    log: &dyn Fn(&str) -> PathBuf,
) -> anyhow::Result<Vec<Process>> {
    let n = args.validators;
    let grpc: Vec<SocketAddr> = (0..n).map(|i| nth_addr(args.ledger_grpc, i)).collect::<Result<_, _>>()?;
    let p2p: Vec<SocketAddr> = (0..n).map(|i| nth_addr(args.ledger_p2p, i)).collect::<Result<_, _>>()?;
    let mut ledgers = Vec::with_capacity(n);
    for i in 0..n {
        let others = |all: &[SocketAddr], http: bool| -> String {
            let list = all
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, a)| if http { format!("http://{a}") } else { a.to_string() });
            list.collect::<Vec<_>>().join(",")
        };
        let mut a: Vec<String> = vec![
            "ledger".into(),
            "--genesis".into(),
            genesis.to_string_lossy().into_owned(),
            "--dir".into(),
            dir.join(format!("ledger-{i}")).to_string_lossy().into_owned(),
            "--grpc".into(),
            grpc[i].to_string(),
            "--validator-key".into(),
            dir.join("keys").join(format!("validator-{i}.pem")).to_string_lossy().into_owned(),
            "--p2p".into(),
            p2p[i].to_string(),
        ];
        if n > 1 {
            a.extend(["--peer".into(), others(&p2p, false), "--relay".into(), others(&grpc, true)]);
        }
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        ledgers.push(Process::start(exe, &refs, &log(&format!("ledger-{i}")))?);
    }
    Ok(ledgers)
}

/// Writes a new devnet's keys and genesis, or returns the existing genesis.
fn genesis_file(
    dir: &Path,
    workers: usize,
    validators: usize,
    epoch_seconds: u64,
) -> anyhow::Result<PathBuf> {
    let path = dir.join("genesis.toml");
    let keys = dir.join("keys");
    let key_at = |p: PathBuf| -> anyhow::Result<SigningKey> {
        wick_net::identity::load_or_create(&p)
            .with_context(|| format!("while creating the key {}", p.display()))
    };
    let key = |name: String| key_at(keys.join(format!("{name}.pem")));
    let worker_keys: Vec<SigningKey> =
        (0..workers).map(|i| key(format!("worker-{i}"))).collect::<Result<_, _>>()?;
    let validator_keys: Vec<SigningKey> =
        (0..validators).map(|i| key(format!("validator-{i}"))).collect::<Result<_, _>>()?;
    if path.exists() {
        let g = Genesis::from_file(&path)?;
        if g.validators.len() != validators {
            bail!(
                "{} was made for {} validators; pass --validators {} or a new --dir",
                path.display(),
                g.validators.len(),
                g.validators.len()
            );
        }
        for k in &worker_keys {
            let hex_addr = hex::encode(k.verifying_key().to_bytes());
            if !g.workers.iter().any(|w| w.address == hex_addr) {
                bail!(
                    "{} was made for fewer workers; pass --workers {} or a new --dir",
                    path.display(),
                    g.workers.len()
                );
            }
        }
        return Ok(path);
    }
    let staker_keys: Vec<SigningKey> =
        (0..STAKERS).map(|i| key(format!("staker-{i}"))).collect::<Result<_, _>>()?;
    let hex_of = |k: &SigningKey| hex::encode(k.verifying_key().to_bytes());
    // Where `wick router --dir <dir>/router` keeps its key.
    let router_key = key_at(dir.join("router").join("keys").join("router.pem"))?;
    let accounts = worker_keys
        .iter()
        .chain(&staker_keys)
        .chain(&validator_keys)
        .chain(std::iter::once(&router_key))
        .map(|k| GenesisAccount { address: hex_of(k), balance: GenesisAmount(BALANCE) })
        .collect();
    let genesis = Genesis {
        chain_id: "wick-devnet".into(),
        epoch_seconds,
        params: GenesisParams::default(),
        accounts,
        workers: worker_keys
            .iter()
            .map(|k| GenesisWorker {
                address: hex_of(k),
                commission_bps: 1_000,
                stake: GenesisAmount(WORKER_STAKE),
            })
            .collect(),
        delegations: staker_keys
            .iter()
            .flat_map(|s| {
                worker_keys.iter().map(move |w| GenesisDelegation {
                    delegator: hex_of(s),
                    worker: hex_of(w),
                    amount: GenesisAmount(DELEGATION),
                })
            })
            .collect(),
        routers: vec![GenesisRouter {
            address: hex_of(&router_key),
            stake: GenesisAmount(ROUTER_STAKE),
            escrow: GenesisAmount(ROUTER_ESCROW),
        }],
        validators: validator_keys
            .iter()
            .map(|k| GenesisValidator { address: hex_of(k), stake: GenesisAmount(VALIDATOR_STAKE) })
            .collect(),
    };
    std::fs::write(&path, genesis.to_toml()).with_context(|| format!("while writing {}", path.display()))?;
    Ok(path)
}
