//! Test support: start real `wick` processes on loopback and talk to them.

#![allow(dead_code)]

pub mod reflection;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::{ChatMessage, GenerateRequest, SamplingParams, generate_response};

/// A `wick` child process, killed when dropped.
pub struct Node {
    pub child: Child,
    pub ready: serde_json::Value,
    pub log: tempfile::NamedTempFile,
    /// Per-node files (its key), removed with the node.
    pub dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts `wick ARGS` and waits (bounded) for its JSON ready line on stdout.
    pub fn start(args: &[&str]) -> Node {
        Self::start_with_env(args, &[])
    }

    /// [`Node::start`] with extra environment variables (such as `RUST_LOG`).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Node {
        Self::start_in(tempfile::tempdir().expect("node dir"), args, env)
    }

    fn start_in(dir: tempfile::TempDir, args: &[&str], env: &[(&str, &str)]) -> Node {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_wick"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("spawn wick");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["event"] == "ready"
                {
                    let _ = tx.send(v);
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(ready) => Node { child, ready, log, dir },
            Err(_) => {
                let _ = child.kill();
                let log_text = std::fs::read_to_string(log.path()).unwrap_or_default();
                panic!("wick {args:?} did not become ready:\n{log_text}");
            }
        }
    }

    /// A worker on ephemeral ports with its own key (models come from the shared data dir).
    pub fn worker(extra: &[&str]) -> Node {
        Self::worker_with_env(extra, &[])
    }

    /// A worker that also serves calls without a router's ticket (`--dev-unticketed`), for
    /// tests that call it directly.
    pub fn dev_worker(extra: &[&str]) -> Node {
        let mut args = vec!["--dev-unticketed"];
        args.extend_from_slice(extra);
        Self::worker_with_env(&args, &[])
    }

    /// [`Node::worker`] with extra environment variables (such as `RUST_LOG`).
    pub fn worker_with_env(extra: &[&str], env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().expect("node dir");
        let key = dir.path().join("worker.pem").to_string_lossy().into_owned();
        let mut args = vec!["worker", "--grpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--key", &key];
        args.extend_from_slice(extra);
        Node::start_in(dir, &args, env)
    }

    pub fn grpc(&self) -> String {
        self.ready["grpc"].as_str().expect("grpc endpoint").to_string()
    }

    pub fn metrics_url(&self) -> String {
        self.ready["metrics"].as_str().expect("metrics endpoint").to_string()
    }

    pub fn public_key(&self) -> Vec<u8> {
        hex_decode(self.ready["public_key"].as_str().expect("public key"))
    }

    pub async fn client(&self) -> InferenceClient<tonic::transport::Channel> {
        InferenceClient::connect(self.grpc()).await.expect("connect")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

pub fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// A chat request for `prompt`.
pub fn chat(prompt: &str, max_tokens: u32, temperature: f32, seed: u64) -> GenerateRequest {
    GenerateRequest {
        model: "smollm2-135m-instruct".into(),
        messages: vec![ChatMessage { role: "user".into(), content: prompt.into() }],
        params: Some(SamplingParams {
            temperature,
            seed,
            max_tokens: Some(max_tokens),
            ..Default::default()
        }),
        ticket: None,
        resume_tokens: Vec::new(),
        prompt: String::new(),
    }
}

/// What a whole stream delivered.
#[derive(Debug, Clone)]
pub struct Streamed {
    pub text: String,
    pub tokens: Vec<u32>,
    pub done: Option<wick_proto::v1::GenerateDone>,
}

/// Runs a generation to the end.
pub async fn generate(
    client: &mut InferenceClient<tonic::transport::Channel>,
    req: GenerateRequest,
) -> Result<Streamed, tonic::Status> {
    let mut stream = client.generate(req).await?.into_inner();
    let mut out = Streamed { text: String::new(), tokens: Vec::new(), done: None };
    while let Some(msg) = stream.message().await? {
        match msg.event {
            Some(generate_response::Event::Delta(d)) => {
                out.text.push_str(&d.text);
                out.tokens.extend(d.token_ids);
            }
            Some(generate_response::Event::Done(d)) => out.done = Some(d),
            None => {}
        }
    }
    Ok(out)
}

/// Reads one metric's value from a Prometheus text page.
pub fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Runs one of `examples/python/` with the project's virtual environment (scripts/setup.sh
/// makes it) and parses the JSON it prints.
pub fn python(args: &[&str]) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venv = std::env::var_os("WICK_VENV").map_or_else(|| root.join(".venv"), std::path::PathBuf::from);
    let interpreter = venv.join("bin").join("python");
    assert!(interpreter.exists(), "{} is missing: run scripts/setup.sh", interpreter.display());
    let script = root.join("examples").join("python").join(args[0]);
    let out =
        std::process::Command::new(&interpreter).arg(script).args(&args[1..]).output().expect("run python");
    assert!(out.status.success(), "{args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `wick devnet` in `dir`, every endpoint on an ephemeral loopback port.
pub fn devnet_args(dir: &str) -> Vec<&str> {
    vec![
        "devnet",
        "--dir",
        dir,
        "--ledger-grpc",
        "127.0.0.1:0",
        "--ledger-p2p",
        "127.0.0.1:0",
        "--router-grpc",
        "127.0.0.1:0",
        "--router-http",
        "127.0.0.1:0",
        "--explorer-http",
        "127.0.0.1:0",
    ]
}

/// Waits (bounded) until `router`'s health endpoint counts `n` workers.
pub async fn wait_for_workers(router: &Node, n: usize) {
    let health = format!("{}/health", base(router).trim_end_matches("/v1"));
    let started = std::time::Instant::now();
    loop {
        if let Ok(r) = reqwest::get(&health).await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && v["workers"] == n
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "router did not discover {n} workers:\n{}",
            router.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `wick router` on ephemeral loopback ports with its data in `dir`, plus `extra` flags and `env`.
pub fn start_router(dir: &str, extra: &[&str], env: &[(&str, &str)]) -> Node {
    let mut args = vec![
        "router",
        "--grpc",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--p2p",
        "/ip4/127.0.0.1/tcp/0",
        "--dir",
        dir,
    ];
    args.extend_from_slice(extra);
    Node::start_with_env(&args, env)
}

/// A router's OpenAI base URL (`http://…/v1`).
pub fn base(router: &Node) -> String {
    router.ready["openai_base_url"].as_str().expect("base url").to_string()
}
