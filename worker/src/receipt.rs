//! Receipts: what a worker signs for every finished job.

use std::time::SystemTime;

use ed25519_dalek::SigningKey;
use wick_proto::signing;
use wick_proto::time::unix_ms;
use wick_proto::v1::{Receipt, SignedReceipt};

/// What a receipt records about a job.
pub struct JobRecord<'a> {
    /// Hash of the ticket, or of the request when there is none.
    pub job_hash: [u8; 32],
    /// sha256 of the weights, hex.
    pub model_id: &'a str,
    /// All output token ids.
    pub output_tokens: &'a [u32],
    /// Prompt tokens.
    pub tokens_in: usize,
    /// When the job started.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
}

/// Builds and signs the receipt of a finished job.
pub fn sign(key: &SigningKey, job: &JobRecord<'_>) -> SignedReceipt {
    let receipt = Receipt {
        job_hash: job.job_hash.to_vec(),
        model_id: hex::decode(job.model_id).unwrap_or_else(|_| job.model_id.as_bytes().to_vec()),
        output_hash: signing::output_hash(job.output_tokens).to_vec(),
        tokens_in: job.tokens_in as u32,
        tokens_out: job.output_tokens.len() as u32,
        started_unix_ms: unix_ms(job.started),
        finished_unix_ms: unix_ms(job.finished),
        worker_public_key: Vec::new(),
    };
    signing::sign_receipt(key, receipt)
}
