//! A worker against input no chat client sends: megabyte prompts while capability records must
//! keep flowing, and raw prompts without the chat template.

mod support;

use std::time::{Duration, Instant};

use support::{Node, chat, generate};
use tonic::Code;
use wick_proto::v1::GenerateRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_prompt_is_tokenized_without_the_chat_template() {
    let worker = Node::dev_worker(&["--model", "smollm2-135m-instruct"]);
    let mut client = worker.client().await;
    let req = GenerateRequest {
        prompt: "The capital of France is".into(),
        messages: Vec::new(),
        ..chat("", 6, 0.0, 0)
    };
    let out = generate(&mut client, req).await.expect("completion");
    let done = out.done.expect("done");
    let usage = done.usage.expect("usage");
    assert!(usage.prompt_tokens < 10, "no chat template around the prompt: {usage:?}");
    assert!(out.text.contains("Paris"), "{}", out.text);
}

/// Capability records keep arriving while the worker renders and tokenizes a prompt of 4 MB:
/// that work runs on tokenizer threads, never on the async threads the swarm shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capability_records_keep_flowing_during_a_huge_prompt() {
    let worker = Node::dev_worker(&["--model", "smollm2-135m-instruct"]);
    let p2p: wick_net::Multiaddr = worker.ready["p2p"][0].as_str().expect("p2p").parse().expect("multiaddr");
    let stop = tokio_util::sync::CancellationToken::new();
    let config = wick_net::NetConfig { bootstrap: vec![p2p], ..wick_net::NetConfig::default() };
    let listener = wick_net::start([42; 32], config, None, stop.clone()).await.expect("listener");
    let mut records = listener.subscribe();
    tokio::time::timeout(Duration::from_secs(30), records.recv())
        .await
        .expect("first record")
        .expect("record");

    let mut client = worker.client().await;
    let huge = "Tell me about mountains. ".repeat(4_000_000 / 25);
    let sent = Instant::now();
    let call = tokio::spawn(async move { generate(&mut client, chat(&huge, 4, 0.0, 0)).await });
    let mut gaps = Vec::new();
    let mut last = Instant::now();
    while !call.is_finished() && sent.elapsed() < Duration::from_secs(60) {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), records.recv()).await {
            gaps.push(last.elapsed());
            last = Instant::now();
        }
    }
    let busy = sent.elapsed();
    let status = call.await.expect("task").expect_err("does not fit the context");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    gaps.push(last.elapsed());
    let worst = gaps.iter().max().copied().unwrap_or_default();
    eprintln!("prompt handled in {busy:?}; record gaps {gaps:?}");
    assert!(worst < Duration::from_millis(3_500), "records stalled for {worst:?} (busy {busy:?})");
    stop.cancel();
}
