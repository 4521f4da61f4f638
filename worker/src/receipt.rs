//! Receipts: what a worker signs for every finished job.

use std::time::SystemTime;

use ed25519_dalek::SigningKey;
use wick_proto::signing;
use wick_proto::time::unix_ms;
use wick_proto::v1::{JobTicket, SignedReceipt};

/// What the job produced, as the receipt's output hash and token counts cover it.
pub enum Output<'a> {
    /// A generation: every output token id (resumed ones included) and the text sent.
    Generation {
        /// Token ids.
        tokens: &'a [u32],
        /// The text the client received, from the first token on.
        text: &'a str,
    },
    /// An embedding: the floats' bits, vector after vector.
    Embedding(&'a [u32]),
}

/// What a receipt records about a job.
pub struct JobRecord<'a> {
    /// The job's ticket; without one (a development call) the job hash is `request_hash`.
    pub ticket: Option<&'a JobTicket>,
    /// The request's hash.
    pub request_hash: [u8; 32],
    /// sha256 of the weights, hex.
    pub model_id: &'a str,
    /// The numeric class of the device that computed the output (`wick_proto::class`).
    pub numeric_class: &'a str,
    /// The output.
    pub output: Output<'a>,
    /// Input tokens (the prompt's, or the embedding inputs').
    pub tokens_in: usize,
    /// When the job started.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
}

/// Builds and signs the receipt of a finished job: embeddings count their input tokens in and
/// none out; generations the prompt in and the generated tokens out.
pub fn sign(key: &SigningKey, job: &JobRecord<'_>) -> SignedReceipt {
    let mut receipt = signing::receipt_for(job.ticket, job.request_hash);
    receipt.model_id = hex::decode(job.model_id).unwrap_or_else(|_| job.model_id.as_bytes().to_vec());
    let (hash, tokens_out) = match job.output {
        Output::Generation { tokens, text } => (signing::output_hash(tokens, text), tokens.len()),
        Output::Embedding(bits) => (signing::output_hash(bits, ""), 0),
    };
    receipt.output_hash = hash.to_vec();
    receipt.tokens_in = u32::try_from(job.tokens_in).unwrap_or(u32::MAX);
    receipt.tokens_out = u32::try_from(tokens_out).unwrap_or(u32::MAX);
    receipt.started_unix_ms = unix_ms(job.started);
    receipt.finished_unix_ms = unix_ms(job.finished);
    receipt.numeric_class = job.numeric_class.to_string();
    signing::sign_receipt(key, receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_sign_the_class_of_the_device_that_ran_the_job() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let job = |numeric_class| JobRecord {
            ticket: None,
            request_hash: [2; 32],
            model_id: "ab",
            numeric_class,
            output: Output::Generation { tokens: &[1, 2], text: "hi" },
            tokens_in: 3,
            started: SystemTime::UNIX_EPOCH,
            finished: SystemTime::UNIX_EPOCH,
        };
        let signed = sign(&key, &job(wick_models::CPU_NUMERIC_CLASS));
        signing::verify_receipt(&signed).expect("signed");
        let receipt = signed.receipt.expect("body");
        assert_eq!(receipt.numeric_class, "cpu-v1");
        assert_eq!(wick_proto::class::validate_class(&receipt.numeric_class), Ok(()));
        let gpu = sign(&key, &job("cuda-8.6"));
        assert_ne!(gpu.worker_signature, sign(&key, &job("cpu-v1")).worker_signature);
    }
}
