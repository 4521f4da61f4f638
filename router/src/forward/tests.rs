//! The forwarder driven without HTTP, against fake workers on loopback: retries before the first
//! token, resumption mid-stream, bad receipts, audits, numeric classes and embedding tickets.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use wick_proto::signing;
use wick_proto::v1::{
    AuditEvidence, ChatMessage, EmbedRequest, GenerateRequest, SamplingParams, SignedReceipt,
    generate_response,
};

use super::{Forwarder, Limits};
use crate::audit::{AuditJob, AuditQueue, Auditor};
use crate::fake_worker::{Behaviour, CPU_CLASS, FakeWorker, MODEL};
use crate::metrics::RouterMetrics;
use crate::peer_table::PeerTable;
use crate::store::RouterStore;
use crate::ticket::JobId;

/// A forwarder over fake workers; each worker's queue depth orders the router's preference
/// (the shortest first). Jobs picked for audit wait until [`Harness::start_audits`].
pub(super) struct Harness {
    pub(super) forwarder: Arc<Forwarder>,
    pub(super) peers: Arc<PeerTable>,
    metrics: Arc<RouterMetrics>,
    store: RouterStore,
    evidence: mpsc::Receiver<AuditEvidence>,
    audits: Option<(Auditor, mpsc::Receiver<AuditJob>)>,
    pub(super) workers: Vec<FakeWorker>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub(super) async fn add_worker(&mut self, behaviour: Behaviour, queue: u32) {
        self.add_worker_in(CPU_CLASS, behaviour, queue).await;
    }

    /// Adds a worker of numeric class `class`.
    pub(super) async fn add_worker_in(&mut self, class: &str, behaviour: Behaviour, queue: u32) {
        let fake = FakeWorker::start_in(class, self.workers.len() as u8 + 1, behaviour).await;
        assert!(self.peers.upsert(fake.record(queue)));
        self.workers.push(fake);
    }

    fn start_audits(&mut self) {
        let (auditor, jobs) = self.audits.take().expect("audits not started yet");
        tokio::spawn(auditor.run(jobs));
    }
}

pub(super) async fn harness(
    workers: &[(Behaviour, u32)],
    audit_fraction: f64,
    request_timeout: Duration,
) -> Harness {
    let dir = tempfile::tempdir().expect("dir");
    let (store, log) = RouterStore::open(dir.path()).expect("receipt log");
    let peers = Arc::new(PeerTable::new());
    let metrics = RouterMetrics::new();
    let key = ed25519_dalek::SigningKey::from_bytes(&[99; 32]);
    let (audits, jobs) = AuditQueue::new(audit_fraction, metrics.clone());
    let (feed, evidence) = mpsc::channel(8);
    let limits = Limits {
        max_attempts: 3,
        request_timeout,
        connect_timeout: Duration::from_secs(5),
        max_price: 10_000,
        idle_timeout: Duration::from_secs(2),
        max_job_tokens: 4096,
    };
    let auditor = Auditor {
        key: key.clone(),
        peers: peers.clone(),
        metrics: metrics.clone(),
        log: log.clone(),
        feed,
        limits,
    };
    let forwarder = Arc::new(Forwarder {
        key,
        peers: peers.clone(),
        metrics: metrics.clone(),
        log,
        audits,
        limits,
        epoch: Default::default(),
    });
    let audits = Some((auditor, jobs));
    let mut h =
        Harness { forwarder, peers, metrics, store, evidence, audits, workers: Vec::new(), _dir: dir };
    for &(behaviour, queue) in workers {
        h.add_worker(behaviour, queue).await;
    }
    h
}

pub(super) fn request(max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        model: MODEL.into(),
        messages: vec![ChatMessage { role: "user".into(), content: "hi".into() }],
        params: Some(SamplingParams { max_tokens: Some(max_tokens), ..Default::default() }),
        ..Default::default()
    }
}

/// What a client of one generation saw.
pub(super) struct Seen {
    pub(super) tokens: Vec<u32>,
    pub(super) receipt: Option<SignedReceipt>,
    pub(super) error: Option<tonic::Status>,
}

