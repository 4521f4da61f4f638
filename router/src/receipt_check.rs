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
    /// It is not the receipt of this job's ticket (job hash, router, job id, price or model).
    #[error("the receipt names another job, router, price or model than its ticket")]
    OtherJob,
    /// Its output hash or token counts differ from what was streamed.
    #[error("the receipt does not match the output the router streamed")]
    OtherOutput,
    /// The worker's signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// What the router saw of a job's output, which the receipt must match exactly.
pub(crate) enum Seen<'a> {
    /// A generation: every token id and the text the client was sent.
    Generation {
        /// Token ids, in order (resumed ones included).
        tokens: &'a [u32],
        /// The text of every delta, concatenated.
        text: &'a str,
    },
    /// An embedding: the floats' bits, vector after vector.
    Embedding {
        /// The bits.
        bits: &'a [u32],
        /// Input tokens the worker reported to the client.
        tokens_in: u32,
    },
}

/// Checks a worker's receipt for `ticket` against what the router saw, then adds the router's
/// countersignature.
pub(crate) fn accept(
    key: &SigningKey,
    signed: Option<SignedReceipt>,
    ticket: &JobTicket,
    worker: &WorkerKey,
    seen: Seen<'_>,
) -> Result<SignedReceipt, ReceiptError> {
    let mut signed = signed.ok_or(ReceiptError::Missing)?;
    let r = signed.receipt.as_ref().ok_or(ReceiptError::Empty)?;
    if r.worker_public_key != worker {
        return Err(ReceiptError::OtherWorker);
    }
    let bound = r.job_hash == signing::ticket_hash(ticket)
        && r.router_public_key == ticket.router_public_key
        && r.job_id == ticket.job_id
        && r.price_per_1k_tokens == ticket.price_per_1k_tokens
        && r.model_id == ticket.model_id;
    if !bound {
        return Err(ReceiptError::OtherJob);
    }
    let matches = match seen {
        Seen::Generation { tokens, text } => {
            r.output_hash == signing::output_hash(tokens, text) && r.tokens_out as usize == tokens.len()
        }
        Seen::Embedding { bits, tokens_in } => {
            r.output_hash == signing::output_hash(bits, "") && r.tokens_out == 0 && r.tokens_in == tokens_in
        }
    };
    if !matches {
        return Err(ReceiptError::OtherOutput);
    }
    // Verifies the worker's signature before adding the router's.
    signing::countersign(key, &mut signed)?;
    Ok(signed)
}
