//! `wick bench router`: what routing costs. Short jobs (one output token) are sent to a worker
//! directly and through a router, in the same run, and the router's added latency (p50/p99) and
//! its requests/s are reported.
//!
//! To isolate the router's own cost, the workers here are *echo workers*: real gRPC servers on
//! loopback that announce signed capability records over libp2p like any worker, check nothing
//! and answer every job with one token and a receipt signed with their ed25519 key. Model
//! compute would otherwise hide the router (one real forward pass costs ~10 ms here).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use wick_proto::signing;
use wick_proto::time::unix_ms;
use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::inference_server::{Inference, InferenceServer};
use wick_proto::v1::{
    CapabilityRecord, ChatMessage, EmbedRequest, EmbedResponse, FinishReason, GenerateDone, GenerateRequest,
    GenerateResponse, ListModelsRequest, ListModelsResponse, ModelAd, SamplingParams, TokenDelta, Usage,
    generate_response,
};
use wick_router::{Router, RouterConfig};

const MODEL: &str = "echo";
const MODEL_ID: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Flags of `wick bench router`.
#[derive(Debug, clap::Args)]
pub struct RouterBench {
    /// Echo workers behind the router.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Requests per measurement (direct, then routed).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Requests in flight at once, one measurement per level (comma-separated). The latency goal
    /// is read at the lowest level, the throughput goal at the highest.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    concurrency: Vec<usize>,
    /// Upper bound on each measurement's duration, in seconds.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `wick bench router` and prints its report.
pub fn run(args: RouterBench) -> anyhow::Result<()> {
    anyhow::ensure!(args.workers >= 1, "--workers must be at least 1");
    anyhow::ensure!(
        !args.concurrency.is_empty() && args.concurrency.iter().all(|&c| c >= 1),
        "--concurrency needs levels of at least 1"
    );
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("while starting tokio")?;
    runtime.block_on(bench(args))
}

#[derive(Debug, serde::Serialize)]
struct Level {
    concurrency: usize,
    direct: Measured,
    routed: Measured,
}

#[derive(Debug, serde::Serialize)]
struct Measured {
    target: &'static str,
    requests: usize,
    errors: usize,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn bench(args: RouterBench) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let mut workers = Vec::new();
    for i in 0..args.workers {
        let boot = workers.first().map(|w: &EchoWorker| w.p2p.clone());
        workers.push(EchoWorker::start(i, boot, shutdown.clone()).await?);
    }
    let home = tempfile::tempdir().context("while creating the router's folder")?;
    let config = RouterConfig {
        home: home.path().to_path_buf(),
        grpc: ([127, 0, 0, 1], 0).into(),
        http: ([127, 0, 0, 1], 0).into(),
        bootstrap: vec![workers[0].p2p.to_string()],
        audit_fraction: 0.0,
        ..RouterConfig::default()
    };
    let router = Router::start(config, shutdown.clone()).await.context("while starting the router")?;
    let started = Instant::now();
    while router.state.peers.live_count() < args.workers {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the router did not discover every echo worker"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut levels = Vec::new();
    for &c in &args.concurrency {
        let direct = measure("worker (direct)", &format!("http://{}", workers[0].grpc), &args, c).await?;
        let routed = measure("router", &format!("http://{}", router.grpc_addr), &args, c).await?;
        levels.push(Level { concurrency: c, direct, routed });
    }
    let (lowest, highest) = (&levels[0], &levels[levels.len() - 1]);
    let added_p50 = lowest.routed.p50_ms - lowest.direct.p50_ms;
    let added_p99 = lowest.routed.p99_ms - lowest.direct.p99_ms;
    let routed_rps = highest.routed.requests_per_second;
    if args.json {
        let out = serde_json::json!({
            "workers": args.workers, "levels": levels,
            "added_p50_ms": added_p50, "added_p99_ms": added_p99,
            "routed_requests_per_second": routed_rps,
        });
        println!("{out}");
    } else {
        println!("router overhead: {} echo workers, 1 output token per job", args.workers);
        println!(
            "{:>9} {:<18} {:>9} {:>7} {:>11} {:>9} {:>9}",
            "in flight", "target", "requests", "errors", "req/s", "p50 ms", "p99 ms"
        );
        for l in &levels {
            for m in [&l.direct, &l.routed] {
                println!(
                    "{:>9} {:<18} {:>9} {:>7} {:>11.0} {:>9.3} {:>9.3}",
                    l.concurrency, m.target, m.requests, m.errors, m.requests_per_second, m.p50_ms, m.p99_ms
                );
            }
        }
        println!(
            "added latency at {} in flight: p50 {added_p50:.3} ms, p99 {added_p99:.3} ms (goal: p99 < 1 ms)",
            lowest.concurrency
        );
        println!(
            "routed requests/s at {} in flight: {routed_rps:.0} (goal: >= 10000); routed / direct = {:.2}",
            highest.concurrency,
            routed_rps / highest.direct.requests_per_second
        );
    }
    shutdown.cancel();
    router.wait().await;
    Ok(())
}

fn job() -> GenerateRequest {
    GenerateRequest {
        model: MODEL.into(),
        messages: vec![ChatMessage { role: "user".into(), content: "Hi".into() }],
        params: Some(SamplingParams { max_tokens: Some(1), ..Default::default() }),
        ticket: None,
        resume_tokens: Vec::new(),
        prompt: String::new(),
    }
}

/// Sends `args.requests` one-token jobs to `endpoint`, `concurrency` at a time.
async fn measure(
    target: &'static str,
    endpoint: &str,
    args: &RouterBench,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    // A few HTTP/2 connections, as a client pool would have.
    let mut clients = Vec::new();
    for _ in 0..concurrency.clamp(1, 4) {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())?.connect().await?;
        clients.push(InferenceClient::new(channel));
    }
    // Warm-up: connections, caches, the router's channel to each worker.
    for c in &mut clients {
        for _ in 0..50 {
            one_job(c).await.context("warm-up job failed")?;
        }
    }
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut client = clients[i % clients.len()].clone();
        let next = next.clone();
        let total = args.requests as u64;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                let t = Instant::now();
                match one_job(&mut client).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    Ok(Measured {
        target,
        requests: latencies.len(),
        errors,
        requests_per_second: latencies.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

async fn one_job(client: &mut InferenceClient<tonic::transport::Channel>) -> anyhow::Result<()> {
    let mut stream = client.generate(job()).await?.into_inner();
    let mut done = false;
    while let Some(msg) = stream.message().await? {
        done |= matches!(msg.event, Some(generate_response::Event::Done(_)));
    }
    anyhow::ensure!(done, "the stream ended without a result");
    Ok(())
}

/// A worker without a model: announces itself and answers every job with one signed token.
struct EchoWorker {
    grpc: SocketAddr,
    p2p: wick_net::Multiaddr,
    /// Keeps the swarm task alive.
    _net: wick_net::NetHandle,
}

impl EchoWorker {
    async fn start(
        index: usize,
        bootstrap: Option<wick_net::Multiaddr>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(index as u64 + 1).to_le_bytes());
        let key = SigningKey::from_bytes(&seed);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let grpc = listener.local_addr()?;
        let service = InferenceServer::new(Echo { key: key.clone() });
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    stop.cancelled_owned(),
                )
                .await;
        });
        let net_config = wick_net::NetConfig {
            bootstrap: bootstrap.into_iter().collect(),
            announce_interval: Duration::from_millis(500),
            ..wick_net::NetConfig::default()
        };
        let net =
            wick_net::start(key.to_bytes(), net_config, Some(announcer(key.clone(), grpc)), shutdown).await?;
        let p2p = net
            .wait_listening(Duration::from_secs(10))
            .await?
            .into_iter()
            .next()
            .context("no p2p address")?;
        Ok(Self { grpc, p2p, _net: net })
    }
}

