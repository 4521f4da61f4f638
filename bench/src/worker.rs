//! `wick bench worker`: aggregate throughput and time to first token of a worker over gRPC at
//! several concurrency levels, beside llama.cpp's `llama-server -np N` over HTTP on the same
//! GGUF, in one run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::{ChatMessage, GenerateRequest, SamplingParams, generate_response};

use crate::BenchEnv;
use crate::stats::percentile;

/// Flags of `wick bench worker`.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerBench {
    /// Model name.
    #[arg(long, default_value = wick_models::DEFAULT_CHAT_MODEL)]
    model: String,
    /// Concurrency levels (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    concurrency: Vec<usize>,
    /// New tokens per request (end-of-turn ignored so every request makes exactly this many).
    #[arg(long, default_value_t = 128)]
    tokens: u32,
    /// Requests per stream at each level.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Compute threads for the worker and llama-server.
    #[arg(long, default_value_t = 2)]
    bench_threads: usize,
    /// Use a running worker instead of starting one.
    #[arg(long)]
    worker: Option<String>,
    /// Path of llama.cpp's llama-server (scripts/bench.sh passes it).
    #[arg(long, env = "WICK_LLAMA_SERVER")]
    llama_server: Option<PathBuf>,
    /// Tokens (prompt and output) of each sequence in the memory test, which runs as many
    /// sequences as the highest concurrency level at once and reports each server's peak RSS;
    /// 0 skips it.
    #[arg(long, default_value_t = 2048)]
    memory_tokens: usize,
    /// Start the worker with `--no-prefix-sharing` (every prompt computed in full).
    #[arg(long)]
    no_prefix_sharing: bool,
    /// The started worker's device: cpu or cuda:N (then llama-server offloads every layer too).
    #[arg(long, default_value = "cpu")]
    device: wick_models::ComputeDevice,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

const PROMPTS: [&str; 8] = [
    "Write a long story about a lighthouse keeper.",
    "Explain how a steam engine works, in detail.",
    "Describe the history of the Roman Empire.",
    "Write a detailed recipe for bread.",
    "Explain photosynthesis to a child, at length.",
    "Describe a journey across the Sahara desert.",
    "Write a long letter to a friend about your garden.",
    "Explain how computers store numbers.",
];

#[derive(Debug, Clone, serde::Serialize)]
struct Level {
    concurrency: usize,
    tok_s: f64,
    ttft_p50_ms: f64,
    ttft_p99_ms: f64,
    tokens: usize,
}

/// Peak resident memory of each server after the memory test.
#[derive(Debug, serde::Serialize)]
struct Memory {
    sequences: usize,
    tokens_per_sequence: usize,
    wick_peak_rss_mib: f64,
    llama_server_peak_rss_mib: Option<f64>,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    levels: Vec<Row>,
    memory: Option<Memory>,
}

