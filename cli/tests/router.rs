//! A router and two workers as real processes on loopback; the router finds the workers only
//! through libp2p (its one bootstrap peer is a worker's p2p address, never a gRPC endpoint).

mod support;

use std::time::{Duration, Instant};

use prost::Message;
use support::{Node, base, chat, generate, metric, start_router, wait_for_workers};
use wick_proto::signing;
use wick_proto::v1::{SignedReceipt, generate_response};

struct Network {
    router: Node,
    workers: Vec<Node>,
    _dir: tempfile::TempDir,
}

fn p2p(node: &Node) -> String {
    node.ready["p2p"][0].as_str().expect("p2p address").to_string()
}

/// A router and one worker per entry of `workers` (each entry: extra worker flags). The first
/// worker is everyone's bootstrap peer; waits (bounded) until the router knows every worker.
async fn network_of(workers: &[&[&str]], router_extra: &[&str]) -> Network {
    let first = Node::worker(workers[0]);
    let boot = p2p(&first);
    let mut nodes = vec![first];
    for extra in &workers[1..] {
        let mut args = vec!["--bootstrap", boot.as_str()];
        args.extend_from_slice(extra);
        nodes.push(Node::worker(&args));
    }
    let dir = tempfile::tempdir().expect("dir");
    let router_dir = dir.path().to_string_lossy().into_owned();
    let mut extra = vec!["--bootstrap", boot.as_str()];
    extra.extend_from_slice(router_extra);
    let router = start_router(&router_dir, &extra, &[]);
    wait_for_workers(&router, workers.len()).await;
    Network { router, workers: nodes, _dir: dir }
}