fn announcer(key: SigningKey, grpc: SocketAddr) -> wick_net::Announcer {
    let sequence = AtomicU64::new(0);
    Box::new(move || {
        let now = SystemTime::now();
        let record = CapabilityRecord {
            worker_public_key: Vec::new(),
            peer_id: wick_net::records::peer_id_of(key.verifying_key().as_bytes())
                .map(|p| p.to_string())
                .unwrap_or_default(),
            grpc_endpoint: format!("http://{grpc}"),
            models: vec![ModelAd { name: MODEL.into(), id: MODEL_ID.into(), kind: "chat".into() }],
            free_slots: 64,
            queue_depth: 0,
            tokens_per_second: 1e6,
            price_per_1k_tokens: 0,
            version: env!("CARGO_PKG_VERSION").into(),
            issued_unix_ms: unix_ms(now),
            expires_unix_ms: unix_ms(now + Duration::from_secs(5)),
            sequence: sequence.fetch_add(1, Ordering::Relaxed),
            numeric_class: wick_models::CPU_NUMERIC_CLASS.into(),
        };
        signing::sign_capability(&key, record)
    })
}

struct Echo {
    key: SigningKey,
}

#[tonic::async_trait]
impl Inference for Echo {
    type GenerateStream = ReceiverStream<Result<GenerateResponse, Status>>;

    async fn generate(
        &self,
        request: Request<GenerateRequest>,
    ) -> Result<Response<Self::GenerateStream>, Status> {
        let req = request.into_inner();
        let request_hash = signing::request_hash(MODEL_ID, &req.messages, &req.prompt, req.params.as_ref());
        let tokens = [42u32];
        let now = unix_ms(SystemTime::now());
        let mut receipt = signing::receipt_for(req.ticket.as_ref(), request_hash);
        receipt.output_hash = signing::output_hash(&tokens, "!").to_vec();
        (receipt.tokens_in, receipt.tokens_out) = (1, 1);
        (receipt.started_unix_ms, receipt.finished_unix_ms) = (now, now);
        receipt.numeric_class = wick_models::CPU_NUMERIC_CLASS.into();
        let signed = signing::sign_receipt(&self.key, receipt);
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let delta = TokenDelta { text: "!".into(), token_ids: tokens.to_vec(), ..Default::default() };
        let done = GenerateDone {
            finish_reason: FinishReason::Length as i32,
            usage: Some(Usage { prompt_tokens: 1, completion_tokens: 1 }),
            receipt: Some(signed),
            ..Default::default()
        };
        // Capacity 2: both sends complete at once.
        let _ = tx.try_send(Ok(GenerateResponse { event: Some(generate_response::Event::Delta(delta)) }));
        let _ = tx.try_send(Ok(GenerateResponse { event: Some(generate_response::Event::Done(done)) }));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn embed(&self, _: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
        Err(Status::unimplemented("echo workers do not embed"))
    }

    async fn list_models(
        &self,
        _: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Ok(Response::new(ListModelsResponse::default()))
    }
}