#[derive(Debug, serde::Serialize)]
struct Row {
    wick: Level,
    llama_server: Option<Level>,
    ratio: Option<f64>,
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `wick bench worker` and prints its report.
pub fn run(env: &BenchEnv<'_>, args: WorkerBench) -> anyhow::Result<()> {
    let installed = (env.ensure_model)(&args.model)?;
    let gguf = installed.path(installed.entry.weights());
    let max_c = args.concurrency.iter().copied().max().unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let (worker, endpoint) = match &args.worker {
            Some(url) => (None, url.clone()),
            None => {
                let (child, url) = start_worker(env, &args, max_c)?;
                (Some(child), url)
            }
        };
        let mut wick_levels = Vec::new();
        for &c in &args.concurrency {
            wick_levels.push(load_wick(&endpoint, &args, c).await?);
        }
        let long_prompts = memory_prompts(env, &args, max_c)?;
        // The memory test: one request per stream, output short, prompt filling the sequence.
        let long = WorkerBench { tokens: MEMORY_OUTPUT_TOKENS, rounds: 1, ..args.clone() };
        let mut wick_rss = None;
        if let (Some(prompts), Some(worker)) = (&long_prompts, &worker) {
            load_wick_prompts(&endpoint, &long, prompts, max_c).await?;
            wick_rss = Some(peak_rss_mib(worker.0.id())?);
        }
        drop(worker);
        let mut llama_levels = Vec::new();
        let mut llama_rss = None;
        if let Some(bin) = &args.llama_server {
            let (server, url) = start_llama_server(bin, &gguf, &args, max_c).await?;
            for &c in &args.concurrency {
                llama_levels.push(load_llama(&url, &args, c).await?);
            }
            if let Some(prompts) = &long_prompts {
                load_llama_prompts(&url, &long, prompts, max_c).await?;
                llama_rss = Some(peak_rss_mib(server.0.id())?);
            }
        }
        let memory = wick_rss.map(|wick| Memory {
            sequences: max_c,
            tokens_per_sequence: args.memory_tokens,
            wick_peak_rss_mib: wick,
            llama_server_peak_rss_mib: llama_rss,
        });
        let rows: Vec<Row> = wick_levels
            .into_iter()
            .enumerate()
            .map(|(i, wick)| {
                let llama = llama_levels.get(i).cloned();
                let ratio = llama.as_ref().map(|l| wick.tok_s / l.tok_s);
                Row { wick, llama_server: llama, ratio }
            })
            .collect();
        print(&Report { levels: rows, memory }, &args)
    })
}

/// Output tokens of each memory-test sequence; the prompt fills the rest.
const MEMORY_OUTPUT_TOKENS: u32 = 64;

/// One long chat prompt per stream, each `memory_tokens - MEMORY_OUTPUT_TOKENS` tokens once the
/// chat template is applied, different from the first line on. `None` when the test is off.
fn memory_prompts(
    env: &BenchEnv<'_>,
    args: &WorkerBench,
    streams: usize,
) -> anyhow::Result<Option<Vec<String>>> {
    if args.memory_tokens == 0 || args.worker.is_some() {
        return Ok(None);
    }
    let target = args.memory_tokens.saturating_sub(MEMORY_OUTPUT_TOKENS as usize);
    let installed = (env.ensure_model)(&args.model)?;
    let model = wick_models::TextModel::load(&installed, &wick_models::generate::LoadOptions::default())?;
    let mut prompts = Vec::with_capacity(streams);
    for s in 0..streams {
        let mut text = format!("Reader {s}, summarise these logbook lines.\n");
        let mut line = 0;
        loop {
            let next =
                format!("Line {line}: the keeper of lighthouse {s} saw {} ships pass.\n", line * 7 + s);
            let mut longer = text.clone();
            longer.push_str(&next);
            let tokens = model.encode_chat(&[wick_models::ChatMessage::user(longer.clone())])?.len();
            if tokens > target {
                break;
            }
            text = longer;
            line += 1;
        }
        prompts.push(text);
    }
    Ok(Some(prompts))
}

/// Peak resident set size of a process, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")?;
    Ok(kib / 1024.0)
}

fn print(report: &Report, args: &WorkerBench) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let rows = &report.levels;
    println!(
        "{} new tokens per request, {} rounds per stream, {} threads; ttft in ms",
        args.tokens, args.rounds, args.bench_threads
    );
    println!(
        "{:>5} | {:>10} {:>9} {:>9} | {:>12} {:>9} {:>9} | {:>6}",
        "conc", "wick tok/s", "ttft p50", "ttft p99", "llama tok/s", "ttft p50", "ttft p99", "ratio"
    );
    for r in rows {
        let (lt, l50, l99) = match &r.llama_server {
            Some(l) => {
                (format!("{:.1}", l.tok_s), format!("{:.0}", l.ttft_p50_ms), format!("{:.0}", l.ttft_p99_ms))
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:>5} | {:>10.1} {:>9.0} {:>9.0} | {:>12} {:>9} {:>9} | {:>6}",
            r.wick.concurrency,
            r.wick.tok_s,
            r.wick.ttft_p50_ms,
            r.wick.ttft_p99_ms,
            lt,
            l50,
            l99,
            r.ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
        );
    }
    if let Some(m) = &report.memory {
        let llama = m.llama_server_peak_rss_mib.map_or("-".into(), |l| format!("{l:.0}"));
        let ratio =
            m.llama_server_peak_rss_mib.map_or("-".into(), |l| format!("{:.2}", m.wick_peak_rss_mib / l));
        println!(
            "peak RSS, {} sequences of {} tokens at once: wick {:.0} MiB, llama-server {llama} MiB, ratio {ratio}",
            m.sequences, m.tokens_per_sequence, m.wick_peak_rss_mib
        );
    }
    if rows.first().is_some_and(|r| r.llama_server.is_none()) {
        println!("(llama-server not measured: pass --llama-server PATH, or run scripts/bench.sh worker)");
    }
    Ok(())
}

