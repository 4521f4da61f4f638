//! A router and two workers as real processes on loopback; the router finds the workers only
//! through libp2p (its one bootstrap peer is a worker's p2p address, never a gRPC endpoint).

mod support;

use std::time::{Duration, Instant};

use prost::Message;
use support::{Node, chat, generate, metric};
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

/// Router + two chat workers; waits (bounded) until the router knows both.
async fn network(audit: &str, corrupt_second: bool) -> Network {
    let first = Node::worker(&["--model", "smollm2-135m-instruct"]);
    let boot = p2p(&first);
    let mut second_args = vec!["--model", "smollm2-135m-instruct", "--bootstrap", &boot];
    if corrupt_second {
        second_args.push("--corrupt-outputs");
    }
    let second = Node::worker(&second_args);
    let dir = tempfile::tempdir().expect("dir");
    let router_dir = dir.path().to_string_lossy().into_owned();
    let router = Node::start(&[
        "router", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0", "--p2p", "/ip4/127.0.0.1/tcp/0",
        "--bootstrap", &boot, "--audit-fraction", audit, "--dir", &router_dir,
    ]);
    let health = format!("{}/health", base(&router).trim_end_matches("/v1"));
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(&health).await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && v["workers"] == 2
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "router did not discover both workers:\n{}", router.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Network { router, workers: vec![first, second], _dir: dir }
}

fn base(router: &Node) -> String {
    router.ready["openai_base_url"].as_str().expect("base url").to_string()
}

fn decode_receipt(hex_text: &str) -> SignedReceipt {
    SignedReceipt::decode(&*support::hex_decode(hex_text)).expect("receipt protobuf")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_chat_through_discovered_workers() {
    let net = network("0", false).await;
    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "temperature": 0, "max_tokens": 32,
    });
    let resp = client.post(format!("{}/chat/completions", base(&net.router))).json(&body).send().await.expect("post");
    assert_eq!(resp.status(), 200);
    let header = resp.headers().get("x-wick-receipt").expect("receipt header").to_str().expect("ascii").to_string();
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
    let resp = client.post(format!("{}/chat/completions", base(&net.router))).json(&missing).send().await.expect("post");
    assert_eq!(resp.status(), 503);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert!(err["error"]["message"].as_str().is_some_and(|m| m.contains("`nope`")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_mid_stream_keeps_the_text_identical() {
    let mut net = network("0", false).await;
    let router_grpc = net.router.grpc();
    let mut client = wick_proto::v1::inference_client::InferenceClient::connect(router_grpc).await.expect("connect");
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
                    let page = reqwest::get(net.router.metrics_url()).await.expect("m").text().await.expect("t");
                    let busy = net
                        .workers
                        .iter()
                        .position(|w| page.lines().any(|l| l.starts_with("wick_router_routed") && l.contains(&w.grpc())))
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
