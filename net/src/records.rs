//! Checking capability records received from the network.

use wick_proto::time::now_unix_ms;

use libp2p::PeerId;
use libp2p::identity;
use prost::Message;
use wick_proto::signing;
use wick_proto::v1::{CapabilityRecord, SignedCapabilityRecord};

/// The gossipsub topic of capability records.
pub const TOPIC: &str = "wick/capabilities/1";

/// Longest expiry a record may claim, from now: workers re-announce every few seconds.
pub const MAX_TTL_MS: u64 = 60_000;
/// Largest encoded record accepted.
pub const MAX_RECORD_BYTES: usize = 16 << 10;
/// Most models one record may advertise.
pub const MAX_MODELS: usize = 64;
/// Longest text field (endpoint, names, ids, version), in bytes.
pub const MAX_FIELD_BYTES: usize = 256;
/// Largest batch or queue a record may claim.
pub const MAX_SLOTS: u32 = 1 << 16;
/// Highest tokens per second a record may claim.
pub const MAX_TOKENS_PER_SECOND: f32 = 1e6;

/// Why a received record was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not a protobuf `SignedCapabilityRecord`.
    #[error("malformed record: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("bad signature: {0}")]
    Signature(#[from] signing::SignatureError),
    /// The gossip author is not the record's key.
    #[error("record of {record} published by {author}")]
    WrongAuthor {
        /// Peer id derived from the record's key.
        record: String,
        /// Peer that published it.
        author: String,
    },
    /// Past its expiry.
    #[error("expired record")]
    Expired,
    /// No version field.
    #[error("record without a version")]
    NoVersion,
    /// A figure or field no honest worker reports.
    #[error("implausible record: {0}")]
    Implausible(&'static str),
}

/// The libp2p peer id of an ed25519 public key.
pub fn peer_id_of(public_key: &[u8]) -> Option<PeerId> {
    let key = identity::ed25519::PublicKey::try_from_bytes(public_key).ok()?;
    Some(identity::PublicKey::from(key).to_peer_id())
}

/// Decodes and checks a record published by `author` (when the author is known).
pub fn verify(data: &[u8], author: Option<PeerId>) -> Result<CapabilityRecord, RecordError> {
    if data.len() > MAX_RECORD_BYTES {
        return Err(RecordError::Implausible("larger than a record can be"));
    }
    let signed = SignedCapabilityRecord::decode(data).map_err(|e| RecordError::Malformed(e.to_string()))?;
    let record = signing::verify_capability(&signed)?.clone();
    let record_peer = peer_id_of(&record.worker_public_key)
        .ok_or_else(|| RecordError::Malformed("worker key is not an ed25519 key".into()))?;
    if let Some(author) = author
        && author != record_peer
    {
        return Err(RecordError::WrongAuthor { record: record_peer.to_string(), author: author.to_string() });
    }
    if record.expires_unix_ms <= now_unix_ms() {
        return Err(RecordError::Expired);
    }
    if record.version.is_empty() {
        return Err(RecordError::NoVersion);
    }
    plausible(&record)?;
    Ok(record)
}

/// Refuses figures no honest worker reports: NaN, infinite or absurd speeds, slots and queues
/// beyond any machine, an expiry further out than [`MAX_TTL_MS`], oversized fields, an endpoint
/// that is not an http(s) URL, a missing or malformed numeric class (`wick_proto::class`).
pub fn plausible(r: &CapabilityRecord) -> Result<(), RecordError> {
    let bad = |what| Err(RecordError::Implausible(what));
    if !r.tokens_per_second.is_finite() || !(0.0..=MAX_TOKENS_PER_SECOND).contains(&r.tokens_per_second) {
        return bad("tokens_per_second is not a finite speed");
    }
    if r.free_slots > MAX_SLOTS || r.queue_depth > MAX_SLOTS {
        return bad("free_slots or queue_depth out of range");
    }
    if r.expires_unix_ms > now_unix_ms().saturating_add(MAX_TTL_MS) {
        return bad("expires too far in the future");
    }
    if r.models.is_empty() || r.models.len() > MAX_MODELS {
        return bad("no models, or too many");
    }
    let fields = [&r.peer_id, &r.grpc_endpoint, &r.version]
        .into_iter()
        .chain(r.models.iter().flat_map(|m| [&m.name, &m.id, &m.kind]));
    if fields.into_iter().any(|f| f.len() > MAX_FIELD_BYTES) {
        return bad("a field is too long");
    }
    if !(r.grpc_endpoint.starts_with("http://") || r.grpc_endpoint.starts_with("https://")) {
        return bad("grpc_endpoint is not an http(s) URL");
    }
    if wick_proto::class::validate_class(&r.numeric_class).is_err() {
        return bad("numeric_class is not 1 to 32 bytes of a-z, 0-9, '.' or '-' starting with a letter");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn record(expires: u64, version: &str) -> CapabilityRecord {
        CapabilityRecord {
            expires_unix_ms: expires,
            version: version.into(),
            grpc_endpoint: "http://127.0.0.1:7001".into(),
            models: vec![wick_proto::v1::ModelAd { name: "m".into(), id: "i".into(), kind: "chat".into() }],
            tokens_per_second: 100.0,
            numeric_class: "cpu-v1".into(),
            ..Default::default()
        }
    }

    fn signed(expires: u64, version: &str) -> (SigningKey, Vec<u8>) {
        let key = SigningKey::from_bytes(&[7; 32]);
        (key.clone(), signing::sign_capability(&key, record(expires, version)).encode_to_vec())
    }

    #[test]
    fn implausible_figures_are_refused() {
        let good = record(now_unix_ms() + 10_000, "1");
        assert_eq!(plausible(&good), Ok(()));
        let cases: [fn(&mut CapabilityRecord); 12] = [
            |r| r.tokens_per_second = f32::NAN,
            |r| r.tokens_per_second = f32::INFINITY,
            |r| r.tokens_per_second = -1.0,
            |r| r.free_slots = u32::MAX,
            |r| r.expires_unix_ms = u64::MAX,
            |r| r.models.clear(),
            |r| r.grpc_endpoint = "file:///etc/passwd".into(),
            |r| r.version = "v".repeat(MAX_FIELD_BYTES + 1),
            |r| r.models = vec![r.models[0].clone(); MAX_MODELS + 1],
            |r| r.numeric_class.clear(),
            |r| r.numeric_class = "CUDA 8.6".into(),
            |r| r.numeric_class = format!("c{}", "1".repeat(32)),
        ];
        for (i, mutate) in cases.into_iter().enumerate() {
            let mut r = good.clone();
            mutate(&mut r);
            assert!(plausible(&r).is_err(), "case {i}");
        }
    }

    #[test]
    fn good_record_passes_and_bad_ones_fail() {
        let (key, data) = signed(now_unix_ms() + 10_000, "0.1.0");
        let me = peer_id_of(key.verifying_key().as_bytes());
        assert!(verify(&data, me).is_ok());
        assert!(matches!(verify(&data, Some(PeerId::random())), Err(RecordError::WrongAuthor { .. })));
        assert_eq!(verify(&signed(1, "0.1.0").1, None), Err(RecordError::Expired));
        assert_eq!(verify(&signed(now_unix_ms() + 10_000, "").1, None), Err(RecordError::NoVersion));
        let mut tampered = data.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(verify(&tampered, None).is_err());
        assert!(matches!(verify(b"junk", None), Err(RecordError::Malformed(_))));
    }
}
