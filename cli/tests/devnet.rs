//! The whole path with real processes: `wick devnet` starts a ledger, a router and workers on
//! loopback; requests go through the router, receipts become work claims and attestations, the
//! ledger pays, a killed worker is failed over invisibly and a lying worker is slashed.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost::Message;
use support::{Node, chat, devnet_args, generate, metric};
use wick_ledger::client::Client;
use wick_proto::signing;
use wick_proto::v1::SignedReceipt;
use wick_staking::Address;
use wick_staking::genesis::Genesis;

/// A running devnet and its folder.
struct Devnet {
    node: Node,
    dir: tempfile::TempDir,
}

impl Devnet {
    fn start(extra: &[&str]) -> Devnet {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path().to_string_lossy().into_owned();
        let mut args = devnet_args(&d);
        args.extend_from_slice(extra);
        Devnet { node: Node::start(&args), dir }
    }

    fn str(&self, field: &str) -> String {
        self.node.ready[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field}: {}", self.node.ready))
            .to_string()
    }

    fn worker_keys(&self) -> Vec<Vec<u8>> {
        let workers = self.node.ready["workers"].as_array().expect("workers");
        workers.iter().map(|w| support::hex_decode(w["public_key"].as_str().expect("key"))).collect()
    }

    async fn ledger(&self) -> Client {
        Client::connect(&self.str("ledger")).await.expect("ledger")
    }

    async fn router(&self) -> wick_proto::v1::inference_client::InferenceClient<tonic::transport::Channel> {
        wick_proto::v1::inference_client::InferenceClient::connect(self.str("router_grpc"))
            .await
            .expect("router")
    }

    fn genesis(&self) -> Genesis {
        Genesis::from_file(&self.dir.path().join("genesis.toml")).expect("genesis")
    }

    async fn metrics(&self) -> String {
        reqwest::get(self.str("metrics")).await.expect("metrics").text().await.expect("text")
    }
}

fn addr(hex_text: &str) -> Address {
    wick_staking::genesis::parse_address(hex_text).expect("address")
}

fn amount(s: &str) -> u128 {
    s.parse().expect("amount")
}