fn start_worker(env: &BenchEnv<'_>, args: &WorkerBench, max_c: usize) -> anyhow::Result<(Killed, String)> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    if let Some(home) = env.home {
        cmd.arg("--home").arg(home);
    }
    cmd.args(["--threads", &args.bench_threads.to_string(), "worker", "--model", &args.model])
        // The bench calls the worker directly, without a router's ticket.
        .args(["--grpc", "127.0.0.1:0", "--max-batch", &max_c.to_string(), "--dev-unticketed"])
        .args(args.no_prefix_sharing.then_some("--no-prefix-sharing"))
        .args(["--device", &args.device.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = Killed(cmd.spawn().context("while starting the worker")?);
    let stdout = child.0.stdout.take().context("worker stdout")?;
    let line = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find(|l| l.contains("\"ready\""))
        .context("the worker exited before it was ready")?;
    let ready: serde_json::Value = serde_json::from_str(&line)?;
    let url = ready["grpc"].as_str().context("ready line without grpc")?.to_string();
    Ok((child, url))
}

fn level(concurrency: usize, tokens: usize, wall: Duration, mut ttfts: Vec<f64>) -> Level {
    ttfts.sort_by(f64::total_cmp);
    Level {
        concurrency,
        tok_s: tokens as f64 / wall.as_secs_f64(),
        ttft_p50_ms: percentile(&ttfts, 0.5) * 1e3,
        ttft_p99_ms: percentile(&ttfts, 0.99) * 1e3,
        tokens,
    }
}

async fn load_wick(endpoint: &str, args: &WorkerBench, c: usize) -> anyhow::Result<Level> {
    let prompts: Vec<String> = PROMPTS.iter().map(|p| p.to_string()).collect();
    load_wick_prompts(endpoint, args, &prompts, c).await
}

/// `c` streams; stream `i` sends prompt `i + round` (mod the count) each round.
async fn load_wick_prompts(
    endpoint: &str,
    args: &WorkerBench,
    prompts: &[String],
    c: usize,
) -> anyhow::Result<Level> {
    let client = InferenceClient::connect(endpoint.to_string()).await?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|i| {
            let mut client = client.clone();
            let (tokens, rounds, model) = (args.tokens, args.rounds, args.model.clone());
            let prompts = prompts.to_vec();
            tokio::spawn(async move {
                let mut results = Vec::new();
                for round in 0..rounds {
                    let req = GenerateRequest {
                        model: model.clone(),
                        messages: vec![ChatMessage {
                            role: "user".into(),
                            content: prompts[(i + round) % prompts.len()].clone(),
                        }],
                        params: Some(SamplingParams {
                            max_tokens: Some(tokens),
                            ignore_eos: true,
                            ..Default::default()
                        }),
                        ticket: None,
                        resume_tokens: Vec::new(),
                        prompt: String::new(),
                    };
                    let sent = Instant::now();
                    let mut stream = client.generate(req).await?.into_inner();
                    let mut ttft = None;
                    let mut n = 0;
                    while let Some(msg) = stream.message().await? {
                        if let Some(generate_response::Event::Delta(d)) = msg.event {
                            ttft.get_or_insert_with(|| sent.elapsed().as_secs_f64());
                            n += d.token_ids.len();
                        }
                    }
                    results.push((ttft.unwrap_or(0.0), n));
                }
                Ok::<_, tonic::Status>(results)
            })
        })
        .collect();
    gather(c, started, tasks).await
}

