//! Real libp2p nodes on loopback exchange signed capability records.

use std::time::Duration;

use wick_proto::time::now_unix_ms;

use ed25519_dalek::SigningKey;
use tokio_util::sync::CancellationToken;
use wick_net::{Announcer, Multiaddr, NetConfig, NetHandle, start};
use wick_proto::signing;
use wick_proto::v1::CapabilityRecord;

fn announcer(seed: u8, endpoint: &str, expires_in_ms: i64) -> Announcer {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let endpoint = endpoint.to_string();
    Box::new(move || {
        let record = CapabilityRecord {
            grpc_endpoint: endpoint.clone(),
            models: vec![wick_proto::v1::ModelAd { name: "m".into(), id: "i".into(), kind: "chat".into() }],
            version: "test".into(),
            expires_unix_ms: (now_unix_ms() as i64 + expires_in_ms) as u64,
            numeric_class: "cpu-v1".into(),
            ..Default::default()
        };
        signing::sign_capability(&key, record)
    })
}

async fn node(
    seed: u8,
    bootstrap: Vec<Multiaddr>,
    announce: Option<Announcer>,
    stop: &CancellationToken,
) -> NetHandle {
    let config = NetConfig {
        bootstrap,
        announce_interval: Duration::from_millis(300),
        heartbeat: Duration::from_millis(200),
        ..NetConfig::default()
    };
    start([seed; 32], config, announce, stop.clone()).await.expect("start")
}

async fn addr(n: &NetHandle) -> Multiaddr {
    n.wait_listening(Duration::from_secs(5)).await.expect("listen").into_iter().next().expect("an address")
}

/// Waits (bounded) for a record with `endpoint` on `rx`.
async fn sees(rx: &mut tokio::sync::broadcast::Receiver<CapabilityRecord>, endpoint: &str) -> bool {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(r) if r.grpc_endpoint == endpoint => return true,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), wait).await.unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_direct_and_indirect_peers() {
    let stop = CancellationToken::new();
    let a = node(1, vec![], Some(announcer(1, "http://a", 10_000)), &stop).await;
    let a_addr = addr(&a).await;
    let b = node(2, vec![a_addr.clone()], Some(announcer(2, "http://b", 10_000)), &stop).await;
    let c = node(3, vec![a_addr], None, &stop).await;
    let (mut at_a, mut at_b, mut at_c) = (a.subscribe(), b.subscribe(), c.subscribe());
    assert!(sees(&mut at_a, "http://b").await, "a hears b");
    assert!(sees(&mut at_b, "http://a").await, "b hears a");
    assert!(sees(&mut at_c, "http://b").await, "c hears b through a");
    assert!(!a.peers().await.expect("peers").is_empty());
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_records_are_not_delivered() {
    let stop = CancellationToken::new();
    let a = node(11, vec![], None, &stop).await;
    let a_addr = addr(&a).await;
    let _stale = node(12, vec![a_addr.clone()], Some(announcer(12, "http://stale", -1_000)), &stop).await;
    let _good = node(13, vec![a_addr], Some(announcer(13, "http://good", 10_000)), &stop).await;
    let mut rx = a.subscribe();
    assert!(sees(&mut rx, "http://good").await);
    // Several announce rounds later, the stale node's records still never arrived.
    let mut rx = a.subscribe();
    let stale = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(r) = rx.recv().await
                && r.grpc_endpoint == "http://stale"
            {
                return;
            }
        }
    })
    .await;
    assert!(stale.is_err(), "an expired record was delivered");
    stop.cancel();
}