fn decode_receipt(hex_text: &str) -> SignedReceipt {
    SignedReceipt::decode(&*support::hex_decode(hex_text)).expect("receipt protobuf")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_chat_through_discovered_workers() {
    let net = network_of(&[&[], &[]], &["--audit-fraction", "0"]).await;
    support::reflection::assert_lists(&net.router.grpc(), "wick.v1.Inference").await;
    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "temperature": 0, "max_tokens": 32,
    });
    let resp = client
        .post(format!("{}/chat/completions", base(&net.router)))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let header =
        resp.headers().get("x-wick-receipt").expect("receipt header").to_str().expect("ascii").to_string();
    let json: serde_json::Value = resp.json().await.expect("json");
    let text = json["choices"][0]["message"]["content"].as_str().expect("content");
    assert!(text.contains("Paris"), "{text}");
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    let receipt = decode_receipt(&header);
    signing::verify_countersigned(&receipt).expect("worker signature and router countersignature verify");

    // Streaming: chunks, a final chunk with the receipt, then [DONE].
    let mut streamed = body.clone();
    streamed["stream"] = serde_json::json!(true);
    let sse = client
        .post(format!("{}/chat/completions", base(&net.router)))
        .json(&streamed)
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("body");
    let events: Vec<&str> = sse.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let mut joined = String::new();
    let mut receipt_seen = false;
    for e in &events[..events.len() - 1] {
        let v: serde_json::Value = serde_json::from_str(e).expect("chunk json");
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            joined.push_str(t);
        }
        if let Some(r) = v["wick_receipt"]["protobuf"].as_str() {
            signing::verify_countersigned(&decode_receipt(r)).expect("streamed receipt verifies");
            receipt_seen = true;
        }
    }
    assert_eq!(joined, text, "stream and non-stream agree");
    assert!(receipt_seen);

    // Errors use OpenAI's body and status codes.
    let bad = client
        .post(format!("{}/chat/completions", base(&net.router)))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    let err: serde_json::Value = bad.json().await.expect("json");
    assert_eq!(err["error"]["type"], "invalid_request_error");
    let missing = serde_json::json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]});
    let resp = client
        .post(format!("{}/chat/completions", base(&net.router)))
        .json(&missing)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 503);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert!(err["error"]["message"].as_str().is_some_and(|m| m.contains("`nope`")), "{err}");

    // Clients no one in the project wrote: the official `openai` package and grpcio stubs
    // generated from proto/.
    let out = support::python(&["openai_client.py", &base(&net.router)]);
    assert_eq!(out["chat"], text, "{out}");
    assert_eq!(out["stream"], text, "{out}");
    assert_eq!(out["chat_finish"], "stop");
    assert_eq!(out["stream_finish"], "stop");
    assert_eq!(out["stream_usage"], out["chat_usage"]);
    let streamed_receipt = out["stream_receipt"]["protobuf"].as_str().expect("receipt in the final chunk");
    signing::verify_countersigned(&decode_receipt(streamed_receipt)).expect("receipt verifies");
    assert_eq!(out["embedding_dims"], serde_json::json!([384, 384]));
    let models = out["models"].as_array().expect("models");
    for name in ["smollm2-135m-instruct", "minilm-l6-v2"] {
        assert!(models.iter().any(|m| m == name), "{out}");
    }
    let grpc_target = net.router.grpc().trim_start_matches("http://").to_string();
    let out = support::python(&["grpc_client.py", &grpc_target, "What is the capital of France?"]);
    assert_eq!(out["text"], text, "{out}");
    assert_eq!(out["finish"], "FINISH_REASON_STOP");
    assert_eq!(out["receipt"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_mid_stream_keeps_the_text_identical() {
    // The workers also serve direct calls, for the fault-free reference below.
    let dev: &[&str] = &["--model", "smollm2-135m-instruct", "--dev-unticketed"];
    let mut net = network_of(&[dev, dev], &["--audit-fraction", "0"]).await;
    let router_grpc = net.router.grpc();
    let mut client =
        wick_proto::v1::inference_client::InferenceClient::connect(router_grpc).await.expect("connect");
    let mut req = chat("Write a long story about a dragon.", 120, 0.0, 0);
    if let Some(p) = req.params.as_mut() {
        p.ignore_eos = true;
    }
    // The fault-free text, straight from a worker: every worker gives the same tokens.
    let mut direct = net.workers[0].client().await;
    let reference = generate(&mut direct, req.clone()).await.expect("fault-free run");
    assert_eq!(reference.tokens.len(), 120);

    let mut stream = client.generate(req).await.expect("start").into_inner();
    let mut text = String::new();
    let mut tokens = Vec::new();
    let mut killed = false;
    while let Some(msg) = stream.message().await.expect("stream survives the failure") {
        match msg.event {
            Some(generate_response::Event::Delta(d)) => {
                text.push_str(&d.text);
                tokens.extend(d.token_ids);
                if !killed && tokens.len() >= 20 {
                    // Kill the worker the router sent this job to: its only routed job so far.
                    let page =
                        reqwest::get(net.router.metrics_url()).await.expect("m").text().await.expect("t");
                    let busy = net
                        .workers
                        .iter()
                        .position(|w| {
                            page.lines().any(|l| l.starts_with("wick_router_routed") && l.contains(&w.grpc()))
                        })
                        .expect("a routed worker");
                    let victim = &mut net.workers[busy];
                    victim.child.kill().expect("SIGKILL");
                    killed = true;
                }
            }
            Some(generate_response::Event::Done(done)) => {
                signing::verify_countersigned(&done.receipt.expect("receipt")).expect("receipt verifies");
            }
            None => {}
        }
    }
    assert!(killed);
    assert_eq!(tokens, reference.tokens, "the resumed stream continues exactly");
    assert_eq!(text, reference.text);
    let page = reqwest::get(net.router.metrics_url()).await.expect("m").text().await.expect("t");
    assert_eq!(metric(&page, "wick_router_retries_total{value=\"failover\"}"), Some(1.0), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs `--features fault-injection` (scripts/test.sh passes it)"
)]
async fn an_audit_catches_a_corrupt_worker_and_excludes_it() {
    let chat: &[&str] = &["--model", "smollm2-135m-instruct"];
    let corrupt: &[&str] = &["--model", "smollm2-135m-instruct", "--corrupt-outputs"];
    // Three workers, so a third execution decides which of two disagreeing workers lied.
    let net = network_of(&[chat, chat, corrupt], &["--audit-fraction", "1"]).await;
    let corrupt_endpoint = net.workers[2].grpc();
    let mut client =
        wick_proto::v1::inference_client::InferenceClient::connect(net.router.grpc()).await.expect("connect");
    let started = Instant::now();
    let mut page = String::new();
    for i in 0..40 {
        let req = chat_request(&format!("Name a colour. ({i})"));
        generate(&mut client, req).await.expect("generation");
        page = reqwest::get(net.router.metrics_url()).await.expect("m").text().await.expect("t");
        if metric(&page, "wick_router_audits_total{value=\"fraud\"}").unwrap_or(0.0) >= 1.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(240), "no fraud found in time:\n{page}");
    }
    assert!(metric(&page, "wick_router_audits_total{value=\"fraud\"}").unwrap_or(0.0) >= 1.0, "{page}");
    wait_for_workers(&net.router, 2).await;

    // The corrupt worker gets no more traffic.
    let routed = |page: &str| {
        page.lines()
            .filter(|l| l.starts_with("wick_router_routed") && l.contains(&corrupt_endpoint))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = routed(&page);
    for i in 0..6 {
        let done = generate(&mut client, chat_request(&format!("Count to {i}."))).await.expect("generation");
        let receipt = done.done.and_then(|d| d.receipt).and_then(|r| r.receipt).expect("receipt");
        assert_ne!(receipt.worker_public_key, net.workers[2].public_key(), "excluded worker served a job");
    }
    let page = reqwest::get(net.router.metrics_url()).await.expect("m").text().await.expect("t");
    assert_eq!(routed(&page), before, "{page}");
}

fn chat_request(prompt: &str) -> wick_proto::v1::GenerateRequest {
    chat(prompt, 8, 0.0, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_rate_limits_and_body_limits() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("router.toml");
    std::fs::write(
        &config,
        "max_body_bytes = 2048\n[[api_keys]]\nkey = \"secret\"\nrequests_per_second = 0.01\nburst = 3\n",
    )
    .expect("config");
    let router_dir = dir.path().join("router").to_string_lossy().into_owned();
    let config = config.to_string_lossy().into_owned();
    let router = start_router(&router_dir, &["--config", &config], &[]);
    let client = reqwest::Client::new();
    let models = format!("{}/models", base(&router));
    let resp = client.get(&models).send().await.expect("get");
    assert_eq!(resp.status(), 401);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["code"], "invalid_api_key");
    let resp = client.get(&models).bearer_auth("wrong").send().await.expect("get");
    assert_eq!(resp.status(), 401);
    assert_eq!(client.get(&models).bearer_auth("secret").send().await.expect("get").status(), 200);

    let big = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let resp = client
        .post(format!("{}/chat/completions", base(&router)))
        .bearer_auth("secret")
        .json(&big)
        .send()
        .await;
    let resp = resp.expect("post");
    assert_eq!(resp.status(), 413);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["code"], "request_too_large");

    // gRPC: the key goes in `authorization` metadata; it spends the last of the burst (3).
    let mut grpc =
        wick_proto::v1::inference_client::InferenceClient::connect(router.grpc()).await.expect("connect");
    let status = grpc.list_models(wick_proto::v1::ListModelsRequest {}).await.expect_err("no key");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let with_key = || {
        let mut req = tonic::Request::new(wick_proto::v1::ListModelsRequest {});
        req.metadata_mut().insert("authorization", "Bearer secret".parse().expect("metadata"));
        req
    };
    grpc.list_models(with_key()).await.expect("third request of the burst");
    let status = grpc.list_models(with_key()).await.expect_err("over the limit");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let resp = client.get(&models).bearer_auth("secret").send().await.expect("get");
    assert_eq!(resp.status(), 429);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["type"], "rate_limit_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_workers_staked_on_the_ledger_get_traffic() {
    use wick_staking::genesis::{Genesis, GenesisAccount, GenesisAmount, GenesisParams, GenesisWorker};
    let staked = Node::worker(&["--model", "smollm2-135m-instruct"]);
    let boot = p2p(&staked);
    let _unstaked = Node::worker(&["--model", "smollm2-135m-instruct", "--bootstrap", &boot]);
    let dir = tempfile::tempdir().expect("dir");
    let address = hex::encode(staked.public_key());
    let genesis = Genesis {
        chain_id: "wick-test".into(),
        epoch_seconds: 60,
        params: GenesisParams::default(),
        accounts: vec![GenesisAccount { address: address.clone(), balance: GenesisAmount(1_000) }],
        workers: vec![GenesisWorker { address, commission_bps: 0, stake: GenesisAmount(1_000) }],
        delegations: Vec::new(),
        routers: Vec::new(),
        validators: Vec::new(),
    };
    let genesis_path = dir.path().join("genesis.toml");
    std::fs::write(&genesis_path, genesis.to_toml()).expect("genesis");
    let (g, l, r) = (
        genesis_path.to_string_lossy().into_owned(),
        dir.path().join("ledger").to_string_lossy().into_owned(),
        dir.path().join("router").to_string_lossy().into_owned(),
    );
    let ledger = Node::start(&["ledger", "--genesis", &g, "--dir", &l, "--grpc", "127.0.0.1:0"]);
    let ledger_url = ledger.ready["grpc"].as_str().expect("ledger endpoint").to_string();
    let router =
        start_router(&r, &["--bootstrap", &boot, "--ledger", &ledger_url, "--audit-fraction", "0"], &[]);
    // Both workers are discovered; the ledger vouches for one.
    let started = Instant::now();
    while !router.log().contains("is not staked on the ledger") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the unstaked worker was never checked:\n{}",
            router.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_workers(&router, 1).await;
    let mut client =
        wick_proto::v1::inference_client::InferenceClient::connect(router.grpc()).await.expect("connect");
    for i in 0..6 {
        let done = generate(&mut client, chat_request(&format!("Count to {i}."))).await.expect("generation");
        let receipt = done.done.and_then(|d| d.receipt).and_then(|r| r.receipt).expect("receipt");
        assert_eq!(receipt.worker_public_key, staked.public_key(), "an unstaked worker served a job");
    }
}

/// The 32-hex-digit job id in a log line (log lines may carry ANSI colour codes around fields).
fn job_id_in(line: &str) -> Option<&str> {
    line.split(|c: char| !c.is_ascii_hexdigit()).find(|t| t.len() == 32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_id_follows_a_request_through_the_router_and_worker_logs() {
    let info = [("RUST_LOG", "info")];
    let worker = Node::worker_with_env(&["--model", "smollm2-135m-instruct"], &info);
    let dir = tempfile::tempdir().expect("dir");
    let router_dir = dir.path().to_string_lossy().into_owned();
    let router = start_router(&router_dir, &["--bootstrap", &p2p(&worker), "--audit-fraction", "0"], &info);
    wait_for_workers(&router, 1).await;
    let body = serde_json::json!({
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "Hi!"}],
        "max_tokens": 4,
    });
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", base(&router)))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);

    let router_log = router.log();
    let job = router_log
        .lines()
        .find(|l| l.contains("sending the job"))
        .and_then(job_id_in)
        .unwrap_or_else(|| panic!("no job id in the router's log:\n{router_log}"))
        .to_string();
    for step in ["generation", "receipt countersigned"] {
        assert!(
            router_log.lines().any(|l| l.contains(step) && l.contains(&job)),
            "router: no `{step}` line for job {job}:\n{router_log}"
        );
    }
    let worker_log = worker.log();
    for step in ["job accepted", "admitted to the batch", "receipt signed"] {
        assert!(
            worker_log.lines().any(|l| l.contains(step) && l.contains(&job)),
            "worker: no `{step}` line for job {job}:\n{worker_log}"
        );
    }
}