pub(super) async fn run(h: &Harness, req: GenerateRequest) -> Seen {
    collect(h.forwarder.stream(JobId::random(), req)).await
}

/// [`run`], sending the first attempt to `worker`.
async fn run_on(h: &Harness, req: GenerateRequest, worker: usize) -> Seen {
    let (tx, rx) = mpsc::channel(64);
    let (forwarder, prefer) = (h.forwarder.clone(), Some(h.workers[worker].key()));
    tokio::spawn(async move { forwarder.generate_on(JobId::random(), req, tx, prefer).await });
    collect(rx).await
}

async fn collect(mut events: super::Generation) -> Seen {
    let mut seen = Seen { tokens: Vec::new(), receipt: None, error: None };
    while let Some(event) = events.recv().await {
        match event.map(|m| m.event) {
            Ok(Some(generate_response::Event::Delta(d))) => seen.tokens.extend(d.token_ids),
            Ok(Some(generate_response::Event::Done(d))) => seen.receipt = d.receipt,
            Ok(None) => {}
            Err(status) => seen.error = Some(status),
        }
    }
    seen
}

fn counter(metrics: &RouterMetrics, series: &str) -> f64 {
    let page = metrics.encode();
    page.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_worker_that_fails_before_the_first_token_is_retried_elsewhere() {
    let h = harness(&[(Behaviour::Down, 0), (Behaviour::Honest, 50)], 0.0, Duration::from_secs(60)).await;
    let seen = run(&h, request(5)).await;
    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert_eq!(seen.tokens, vec![1, 2, 3, 4, 5]);
    let receipt = seen.receipt.expect("receipt");
    signing::verify_countersigned(&receipt).expect("worker signature and countersignature");
    assert_eq!(h.workers[0].generations().len(), 1, "the preferred worker was tried first");
    assert_eq!(h.workers[1].generations().len(), 1);
    assert_eq!(counter(&h.metrics, "wick_router_retries_total{value=\"retry\"}"), 1.0);
    assert_eq!(
        h.store.receipts_between(0, u64::MAX).expect("log"),
        vec![receipt],
        "logged before the answer"
    );
}

#[tokio::test]
async fn a_worker_asking_more_than_the_router_pays_gets_no_traffic() {
    let mut h = harness(&[], 0.0, Duration::from_secs(60)).await;
    h.add_worker(Behaviour::Honest, 0).await;
    h.add_worker(Behaviour::Honest, 50).await;
    // The preferred (less loaded) worker advertises a price that would drain the escrow.
    let mut greedy = h.workers[0].record(0);
    greedy.price_per_1k_tokens = 1 << 40;
    greedy.sequence = 2;
    assert!(h.peers.upsert(greedy));
    let seen = run(&h, request(3)).await;
    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert!(h.workers[0].generations().is_empty(), "the greedy worker got the job");
    let ticket = h.workers[1].generations()[0].ticket.clone().expect("ticket");
    assert!(ticket.price_per_1k_tokens <= 10_000);
}

#[tokio::test]
async fn a_worker_that_dies_mid_stream_is_resumed_on_another() {
    let h =
        harness(&[(Behaviour::DiesAfter(3), 0), (Behaviour::Honest, 50)], 0.0, Duration::from_secs(60)).await;
    let seen = run(&h, request(8)).await;
    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert_eq!(seen.tokens, (1..=8).collect::<Vec<u32>>(), "the client sees one uninterrupted stream");
    let receipt = seen.receipt.expect("receipt");
    assert_eq!(receipt.receipt.expect("body").worker_public_key, h.workers[1].key());
    let (first, second) = (&h.workers[0].generations()[0], &h.workers[1].generations()[0]);
    assert_eq!(second.resume_tokens, vec![1, 2, 3], "resumed from the tokens already sent");
    let (a, b) = (first.ticket.as_ref().expect("ticket"), second.ticket.as_ref().expect("ticket"));
    assert_eq!(a.request_hash, b.request_hash, "the same request");
    assert_ne!(a.job_id, b.job_id, "a ticket per worker, each at that worker's price");
    assert_eq!(counter(&h.metrics, "wick_router_retries_total{value=\"failover\"}"), 1.0);
}

#[tokio::test]
async fn a_bad_receipt_fails_the_job_and_excludes_the_worker() {
    assert_receipt_refused(Behaviour::BadReceipt, "receipt was invalid").await;
}

/// A worker whose receipt the router refuses fails the job (INTERNAL, `says` in the message),
/// is excluded, and nothing reaches the receipt log.
async fn assert_receipt_refused(behaviour: Behaviour, says: &str) {
    let h = harness(&[(behaviour, 0)], 0.0, Duration::from_secs(60)).await;
    let seen = run(&h, request(3)).await;
    let error = seen.error.expect("an error");
    assert_eq!(error.code(), tonic::Code::Internal);
    assert!(error.message().contains(says), "{}", error.message());
    assert!(seen.receipt.is_none());
    assert!(h.peers.is_excluded(&h.workers[0].key()));
    assert!(h.store.receipts_between(0, u64::MAX).expect("log").is_empty());
}

#[tokio::test]
async fn an_audit_accuses_the_odd_worker_out_and_publishes_the_evidence() {
    let mut h = harness(&[(Behaviour::Liar, 0)], 1.0, Duration::from_secs(60)).await;
    let seen = run(&h, request(4)).await;
    assert_eq!(seen.tokens, vec![101, 102, 103, 104], "the liar served the job");
    // Two honest workers join: one audits, the other breaks the tie.
    h.add_worker(Behaviour::Honest, 10).await;
    h.add_worker(Behaviour::Honest, 20).await;
    h.start_audits();
    let evidence = tokio::time::timeout(Duration::from_secs(20), h.evidence.recv())
        .await
        .expect("evidence in time")
        .expect("evidence");
    assert_eq!(evidence.accused_worker, h.workers[0].key().to_vec());
    assert_eq!(evidence.tiebreakers.len(), 1);
    assert!(h.peers.is_excluded(&h.workers[0].key()));
    assert_eq!(h.store.evidence().expect("log"), vec![evidence], "in the log before the feed");
    assert_eq!(counter(&h.metrics, "wick_router_audits_total{value=\"fraud\"}"), 1.0);
}

#[tokio::test]
async fn embedding_tickets_live_as_long_as_the_configured_request_timeout() {
    let timeout = Duration::from_secs(1234);
    let h = harness(&[(Behaviour::Honest, 0)], 0.0, timeout).await;
    let before = wick_proto::time::unix_ms_after(timeout);
    let req = EmbedRequest { model: MODEL.into(), inputs: vec!["a".into(), "b".into()], ticket: None };
    let resp = h.forwarder.embed(JobId::random(), req).await.expect("embedding");
    let after = wick_proto::time::unix_ms_after(timeout);
    signing::verify_countersigned(&resp.receipt.expect("receipt")).expect("countersigned");
    let ticket = h.workers[0].embeddings()[0].ticket.clone().expect("ticket");
    assert!((before..=after).contains(&ticket.deadline_unix_ms), "deadline {}", ticket.deadline_unix_ms);
}

/// A numeric class no real device has, for the tests' "GPU" workers.
const GPU: &str = "test-gpu-1.0";

fn class_of(r: &SignedReceipt) -> &str {
    r.receipt.as_ref().map_or("", |r| r.numeric_class.as_str())
}

#[tokio::test]
async fn a_resume_goes_only_to_a_worker_of_the_class_that_streamed() {
    let mut h = harness(&[(Behaviour::DiesAfter(3), 0)], 0.0, Duration::from_secs(60)).await;
    // The GPU worker is the less loaded one: without the class rule it would take the resume.
    h.add_worker_in(GPU, Behaviour::Honest, 0).await;
    h.add_worker(Behaviour::Honest, 50).await;
    let seen = run_on(&h, request(8), 0).await;
    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert_eq!(seen.tokens, (1..=8).collect::<Vec<u32>>());
    let receipt = seen.receipt.expect("receipt");
    assert_eq!(class_of(&receipt), CPU_CLASS);
    assert_eq!(receipt.receipt.expect("body").worker_public_key, h.workers[2].key());
    assert!(h.workers[1].generations().is_empty(), "the GPU worker was asked to resume CPU tokens");
    assert_eq!(h.workers[2].generations()[0].resume_tokens, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_resume_with_no_worker_of_the_class_left_fails_cleanly() {
    let mut h = harness(&[(Behaviour::DiesAfter(3), 0)], 0.0, Duration::from_secs(60)).await;
    h.add_worker_in(GPU, Behaviour::Honest, 50).await;
    let seen = run(&h, request(8)).await;
    assert_eq!(seen.tokens, vec![1, 2, 3], "the tokens streamed before the failure");
    assert!(seen.receipt.is_none());
    let error = seen.error.expect("an error");
    assert_eq!(error.code(), tonic::Code::Unavailable);
    assert!(error.message().contains("failed"), "{}", error.message());
    assert!(h.workers[1].generations().is_empty(), "the GPU worker was asked to resume CPU tokens");
    assert!(!h.peers.is_excluded(&h.workers[1].key()));
}

#[tokio::test]
async fn a_retry_before_the_first_token_may_go_to_another_class() {
    let mut h = harness(&[(Behaviour::Down, 0)], 0.0, Duration::from_secs(60)).await;
    h.add_worker_in(GPU, Behaviour::Honest, 50).await;
    let seen = run(&h, request(4)).await;
    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert_eq!(seen.tokens, vec![1, 2, 3, 4]);
    assert_eq!(class_of(&seen.receipt.expect("receipt")), GPU);
}

#[tokio::test]
async fn a_receipt_of_another_class_than_announced_excludes_the_worker() {
    assert_receipt_refused(Behaviour::OtherClass, "numeric class").await;
}

#[tokio::test]
async fn audits_rerun_only_on_workers_of_the_audited_class() {
    let mut h = harness(&[(Behaviour::Liar, 0)], 1.0, Duration::from_secs(60)).await;
    let seen = run(&h, request(4)).await;
    assert_eq!(class_of(&seen.receipt.expect("receipt")), CPU_CLASS);
    // Honest GPU workers that already served (so picked first by any class) and two CPU ones.
    for queue in [0, 1] {
        h.add_worker_in(GPU, Behaviour::Honest, queue).await;
    }
    h.add_worker(Behaviour::Honest, 10).await;
    h.add_worker(Behaviour::Honest, 20).await;
    h.peers.mark_ok(&h.workers[1].key());
    h.peers.mark_ok(&h.workers[2].key());
    h.start_audits();
    let evidence = tokio::time::timeout(Duration::from_secs(20), h.evidence.recv())
        .await
        .expect("evidence in time")
        .expect("evidence");
    assert_eq!(evidence.accused_worker, h.workers[0].key().to_vec());
    let receipts = [&evidence.audited, &evidence.auditor].into_iter().flatten().chain(&evidence.tiebreakers);
    assert!(receipts.clone().count() == 3 && receipts.clone().all(|r| class_of(r) == CPU_CLASS));
    assert!(h.workers[1].generations().is_empty() && h.workers[2].generations().is_empty());
}

#[tokio::test]
async fn an_audit_with_auditors_only_in_another_class_compares_nothing() {
    let mut h = harness(&[(Behaviour::Liar, 0)], 1.0, Duration::from_secs(60)).await;
    run(&h, request(4)).await;
    h.add_worker_in(GPU, Behaviour::Honest, 0).await;
    h.add_worker_in(GPU, Behaviour::Honest, 1).await;
    h.start_audits();
    let series = "wick_router_audits_total{value=\"no_auditor\"}";
    tokio::time::timeout(Duration::from_secs(20), async {
        while counter(&h.metrics, series) < 1.0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the audit ended without an auditor");
    assert!(h.workers[1].generations().is_empty() && h.workers[2].generations().is_empty());
    assert!(h.evidence.try_recv().is_err(), "no evidence across classes");
    assert!(!h.peers.is_excluded(&h.workers[0].key()), "nobody of its class could judge it");
}
