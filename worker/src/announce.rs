//! The worker's presence on the peer network: its signed capability record, rebuilt from live
//! engine counters at each announcement, and a count of the other workers it hears about.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;
use wick_net::{Announcer, NetHandle};
use wick_proto::signing;
use wick_proto::time::unix_ms;
use wick_proto::v1::{CapabilityRecord, ModelAd};

use crate::service::WorkerState;

/// Records stay valid for this many announce intervals, so one lost message is harmless.
const VALIDITY_INTERVALS: u32 = 3;

/// The longest validity a record may claim (receivers refuse more).
const MAX_TTL: Duration = Duration::from_millis(wick_net::records::MAX_TTL_MS);

/// Builds the closure the network task calls to get the current record.
pub fn announcer(state: Arc<WorkerState>, grpc_endpoint: String, interval: Duration) -> Announcer {
    let sequence = AtomicU64::new(0);
    let rate = Mutex::new((Instant::now(), 0usize, 0f32));
    Box::new(move || {
        let s = &state;
        let generated: usize =
            s.chat.iter().map(|e| e.stats().tokens_generated.load(Ordering::Relaxed)).sum();
        let tokens_per_second = {
            let mut r = rate.lock().unwrap_or_else(|e| e.into_inner());
            let elapsed = r.0.elapsed().as_secs_f32();
            if elapsed >= 1.0 {
                r.2 = (generated - r.1) as f32 / elapsed;
                *r = (Instant::now(), generated, r.2);
            }
            r.2
        };
        let chat = s.chat.iter().map(|e| ModelAd {
            name: e.model().name().to_string(),
            id: e.model().id().to_string(),
            kind: "chat".into(),
        });
        let embed = s.embedders.iter().map(|e| ModelAd {
            name: e.name().to_string(),
            id: e.id().to_string(),
            kind: "embedding".into(),
        });
        let now = SystemTime::now();
        let record = CapabilityRecord {
            worker_public_key: Vec::new(),
            peer_id: String::new(),
            grpc_endpoint: grpc_endpoint.clone(),
            models: chat.chain(embed).collect(),
            free_slots: s.chat.iter().map(|e| e.free_slots() as u32).sum(),
            queue_depth: s.chat.iter().map(|e| e.stats().queued.load(Ordering::Relaxed) as u32).sum(),
            tokens_per_second,
            price_per_1k_tokens: s.config.price_per_1k_tokens,
            version: env!("CARGO_PKG_VERSION").into(),
            issued_unix_ms: unix_ms(now),
            // Receivers refuse an expiry further out than MAX_TTL_MS.
            expires_unix_ms: unix_ms(now + (interval * VALIDITY_INTERVALS).min(MAX_TTL)),
            sequence: sequence.fetch_add(1, Ordering::Relaxed),
            numeric_class: s.numeric_class.clone(),
        };
        let mut record = record;
        record.peer_id = wick_net::records::peer_id_of(s.key.verifying_key().as_bytes())
            .map(|p| p.to_string())
            .unwrap_or_default();
        signing::sign_capability(&s.key, record)
    })
}

/// Keeps the `p2p_known_workers` gauge up to date from received records.
pub fn track_peers(net: &NetHandle, state: Arc<WorkerState>, shutdown: CancellationToken) {
    let mut records = net.subscribe();
    let me = state.key.verifying_key().to_bytes().to_vec();
    tokio::spawn(async move {
        let mut seen: HashMap<Vec<u8>, u64> = HashMap::new();
        loop {
            let record = tokio::select! {
                () = shutdown.cancelled() => return,
                r = records.recv() => r,
            };
            match record {
                Ok(r) if r.worker_public_key != me => {
                    seen.insert(r.worker_public_key, r.expires_unix_ms);
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
            let now = unix_ms(SystemTime::now());
            seen.retain(|_, expires| *expires > now);
            state.metrics.known_workers.set(seen.len() as i64);
        }
    });
}
