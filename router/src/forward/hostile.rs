//! The router against hostile workers (garbage, never-ending streams, huge deltas, silence) and
//! a flood of capability records for fresh keys: each bad worker is cut off and excluded, the
//! table stays bounded, and honest traffic keeps its latency. Load loops are bounded in count
//! and time, on loopback.

use std::time::{Duration, Instant};

use super::tests::{harness, request, run};
use crate::fake_worker::{Behaviour, MODEL, MODEL_ID};
use crate::peer_table::MAX_WORKERS;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::{CapabilityRecord, ModelAd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_worker_is_cut_off_and_excluded() {
    for behaviour in [Behaviour::Endless, Behaviour::Huge, Behaviour::Silent] {
        let h = harness(&[(behaviour, 0)], 0.0, Duration::from_secs(20)).await;
        let started = Instant::now();
        let seen = run(&h, request(16)).await;
        let error = seen.error.unwrap_or_else(|| panic!("{behaviour:?}: the job must fail"));
        assert!(seen.tokens.len() <= 16, "{behaviour:?}: never more tokens than max_tokens reach the client");
        assert!(started.elapsed() < Duration::from_secs(10), "{behaviour:?}: took {:?}", started.elapsed());
        if behaviour != Behaviour::Silent {
            assert!(h.peers.is_excluded(&h.workers[0].key()), "{behaviour:?}: {error:?}");
        }
    }
}

/// A record for a made-up worker that claims to serve the fake model, fast and idle.
fn fresh_record(i: u64) -> CapabilityRecord {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&i.to_le_bytes());
    key[31] = 0xee;
    CapabilityRecord {
        worker_public_key: key.to_vec(),
        grpc_endpoint: "http://127.0.0.1:9".into(),
        models: vec![ModelAd { name: MODEL.into(), id: MODEL_ID.into(), kind: "chat".into() }],
        free_slots: 64,
        tokens_per_second: 1e5,
        version: "flood".into(),
        expires_unix_ms: now_unix_ms() + 30_000,
        sequence: 1,
        numeric_class: crate::fake_worker::CPU_CLASS.into(),
        ..Default::default()
    }
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

/// Latencies of `count` requests, 4 at a time.
async fn latencies(h: &super::tests::Harness, count: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count / 4 {
        let runs = (0..4).map(|_| async {
            let started = Instant::now();
            let seen = run(h, request(8)).await;
            assert!(seen.error.is_none(), "honest traffic failed: {:?}", seen.error);
            started.elapsed()
        });
        out.extend(futures::future::join_all(runs).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_workers_and_a_record_flood_leave_honest_traffic_alone() {
    let mut h = harness(&[(Behaviour::Paced(2), 0)], 0.0, Duration::from_secs(30)).await;
    let quiet = p99(latencies(&h, 200).await);

    for b in [Behaviour::Endless, Behaviour::Huge, Behaviour::Silent, Behaviour::Down] {
        h.add_worker(b, 0).await;
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let peers = h.peers.clone();
    let flood_stop = stop.clone();
    // 100 000 fresh keys a second, in batches of 1 000 every 10 ms, for at most 30 s.
    let flood = tokio::spawn(async move {
        let started = Instant::now();
        let mut next = 0u64;
        while !flood_stop.is_cancelled() && started.elapsed() < Duration::from_secs(30) {
            for _ in 0..1_000 {
                peers.upsert(fresh_record(next));
                next += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        next
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attacked = p99(latencies(&h, 200).await);
    stop.cancel();
    let sent = flood.await.expect("flood");
    let table = h.peers.keys().len();
    eprintln!("p99 quiet {quiet:?}, under attack {attacked:?}; {sent} flood records, table of {table}");
    assert!(table <= MAX_WORKERS, "the peer table is bounded: {table}");
    assert!(sent >= 50_000, "the flood ran: {sent}");
    // 2 ms of slack for timer granularity on a busy machine.
    assert!(attacked <= quiet * 2 + Duration::from_millis(2), "p99 {attacked:?} against {quiet:?} quiet");
    let honest = &h.workers[0];
    assert!(!h.peers.is_excluded(&honest.key()));
}