#[test]
fn the_readme_chat_command_answers_and_stops() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().to_string_lossy().into_owned();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wick"))
        .args(devnet_args(&d))
        .args(["--chat", "What is the capital of France?"])
        .output()
        .expect("run devnet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Paris"), "{stdout}");
    assert!(stderr.contains("receipt:") && stderr.contains("countersignature"), "{stderr}");
    assert!(stdout.lines().any(|l| l.contains("\"event\":\"ready\"")), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_is_claimed_attested_and_paid_by_the_documented_formula() {
    let net = Devnet::start(&["--epoch-seconds", "20", "--audit-fraction", "0"]);
    let mut ledger = net.ledger().await;
    let genesis = net.genesis();

    // Start right at a fresh epoch so every job lands in that epoch's receipt window.
    let first = ledger.epoch().await.expect("epoch").epoch;
    let started = Instant::now();
    while ledger.epoch().await.expect("epoch").epoch == first {
        assert!(started.elapsed() < Duration::from_secs(60), "the epoch did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let epoch = ledger.epoch().await.expect("epoch");
    let rewards_before = rewards_of_all(&mut ledger, &genesis).await;

    let mut router = net.router().await;
    let mut tokens_by_worker: BTreeMap<Vec<u8>, u128> = BTreeMap::new();
    for i in 0..4 {
        let done =
            generate(&mut router, chat(&format!("Say a number ({i})."), 8, 0.0, 0)).await.expect("chat");
        let r = done.done.and_then(|d| d.receipt).and_then(|r| r.receipt).expect("receipt");
        // Token-thousandths at the ticket's price: what the pair is paid, floored once.
        *tokens_by_worker.entry(r.worker_public_key.clone()).or_default() +=
            u128::from(r.tokens_in + r.tokens_out) * u128::from(r.price_per_1k_tokens);
        let cut = epoch.ends_unix_ms - epoch.epoch_seconds * 1000 / 4;
        assert!(r.finished_unix_ms < cut, "jobs took too long to stay in one epoch window");
    }

    // Wait for the epoch to end and settle.
    let started = Instant::now();
    while ledger.epoch().await.expect("epoch").epoch == epoch.epoch {
        assert!(started.elapsed() < Duration::from_secs(60), "the epoch did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rewards_after = rewards_of_all(&mut ledger, &genesis).await;

    // The formula of the staking crate's docs, from the genesis stakes.
    let params = ledger.raw().params(wick_proto::v1::ParamsRequest {}).await.expect("params").into_inner();
    let reward = amount(&params.epoch_reward);
    let work_fee_bps = u128::from(params.work_fee_bps);
    let stake_of = |w: &str| -> u128 {
        let own = genesis.workers.iter().find(|g| g.address == w).map_or(0, |g| g.stake.0);
        own + genesis.delegations.iter().filter(|d| d.worker == w).map(|d| d.amount.0).sum::<u128>()
    };
    // Step 1: each (worker, router) pair is paid its receipts' worth from the router's escrow.
    let paid_to = |w: &str| tokens_by_worker.get(&support::hex_decode(w)).copied().unwrap_or(0) / 1000;
    let total: u128 = genesis.workers.iter().map(|w| paid_to(&w.address)).sum();
    let mut expected: BTreeMap<String, u128> = BTreeMap::new();
    for w in &genesis.workers {
        // Steps 2–4: the work fee is burned, the inflation share (capped by it) minted.
        let p = paid_to(&w.address);
        let fee = p * work_fee_bps / 10_000;
        let minted = (reward * p).checked_div(total).unwrap_or(0).min(fee);
        let paid = p - fee + minted;
        let commission = paid * u128::from(w.commission_bps) / 10_000;
        let mut to_delegators = 0;
        for d in genesis.delegations.iter().filter(|d| d.worker == w.address) {
            let share = (paid - commission) * d.amount.0 / stake_of(&w.address);
            *expected.entry(d.delegator.clone()).or_default() += share;
            to_delegators += share;
        }
        *expected.entry(w.address.clone()).or_default() += paid - to_delegators;
    }
    for (account, want) in &expected {
        let got = rewards_after[account] - rewards_before[account];
        assert_eq!(got, *want, "rewards of {account} (served tokens: {tokens_by_worker:?})");
    }
    assert!(expected.values().any(|v| *v > 0));

    // The unmodified `openai` package through the devnet gives what `wick generate` gives, with
    // a receipt that verifies against a worker's and the router's keys.
    let out = support::python(&["openai_client.py", &net.str("openai_base_url")]);
    let direct = std::process::Command::new(env!("CARGO_BIN_EXE_wick"))
        .args([
            "generate",
            "--temperature",
            "0",
            "--max-tokens",
            "32",
            "--seed",
            "7",
            "What is the capital of France?",
        ])
        .output()
        .expect("wick generate");
    assert!(direct.status.success(), "{}", String::from_utf8_lossy(&direct.stderr));
    assert_eq!(
        out["chat"].as_str().map(str::trim),
        Some(String::from_utf8_lossy(&direct.stdout).trim()),
        "{out}"
    );
    let receipt = SignedReceipt::decode(&*support::hex_decode(
        out["stream_receipt"]["protobuf"].as_str().expect("receipt"),
    ))
    .expect("receipt protobuf");
    signing::verify_countersigned(&receipt).expect("both signatures verify");
    let worker_key = receipt.receipt.as_ref().expect("receipt").worker_public_key.clone();
    assert!(net.worker_keys().contains(&worker_key));
    assert_eq!(receipt.router_public_key, support::hex_decode(&net.str("router_public_key")));
}

async fn rewards_of_all(ledger: &mut Client, genesis: &Genesis) -> BTreeMap<String, u128> {
    let mut out = BTreeMap::new();
    for a in &genesis.accounts {
        let acc = ledger.account(&addr(&a.address)).await.expect("account");
        out.insert(a.address.clone(), amount(&acc.rewards));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_worker_under_twenty_streams_changes_no_text() {
    let net = Devnet::start(&["--audit-fraction", "0"]);
    let requests: Vec<_> = (0..20)
        .map(|i| {
            let mut r = chat(&format!("Tell me a fact about the number {i}."), 40, 0.0, 0);
            if let Some(p) = r.params.as_mut() {
                p.ignore_eos = true;
            }
            r
        })
        .collect();
    let workers = net.node.ready["workers"].as_array().expect("workers").clone();
    let run_all = |kill: bool| {
        let requests = requests.clone();
        let workers = workers.clone();
        let router = net.str("router_grpc");
        async move {
            let deltas = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for req in requests {
                let (router, deltas) = (router.clone(), deltas.clone());
                tasks.push(tokio::spawn(async move {
                    let mut client = wick_proto::v1::inference_client::InferenceClient::connect(router)
                        .await
                        .expect("router");
                    let mut stream = client.generate(req).await.expect("start").into_inner();
                    let mut text = String::new();
                    while let Some(msg) = stream.message().await.expect("stream completes") {
                        if let Some(wick_proto::v1::generate_response::Event::Delta(d)) = msg.event {
                            text.push_str(&d.text);
                            deltas.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    text
                }));
            }
            if kill {
                // Mid-stream: once every stream has had a few tokens on average.
                let started = Instant::now();
                while deltas.load(Ordering::Relaxed) < 20 * 8 {
                    assert!(started.elapsed() < Duration::from_secs(120), "streams did not start");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // The router spreads by each worker's speed, which a busy machine skews: kill
                // the worker holding the most streams, so there is always one to fail over.
                let pid = busiest_worker_pid(&workers).await;
                let status =
                    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
                assert!(status.success());
            }
            let mut texts = Vec::new();
            for t in tasks {
                texts.push(t.await.expect("task"));
            }
            texts
        }
    };
    let reference = run_all(false).await;
    let faulted = run_all(true).await;
    for (i, (a, b)) in reference.iter().zip(&faulted).enumerate() {
        assert_eq!(a, b, "stream {i} differs after the failover");
    }
    let page = net.metrics().await;
    assert!(metric(&page, "wick_router_retries_total{value=\"failover\"}").unwrap_or(0.0) >= 1.0, "{page}");
}

/// The pid of the devnet worker with the most sequences running or waiting; it must have one.
async fn busiest_worker_pid(workers: &[serde_json::Value]) -> u32 {
    let mut busiest = (0.0, 0);
    for w in workers {
        let page = reqwest::get(w["metrics"].as_str().expect("metrics")).await.expect("metrics");
        let page = page.text().await.expect("text");
        let load = metric(&page, "wick_num_requests_running").unwrap_or(0.0)
            + metric(&page, "wick_num_requests_waiting").unwrap_or(0.0);
        if load > busiest.0 {
            busiest = (load, w["pid"].as_u64().expect("pid") as u32);
        }
    }
    assert!(busiest.0 > 0.0, "no worker holds a stream to kill");
    busiest.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs `--features fault-injection` (scripts/test.sh passes it)"
)]
async fn a_lying_worker_is_audited_slashed_and_dropped() {
    let net = Devnet::start(&["--workers", "3", "--corrupt-worker", "2", "--audit-fraction", "1"]);
    let keys = net.worker_keys();
    let liar = addr(&hex::encode(&keys[2]));
    let mut ledger = net.ledger().await;
    let stake_before = amount(&ledger.worker(&liar).await.expect("worker").self_stake);
    let mut router = net.router().await;
    let started = Instant::now();
    loop {
        generate(&mut router, chat("Name a colour.", 8, 0.0, 0)).await.expect("chat");
        let w = ledger.worker(&liar).await.expect("worker");
        if w.jailed {
            assert!(amount(&w.self_stake) < stake_before, "jailed without a slash: {w:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the liar was not slashed:\n{}",
            net.metrics().await
        );
    }
    // No more traffic for it.
    for i in 0..6 {
        let done = generate(&mut router, chat(&format!("Count to {i}."), 8, 0.0, 0)).await.expect("chat");
        let r = done.done.and_then(|d| d.receipt).and_then(|r| r.receipt).expect("receipt");
        assert_ne!(r.worker_public_key, keys[2], "the slashed worker served a job");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_models_on_two_workers_behind_one_router_each_audited_only_against_its_own() {
    let (smollm, qwen) = (wick_models::DEFAULT_CHAT_MODEL, wick_models::QWEN_CODER_05B);
    let net = Devnet::start(&["--worker-model", smollm, "--worker-model", qwen, "--audit-fraction", "1"]);
    let keys = net.worker_keys();
    let mut router = net.router().await;
    let jobs = [
        (smollm, "What is the capital of France?", "Paris"),
        (qwen, "Write a Python function that reverses a string.", "def "),
    ];
    for (worker, (model, prompt, expected)) in jobs.into_iter().enumerate() {
        let mut req = chat(prompt, 64, 0.0, 0);
        req.model = model.to_string();
        let out = generate(&mut router, req).await.expect("generation");
        assert!(out.text.contains(expected), "{model}: {}", out.text);
        let signed = out.done.and_then(|d| d.receipt).expect("receipt");
        signing::verify_countersigned(&signed).expect("worker signature and router countersignature verify");
        let receipt = signed.receipt.expect("receipt body");
        assert_eq!(receipt.worker_public_key, keys[worker], "{model} ran on the worker that serves it");
        let id = wick_models::catalog::find(model).expect("catalog").weights().sha256;
        assert_eq!(hex::encode(&receipt.model_id), id, "the receipt names the model's weights");
    }
    // Every job is audited, and each model has one worker: no other worker may re-run the job.
    let started = Instant::now();
    let mut page = net.metrics().await;
    while metric(&page, "wick_router_audits_total{value=\"no_auditor\"}") != Some(2.0) {
        assert!(started.elapsed() < Duration::from_secs(60), "audits did not finish:\n{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        page = net.metrics().await;
    }
    for outcome in ["passed", "fraud", "disputed", "error"] {
        let line = format!("wick_router_audits_total{{value=\"{outcome}\"}}");
        assert_eq!(metric(&page, &line), None, "no audit compared two models: {page}");
    }
}

/// A worker on the GPU code path beside a CPU worker, one model: each receipt names its worker's
/// numeric class, and no audit compares the two (each finds no auditor). The router prefers the
/// faster worker, so once audits of its jobs are done it is killed and the next jobs go to the
/// other. Here the second worker runs candle's CPU backend; `scripts/gpu-check.sh` runs the same
/// test with a GPU (`WICK_TEST_GPU_DEVICE=cuda:0`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_classes_are_never_compared_across() {
    let device = std::env::var("WICK_TEST_GPU_DEVICE").unwrap_or_else(|_| "candle-cpu".into());
    let net = Devnet::start(&["--worker-device", "cpu", "--worker-device", &device, "--audit-fraction", "1"]);
    let keys = net.worker_keys();
    let mut router = net.router().await;
    let mut classes: BTreeMap<Vec<u8>, String> = BTreeMap::new();
    let mut jobs = 0;
    let mut killed = false;
    while classes.len() < 2 {
        assert!(jobs < 8, "one worker served every job: {classes:?}");
        if jobs == 3 && classes.len() == 1 {
            // Every audit so far ran with both workers up and found no auditor of the class.
            wait_for_audits(&net, jobs).await;
            let served = keys.iter().position(|k| classes.contains_key(k)).expect("a worker served");
            let pid = net.node.ready["workers"][served]["pid"].as_u64().expect("pid");
            std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
            killed = true;
        }
        let out =
            generate(&mut router, chat(&format!("Name {jobs} fruits."), 6, 0.0, 0)).await.expect("chat");
        let signed = out.done.and_then(|d| d.receipt).expect("receipt");
        signing::verify_countersigned(&signed).expect("signatures");
        let r = signed.receipt.expect("receipt body");
        classes.insert(r.worker_public_key, r.numeric_class);
        jobs += 1;
    }
    assert!(killed || jobs <= 3, "the kill let the other worker serve");
    assert_eq!(classes[&keys[0]], "cpu-v1");
    let gpu_class = &classes[&keys[1]];
    assert!(
        gpu_class.starts_with(if device == "candle-cpu" { "candle-cpu-" } else { "cuda-" }),
        "{gpu_class}"
    );
    wait_for_audits(&net, jobs).await;
}

/// Waits (bounded) until `jobs` audits found no auditor, and checks that none compared outputs.
async fn wait_for_audits(net: &Devnet, jobs: usize) {
    let started = Instant::now();
    let mut page = net.metrics().await;
    while metric(&page, "wick_router_audits_total{value=\"no_auditor\"}") != Some(jobs as f64) {
        assert!(started.elapsed() < Duration::from_secs(60), "audits did not finish ({jobs} jobs):\n{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        page = net.metrics().await;
    }
    for outcome in ["passed", "fraud", "disputed", "error"] {
        let line = format!("wick_router_audits_total{{value=\"{outcome}\"}}");
        assert_eq!(metric(&page, &line), None, "an audit compared two classes: {page}");
    }
}
