//! The JSON form of a countersigned receipt: what the router's HTTP answers carry as
//! `wick_receipt` and what the explorer's receipt check reads back. Bytes are hex; `protobuf` is
//! the whole signed receipt (the `x-wick-receipt` header's value).

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::v1::{Receipt, SignedReceipt};

/// A receipt, its worker's signature and its router's countersignature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptJson {
    /// sha256 of the ticket's signing bytes (or of the request).
    pub job_hash: String,
    /// The model's id.
    pub model_id: String,
    /// sha256 over the output token ids and the text sent.
    pub output_hash: String,
    /// Prompt tokens.
    pub tokens_in: u32,
    /// Output tokens.
    pub tokens_out: u32,
    /// When the job started.
    pub started_unix_ms: u64,
    /// When it finished.
    pub finished_unix_ms: u64,
    /// The worker's ed25519 key.
    pub worker_public_key: String,
    /// The router whose ticket the job ran under (empty without a ticket).
    #[serde(default)]
    pub ticket_router_public_key: String,
    /// The ticket's price per 1000 tokens.
    #[serde(default)]
    pub price_per_1k_tokens: u64,
    /// The ticket's job id.
    #[serde(default)]
    pub job_id: String,
    /// The numeric class of the device that computed the output (`crate::class`).
    #[serde(default)]
    pub numeric_class: String,
    /// The worker's signature over the receipt.
    pub worker_signature: String,
    /// The countersigning router's key (empty before a router countersigns).
    pub router_public_key: String,
    /// The router's countersignature.
    pub router_signature: String,
    /// The whole signed receipt, protobuf, hex.
    #[serde(default)]
    pub protobuf: String,
}

impl From<&SignedReceipt> for ReceiptJson {
    fn from(s: &SignedReceipt) -> Self {
        let r = s.receipt.clone().unwrap_or_default();
        Self {
            job_hash: hex::encode(&r.job_hash),
            model_id: hex::encode(&r.model_id),
            output_hash: hex::encode(&r.output_hash),
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            started_unix_ms: r.started_unix_ms,
            finished_unix_ms: r.finished_unix_ms,
            worker_public_key: hex::encode(&r.worker_public_key),
            ticket_router_public_key: hex::encode(&r.router_public_key),
            price_per_1k_tokens: r.price_per_1k_tokens,
            job_id: hex::encode(&r.job_id),
            numeric_class: r.numeric_class.clone(),
            worker_signature: hex::encode(&s.worker_signature),
            router_public_key: hex::encode(&s.router_public_key),
            router_signature: hex::encode(&s.router_signature),
            protobuf: hex::encode(s.encode_to_vec()),
        }
    }
}

/// A field of a JSON receipt is not hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` is not hex: {reason}")]
pub struct NotHex {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

impl ReceiptJson {
    /// The signed receipt its fields describe (`protobuf` aside).
    pub fn to_signed(&self) -> Result<SignedReceipt, NotHex> {
        let bytes = |field: &'static str, v: &str| {
            hex::decode(v.trim()).map_err(|e| NotHex { field, reason: e.to_string() })
        };
        Ok(SignedReceipt {
            receipt: Some(Receipt {
                job_hash: bytes("job_hash", &self.job_hash)?,
                model_id: bytes("model_id", &self.model_id)?,
                output_hash: bytes("output_hash", &self.output_hash)?,
                tokens_in: self.tokens_in,
                tokens_out: self.tokens_out,
                started_unix_ms: self.started_unix_ms,
                finished_unix_ms: self.finished_unix_ms,
                worker_public_key: bytes("worker_public_key", &self.worker_public_key)?,
                router_public_key: bytes("ticket_router_public_key", &self.ticket_router_public_key)?,
                price_per_1k_tokens: self.price_per_1k_tokens,
                job_id: bytes("job_id", &self.job_id)?,
                numeric_class: self.numeric_class.clone(),
            }),
            worker_signature: bytes("worker_signature", &self.worker_signature)?,
            router_public_key: bytes("router_public_key", &self.router_public_key)?,
            router_signature: bytes("router_signature", &self.router_signature)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing;

    #[test]
    fn round_trips_through_json() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let mut s = signing::sign_receipt(
            &key,
            Receipt {
                job_hash: vec![1; 32],
                tokens_out: 9,
                router_public_key: vec![4; 32],
                price_per_1k_tokens: 1_000,
                job_id: vec![5; 16],
                numeric_class: "cpu-v1".into(),
                ..Default::default()
            },
        );
        signing::countersign(&ed25519_dalek::SigningKey::from_bytes(&[4; 32]), &mut s).expect("countersign");
        let json = ReceiptJson::from(&s);
        let text = serde_json::to_string(&json).expect("serialize");
        let back: ReceiptJson = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.to_signed(), Ok(s.clone()));
        assert_eq!(SignedReceipt::decode(&*hex::decode(&back.protobuf).expect("hex")).ok(), Some(s));
        let bad = ReceiptJson { model_id: "xyz".into(), ..back };
        assert!(matches!(bad.to_signed(), Err(NotHex { field: "model_id", .. })));
    }
}