/// One load stream: the (time to first token, tokens) of each of its requests.
type StreamTask<E> = tokio::task::JoinHandle<Result<Vec<(f64, usize)>, E>>;

/// Waits for every stream's (time to first token, tokens) results and summarises the level.
async fn gather<E>(c: usize, started: Instant, tasks: Vec<StreamTask<E>>) -> anyhow::Result<Level>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut ttfts = Vec::new();
    let mut tokens = 0;
    for t in tasks {
        for (ttft, n) in t.await?? {
            ttfts.push(ttft);
            tokens += n;
        }
    }
    Ok(level(c, tokens, started.elapsed(), ttfts))
}

async fn start_llama_server(
    bin: &Path,
    gguf: &Path,
    args: &WorkerBench,
    slots: usize,
) -> anyhow::Result<(Killed, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(bin)
        .arg("-m")
        .arg(gguf)
        .args(["-np", &slots.to_string(), "-t", &args.bench_threads.to_string()])
        .args(["-c", &(slots * args.memory_tokens.max(1024)).to_string()])
        .args(["-ngl", if args.device == wick_models::ComputeDevice::Cpu { "0" } else { "99" }])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("while starting {}", bin.display()))?;
    let child = Killed(child);
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client.get(format!("{url}/health")).send().await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("llama-server did not become healthy in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((child, url))
}

async fn load_llama(url: &str, args: &WorkerBench, c: usize) -> anyhow::Result<Level> {
    let prompts: Vec<String> = PROMPTS.iter().map(|p| p.to_string()).collect();
    load_llama_prompts(url, args, &prompts, c).await
}

async fn load_llama_prompts(
    url: &str,
    args: &WorkerBench,
    prompts: &[String],
    c: usize,
) -> anyhow::Result<Level> {
    // llama-server drops idle keep-alive connections: never reuse one.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|i| {
            let client = client.clone();
            let url = format!("{url}/v1/chat/completions");
            let (tokens, rounds) = (args.tokens, args.rounds);
            let prompts = prompts.to_vec();
            tokio::spawn(async move {
                let mut results = Vec::new();
                for round in 0..rounds {
                    let body = serde_json::json!({
                        "messages": [{"role": "user", "content": prompts[(i + round) % prompts.len()]}],
                        "max_tokens": tokens, "temperature": 0, "stream": true, "ignore_eos": true,
                    });
                    let sent = Instant::now();
                    let resp = client.post(&url).json(&body).send().await?.error_for_status()?;
                    let mut stream = resp.bytes_stream();
                    let (mut ttft, mut n, mut buf) = (None, 0usize, String::new());
                    while let Some(chunk) = stream.next().await {
                        buf.push_str(&String::from_utf8_lossy(&chunk?));
                        while let Some(end) = buf.find("\n\n") {
                            let event: String = buf.drain(..end + 2).collect();
                            let Some(data) = event.trim().strip_prefix("data: ") else { continue };
                            let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else { continue };
                            if v["choices"][0]["delta"]["content"].as_str().is_some_and(|s| !s.is_empty()) {
                                ttft.get_or_insert_with(|| sent.elapsed().as_secs_f64());
                            }
                            if let Some(t) = v["usage"]["completion_tokens"].as_u64() {
                                n = t as usize;
                            } else if let Some(t) = v["timings"]["predicted_n"].as_u64() {
                                n = t as usize;
                            }
                        }
                    }
                    results.push((ttft.unwrap_or(0.0), n));
                }
                Ok::<_, reqwest::Error>(results)
            })
        })
        .collect();
    gather(c, started, tasks).await
}
