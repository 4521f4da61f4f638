//! A real `wick worker` process, driven over gRPC on loopback.

mod support;

use std::time::{Duration, Instant};

use support::{Node, chat, generate, metric};
use tonic::Code;
use wick_proto::signing;
use wick_proto::v1::{EmbedRequest, ListModelsRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_a_generation_with_a_verifiable_receipt() {
    let worker = Node::dev_worker(&[]);
    let mut client = worker.client().await;
    let out =
        generate(&mut client, chat("What is the capital of France?", 48, 0.0, 0)).await.expect("generate");
    assert!(out.text.contains("Paris"), "{}", out.text);
    let done = out.done.expect("final message");
    assert_eq!(done.finish_reason, wick_proto::v1::FinishReason::Stop as i32);
    let usage = done.usage.expect("usage");
    assert_eq!(usage.completion_tokens as usize, out.tokens.len());
    let signed = done.receipt.expect("receipt");
    signing::verify_receipt(&signed).expect("receipt verifies");
    let receipt = signed.receipt.as_ref().expect("receipt body");
    assert_eq!(receipt.worker_public_key, worker.public_key(), "signed by this worker's key");
    assert_eq!(receipt.output_hash, signing::output_hash(&out.tokens, &out.text));
    assert_eq!(receipt.tokens_out as usize, out.tokens.len());
    let mut tampered = signed.clone();
    if let Some(r) = tampered.receipt.as_mut() {
        r.tokens_out += 1;
    }
    assert!(signing::verify_receipt(&tampered).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeds_lists_models_and_reports_health() {
    let worker = Node::dev_worker(&[]);
    let mut client = worker.client().await;
    let req = EmbedRequest {
        model: "minilm-l6-v2".into(),
        inputs: vec!["hello".into(), "world".into()],
        ticket: None,
    };
    let resp = client.embed(req).await.expect("embed").into_inner();
    assert_eq!(resp.embeddings.len(), 2);
    assert_eq!(resp.embeddings[0].values.len(), 384);
    signing::verify_receipt(&resp.receipt.expect("receipt")).expect("verifies");

    let models = client.list_models(ListModelsRequest {}).await.expect("list").into_inner().models;
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["smollm2-135m-instruct", "minilm-l6-v2"]);
    assert_eq!(models[0].id.len(), 64);

    let channel =
        tonic::transport::Channel::from_shared(worker.grpc()).expect("uri").connect().await.expect("ch");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest { service: "wick.v1.Inference".into() })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(status.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    support::reflection::assert_lists(&worker.grpc(), "wick.v1.Inference").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_does_not_change_outputs() {
    let worker = Node::dev_worker(&["--model", "smollm2-135m-instruct"]);
    const PROMPTS: [&str; 8] = [
        "Hi!",
        "What is the capital of France?",
        "Write one sentence about the ocean and the creatures that live in its deepest parts.",
        "List three prime numbers.",
        "Why is the sky blue? Answer briefly.",
        "Translate 'good morning' into Spanish.",
        "Name a famous painter from the Netherlands and one of their works.",
        "2+2=",
    ];
    // Greedy for even prompts, seeded sampling for odd ones.
    let request = |i: usize| {
        let (t, seed) = if i.is_multiple_of(2) { (0.0, 0) } else { (0.8, 100 + i as u64) };
        chat(PROMPTS[i], 24, t, seed)
    };
    let mut client = worker.client().await;
    let mut alone = Vec::new();
    for i in 0..PROMPTS.len() {
        alone.push(generate(&mut client, request(i)).await.expect("alone").tokens);
    }
    let handles: Vec<_> = (0..PROMPTS.len())
        .map(|i| {
            let mut c = client.clone();
            tokio::spawn(async move { generate(&mut c, request(i)).await.map(|s| s.tokens) })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let batched = h.await.expect("join").expect("batched");
        assert_eq!(batched, alone[i], "prompt {i} changed when batched");
    }
    let page = reqwest::get(worker.metrics_url()).await.expect("metrics").text().await.expect("text");
    let max_batch_seen = page
        .lines()
        .filter(|l| l.starts_with("wick_batch_size_bucket{le=\"4.0\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .next();
    let total = metric(&page, "wick_batch_size_count").unwrap_or(0.0);
    assert!(max_batch_seen.is_some_and(|le4| le4 < total), "some steps ran more than 4 sequences:\n{page}");
    // The batched prompts share the chat template's system text: its keys and values were
    // copied between sequences, and the outputs above are still those of the solo runs.
    let reused = metric(&page, "wick_prompt_tokens_reused_total").unwrap_or(0.0);
    assert!(reused >= 16.0 * 7.0, "prompt prefixes were not shared: {reused}\n{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_resource_exhausted() {
    let worker =
        Node::dev_worker(&["--model", "smollm2-135m-instruct", "--max-batch", "1", "--max-queue", "1"]);
    let client = worker.client().await;
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let mut c = client.clone();
            tokio::spawn(async move { generate(&mut c, chat("Count to fifty.", 64, 0.0, 0)).await })
        })
        .collect();
    let mut exhausted = 0;
    let mut ok = 0;
    for h in handles {
        match h.await.expect("join") {
            Ok(_) => ok += 1,
            Err(s) if s.code() == Code::ResourceExhausted => {
                assert!(s.message().contains("queue is full"), "{}", s.message());
                exhausted += 1;
            }
            Err(s) => panic!("unexpected status {s:?}"),
        }
    }
    assert!(exhausted >= 1 && ok >= 1, "ok {ok}, exhausted {exhausted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_stream_frees_its_slot() {
    let worker = Node::dev_worker(&["--model", "smollm2-135m-instruct"]);
    let mut client = worker.client().await;
    let mut stream = client
        .generate(chat("Write a very long essay about rivers.", 1000, 0.0, 0))
        .await
        .expect("start")
        .into_inner();
    for _ in 0..3 {
        stream.message().await.expect("message").expect("delta");
    }
    let page = reqwest::get(worker.metrics_url()).await.expect("metrics").text().await.expect("text");
    assert_eq!(metric(&page, "wick_num_requests_running"), Some(1.0));
    drop(stream);
    let started = Instant::now();
    loop {
        let page = reqwest::get(worker.metrics_url()).await.expect("metrics").text().await.expect("text");
        if metric(&page, "wick_num_requests_running") == Some(0.0) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "slot not freed:\n{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_precise_status_codes() {
    let worker = Node::dev_worker(&[]);
    let mut client = worker.client().await;
    let expect = |r: Result<support::Streamed, tonic::Status>, code: Code, needle: &str| {
        let s = r.expect_err("must fail");
        assert_eq!(s.code(), code, "{s:?}");
        assert!(s.message().contains(needle), "{} lacks {needle}", s.message());
    };
    let mut unknown = chat("hi", 5, 0.0, 0);
    unknown.model = "gpt-9".into();
    expect(
        generate(&mut client, unknown).await,
        Code::NotFound,
        "served: smollm2-135m-instruct, minilm-l6-v2",
    );
    let mut empty = chat("hi", 5, 0.0, 0);
    empty.messages.clear();
    expect(generate(&mut client, empty).await, Code::InvalidArgument, "messages must not be empty");
    expect(
        generate(&mut client, chat("hi", 0, 0.0, 0)).await,
        Code::InvalidArgument,
        "max_tokens must be at least 1",
    );
    expect(generate(&mut client, chat("hi", 100_000, 0.0, 0)).await, Code::InvalidArgument, "limit of 2048");
    expect(generate(&mut client, chat("hi", 5, 3.0, 0)).await, Code::InvalidArgument, "temperature");
    let long = "lorem ipsum ".repeat(3000);
    expect(
        generate(&mut client, chat(&long, 5, 0.0, 0)).await,
        Code::InvalidArgument,
        "does not fit the context",
    );
    let mut role = chat("hi", 5, 0.0, 0);
    role.messages[0].role = "wizard".into();
    expect(generate(&mut client, role).await, Code::InvalidArgument, "role `wizard`");
    // The worker still serves good requests afterwards.
    let ok =
        generate(&mut client, chat("What is the capital of France?", 16, 0.0, 0)).await.expect("still fine");
    assert!(ok.text.contains("Paris"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_streams_finish() {
    let mut worker = Node::dev_worker(&["--model", "smollm2-135m-instruct"]);
    let mut client = worker.client().await;
    let mut stream =
        client.generate(chat("Describe a forest.", 40, 0.0, 0)).await.expect("start").into_inner();
    stream.message().await.expect("message").expect("first delta");
    let pid = worker.child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(killed.success());
    let mut done = false;
    while let Some(msg) = stream.message().await.expect("stream continues") {
        if let Some(wick_proto::v1::generate_response::Event::Done(_)) = msg.event {
            done = true;
        }
    }
    assert!(done, "the in-flight stream finished with its final message");
    let status = worker.child.wait().expect("exit");
    assert!(status.success(), "clean exit: {status:?}\n{}", worker.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_see_each_others_capability_records() {
    let first = Node::dev_worker(&["--model", "minilm-l6-v2"]);
    let p2p = first.ready["p2p"][0].as_str().expect("p2p address").to_string();
    assert!(p2p.contains("/p2p/"), "{p2p}");
    let second = Node::dev_worker(&["--model", "minilm-l6-v2", "--bootstrap", &p2p]);
    for node in [&first, &second] {
        let started = Instant::now();
        loop {
            let page = reqwest::get(node.metrics_url()).await.expect("metrics").text().await.expect("text");
            if metric(&page, "wick_p2p_known_workers") == Some(1.0) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no record from the other worker:\n{}",
                node.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A `GenerateRequest` whose message content is raw bytes, to send invalid UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawChatMessage {
    #[prost(string, tag = "1")]
    role: String,
    #[prost(bytes = "vec", tag = "2")]
    content: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawGenerateRequest {
    #[prost(string, tag = "1")]
    model: String,
    #[prost(message, repeated, tag = "2")]
    messages: Vec<RawChatMessage>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_an_invalid_argument() {
    let worker = Node::dev_worker(&["--model", "smollm2-135m-instruct"]);
    let channel =
        tonic::transport::Channel::from_shared(worker.grpc()).expect("uri").connect().await.expect("ch");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let req = RawGenerateRequest {
        model: "smollm2-135m-instruct".into(),
        messages: vec![RawChatMessage { role: "user".into(), content: vec![b'h', 0xFF, 0xFE, b'i'] }],
    };
    let codec = tonic_prost::ProstCodec::<RawGenerateRequest, wick_proto::v1::GenerateResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/wick.v1.Inference/Generate");
    let status = grpc.server_streaming(tonic::Request::new(req), path, codec).await.expect_err("must fail");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("malformed message"), "{}", status.message());
    // The worker is unharmed.
    let mut client = worker.client().await;
    assert!(generate(&mut client, chat("What is the capital of France?", 16, 0.0, 0)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_end_the_job_and_free_its_slot() {
    let worker = Node::dev_worker(&["--model", "smollm2-135m-instruct"]);
    let mut client = worker.client().await;
    let mut req = tonic::Request::new(chat("Write a very long essay about mountains.", 2000, 0.0, 0));
    req.set_timeout(Duration::from_millis(400));
    let started = Instant::now();
    let outcome = async {
        let mut stream = client.generate(req).await?.into_inner();
        while stream.message().await?.is_some() {}
        Ok::<(), tonic::Status>(())
    }
    .await;
    let status = outcome.expect_err("the deadline ends the stream");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let freed = Instant::now();
    loop {
        let page = reqwest::get(worker.metrics_url()).await.expect("metrics").text().await.expect("text");
        if metric(&page, "wick_num_requests_running") == Some(0.0) {
            break;
        }
        assert!(freed.elapsed() < Duration::from_secs(3), "slot still held:\n{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_grpc_timeouts_are_refused_and_long_ones_capped() {
    let worker = Node::dev_worker(&["--model", "smollm2-135m-instruct"]);
    let mut client = worker.client().await;
    let with_timeout = |value: &str| {
        let mut req = tonic::Request::new(chat("What is the capital of France?", 8, 0.0, 0));
        req.metadata_mut().insert("grpc-timeout", value.parse().expect("ascii"));
        req
    };
    // Past gRPC's eight digits, or no unit: these overflowed `Instant + Duration` and panicked
    // the request's task.
    for value in ["9999999999999999999S", "18446744073709551615H", "123456789m", "10x"] {
        let status = client.generate(with_timeout(value)).await.expect_err(value);
        assert_eq!(status.code(), Code::InvalidArgument, "{value}: {status:?}");
        assert!(status.message().contains("grpc-timeout"), "{value}: {}", status.message());
    }
    // The longest valid value is capped by the worker's maximum, and the job runs.
    let mut stream = client.generate(with_timeout("99999999H")).await.expect("accepted").into_inner();
    let mut done = false;
    while let Some(msg) = stream.message().await.expect("stream") {
        done |= matches!(msg.event, Some(wick_proto::v1::generate_response::Event::Done(_)));
    }
    assert!(done, "the job finished");
    assert!(generate(&mut client, chat("What is the capital of France?", 8, 0.0, 0)).await.is_ok());
}
