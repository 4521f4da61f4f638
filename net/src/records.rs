//! Checking capability records received from the network.

use wick_proto::time::now_unix_ms;

use libp2p::PeerId;
use libp2p::identity;
use prost::Message;
use wick_proto::signing;
use wick_proto::v1::{CapabilityRecord, SignedCapabilityRecord};

/// The gossipsub topic of capability records.
pub const TOPIC: &str = "wick/capabilities/1";

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
}

/// The libp2p peer id of an ed25519 public key.
pub fn peer_id_of(public_key: &[u8]) -> Option<PeerId> {
    let key = identity::ed25519::PublicKey::try_from_bytes(public_key).ok()?;
    Some(identity::PublicKey::from(key).to_peer_id())
}

/// Decodes and checks a record published by `author` (when the author is known).
pub fn verify(data: &[u8], author: Option<PeerId>) -> Result<CapabilityRecord, RecordError> {
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
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn signed(expires: u64, version: &str) -> (SigningKey, Vec<u8>) {
        let key = SigningKey::from_bytes(&[7; 32]);
        let record =
            CapabilityRecord { expires_unix_ms: expires, version: version.into(), ..Default::default() };
        (key.clone(), signing::sign_capability(&key, record).encode_to_vec())
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
