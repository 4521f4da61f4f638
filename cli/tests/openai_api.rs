//! The whole API a chat client uses, through a router on the default model, driven by the
//! official `openai` package: text completions, logprobs, n choices, strict JSON schemas, stream
//! usage, and a 400 naming an unsupported parameter.

mod support;

use support::{Node, base, start_router, wait_for_workers};

/// A router and one worker (both default models): n choices land on the one worker.
async fn network() -> (Node, Node, tempfile::TempDir) {
    let worker = Node::worker(&[]);
    let boot = worker.ready["p2p"][0].as_str().expect("p2p").to_string();
    let dir = tempfile::tempdir().expect("dir");
    let router =
        start_router(&dir.path().to_string_lossy(), &["--bootstrap", &boot, "--audit-fraction", "0"], &[]);
    wait_for_workers(&router, 1).await;
    (router, worker, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_package_uses_the_whole_api() {
    let (router, _worker, _dir) = network().await;
    let out = support::python(&["openai_features.py", &base(&router), "100"]);

    let completion = out["completion"].as_str().expect("completion");
    assert!(completion.contains("Paris"), "{out}");
    assert_eq!(out["completion_stream"], out["completion"], "stream and not agree");
    let tops = out["completion_logprobs"]["top"].as_array().expect("top");
    assert!(!tops.is_empty() && tops.iter().all(|k| k == 2), "two alternatives per token: {out}");

    let chat = out["chat_logprobs"].as_array().expect("chat logprobs");
    assert!(!chat.is_empty());
    let joined: String = chat.iter().map(|t| t["token"].as_str().expect("token")).collect();
    assert_eq!(joined, out["chat_text"].as_str().expect("text"), "one logprob per token of the text");
    for t in chat {
        let lp = t["logprob"].as_f64().expect("logprob");
        assert!(lp <= 0.0 && lp.is_finite(), "{t}");
        assert_eq!(t["top"].as_array().expect("top").len(), 3);
    }
    // Greedy: the chosen token is the most likely one.
    assert_eq!(chat[0]["top"][0], chat[0]["token"]);

    assert_eq!(out["n_indices"], serde_json::json!([0, 1, 2]));
    assert!(out["n_usage"].as_u64().expect("usage") > 0);

    let usage = &out["stream_usage"];
    assert!(
        usage["prompt"].as_u64().expect("prompt") > 0 && usage["completion"].as_u64().expect("c") > 0,
        "{out}"
    );
    assert!(out["stream_text"].as_str().expect("text").contains("Paris"));

    assert_eq!(out["schema_answers"], 100);
    assert_eq!(out["schema_valid"], 100, "every structured answer parses and validates: {out}");

    assert_eq!(out["tools_error"], serde_json::json!({"status": 400, "param": "tools"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_choices_replay_alone_and_a_bad_schema_is_a_400() {
    let (router, _worker, _dir) = network().await;
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", base(&router));
    let body = |n: u32, seed: u64| {
        serde_json::json!({"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Name a fruit."}],
            "max_tokens": 6, "temperature": 1.0, "seed": seed, "n": n})
    };
    let three: serde_json::Value =
        client.post(&url).json(&body(3, 4)).send().await.expect("post").json().await.expect("json");
    let one: serde_json::Value =
        client.post(&url).json(&body(1, 4)).send().await.expect("post").json().await.expect("json");
    assert_eq!(three["choices"][0]["message"], one["choices"][0]["message"], "choice 0 is the n = 1 answer");
    assert_eq!(three["wick_receipts"].as_array().map(Vec::len), Some(3), "{three}");
    let again: serde_json::Value =
        client.post(&url).json(&body(3, 4)).send().await.expect("post").json().await.expect("json");
    assert_eq!(again["choices"], three["choices"], "seeded choices are deterministic");

    let bad = serde_json::json!({"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "b", "schema": {"type": "object",
        "properties": {"a": {"type": "no-such-type"}}}}}});
    let resp = client.post(&url).json(&bad).send().await.expect("post");
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["param"], "response_format", "{err}");
    assert!(err["error"]["message"].as_str().expect("message").contains("schema"), "{err}");
}
