//! The router's check of a worker's receipt against what it saw of the job, and its
//! countersignature. Forwarding and audits both use it.

use ed25519_dalek::{SigningKey, VerifyingKey};
use wick_proto::class::{ClassError, validate_class};
use wick_proto::signing::{self, SignatureError};
use wick_proto::v1::{JobTicket, SignedReceipt};

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
    /// It names no valid numeric class.
    #[error("the receipt's numeric class is invalid: {0}")]
    BadClass(ClassError),
    /// It names another numeric class than the worker announced, which the router relied on to
    /// compare or continue its output.
    #[error("the receipt's numeric class `{receipt}` is not the class `{announced}` the worker announced")]
    OtherClass {
        /// The receipt's class.
        receipt: String,
        /// The class in the worker's capability record.
        announced: String,
    },
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
/// countersignature. The receipt must name a valid numeric class, and `class` when given: the
/// class the worker announced, for generations (audited and resumed within that class).
/// Embeddings pass `None`: a worker's embedder runs on the CPU whatever its chat models' device.
pub(crate) fn accept(
    key: &SigningKey,
    signed: Option<SignedReceipt>,
    ticket: &JobTicket,
    worker: &VerifyingKey,
    class: Option<&str>,
    seen: Seen<'_>,
) -> Result<SignedReceipt, ReceiptError> {
    let mut signed = signed.ok_or(ReceiptError::Missing)?;
    let r = signed.receipt.as_ref().ok_or(ReceiptError::Empty)?;
    if r.worker_public_key != worker.as_bytes() {
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
    check_class(&r.numeric_class, class)?;
    // Verifies the worker's signature before adding the router's.
    signing::countersign_for(key, worker, &mut signed)?;
    Ok(signed)
}

fn check_class(receipt: &str, announced: Option<&str>) -> Result<(), ReceiptError> {
    validate_class(receipt).map_err(ReceiptError::BadClass)?;
    match announced {
        Some(a) if a != receipt => {
            Err(ReceiptError::OtherClass { receipt: receipt.to_string(), announced: a.to_string() })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_proto::v1::Receipt;

    const GPU: &str = "test-gpu-1.0";

    fn job(worker: &SigningKey, class: &str) -> (JobTicket, SignedReceipt) {
        let mut ticket = JobTicket { job_id: vec![1; 16], model_id: vec![2; 32], ..Default::default() };
        signing::sign_ticket(&SigningKey::from_bytes(&[9; 32]), &mut ticket);
        let receipt = Receipt {
            output_hash: signing::output_hash(&[5, 6], "ab").to_vec(),
            tokens_out: 2,
            numeric_class: class.into(),
            ..signing::receipt_for(Some(&ticket), [0; 32])
        };
        (ticket, signing::sign_receipt(worker, receipt))
    }

    fn check(receipt_class: &str, announced: Option<&str>) -> Result<SignedReceipt, ReceiptError> {
        let worker = SigningKey::from_bytes(&[3; 32]);
        let (ticket, signed) = job(&worker, receipt_class);
        let seen = Seen::Generation { tokens: &[5, 6], text: "ab" };
        let key = worker.verifying_key();
        accept(&SigningKey::from_bytes(&[9; 32]), Some(signed), &ticket, &key, announced, seen)
    }

    #[test]
    fn a_receipt_of_the_announced_class_is_countersigned() {
        let signed = check(GPU, Some(GPU)).expect("accepted");
        signing::verify_countersigned(&signed).expect("countersigned");
        assert!(check("cpu-v1", None).is_ok(), "embeddings: any valid class");
    }

    #[test]
    fn a_receipt_of_another_class_than_announced_is_refused() {
        assert!(matches!(check("cpu-v1", Some(GPU)), Err(ReceiptError::OtherClass { .. })));
        assert!(matches!(check(GPU, Some("cpu-v1")), Err(ReceiptError::OtherClass { .. })));
        for bad in ["", "GPU", "gpu 1"] {
            assert!(matches!(check(bad, Some(bad)), Err(ReceiptError::BadClass(_))), "{bad:?}");
            assert!(matches!(check(bad, None), Err(ReceiptError::BadClass(_))), "{bad:?}");
        }
    }
}
