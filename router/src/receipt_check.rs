//! The router's check of a worker's receipt against what it saw of the job, and its
//! countersignature. Forwarding and audits both use it.

use ed25519_dalek::SigningKey;
use wick_proto::signing::{self, SignatureError};
use wick_proto::v1::{JobTicket, SignedReceipt};

use crate::peer_table::WorkerKey;

/// Why a worker's receipt was refused. Each one means the worker cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReceiptError {
    /// The final message carried no receipt.
    #[error("the worker sent no receipt")]
    Missing,
    /// The signed receipt had no body.
    #[error("empty receipt")]
    Empty,
    /// Another key signed it.
    #[error("the receipt is signed by another key than the worker's")]
    OtherWorker,
    /// It is not the receipt of this job's ticket.
    #[error("the receipt names another job")]
    OtherJob,
    /// Its output hash or token count differs from the tokens that were streamed.
    #[error("the receipt does not match the streamed tokens")]
    OtherOutput,
    /// The worker's signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Checks a worker's receipt for `ticket` (and, for generations, the `output_tokens` the router
/// streamed), then adds the router's countersignature.
pub(crate) fn accept(
    key: &SigningKey,
    signed: Option<SignedReceipt>,
    ticket: &JobTicket,
    worker: &WorkerKey,
    output_tokens: Option<&[u32]>,
) -> Result<SignedReceipt, ReceiptError> {
    let mut signed = signed.ok_or(ReceiptError::Missing)?;
    let r = signed.receipt.as_ref().ok_or(ReceiptError::Empty)?;
    if r.worker_public_key != worker {
        return Err(ReceiptError::OtherWorker);
    }
    if r.job_hash != signing::ticket_hash(ticket) {
        return Err(ReceiptError::OtherJob);
    }
    if let Some(tokens) = output_tokens
        && (r.output_hash != signing::output_hash(tokens) || r.tokens_out as usize != tokens.len())
    {
        return Err(ReceiptError::OtherOutput);
    }
    // Verifies the worker's signature before adding the router's.
    signing::countersign(key, &mut signed)?;
    Ok(signed)
}
