//! The evidence the ledger slashes on, checked without reading any state: two conflicting
//! receipts of one worker for one job ([`check_conflicting_receipts`]), and a router's audit
//! evidence ([`check_audit`], see [`audit`]). Signatures are checked one by one with ZIP-215
//! rules, like every signature the ledger accepts.

pub mod audit;

use wick_proto::signing;
use wick_proto::v1::{JobTicket, Receipt, SignedReceipt};

pub use audit::check as check_audit;

use crate::error::TxError;
use crate::types::Address;

pub(crate) fn bad(m: &str) -> TxError {
    TxError::BadFraudProof(m.to_string())
}

/// Checks `signature` by the 32-byte `key` over `message`; `what` names the signed thing.
fn verify(key: &[u8], signature: &[u8], message: &[u8], what: &str) -> Result<(), TxError> {
    let vk = ed25519_consensus::VerificationKey::try_from(key)
        .map_err(|_| bad(&format!("{what} has a bad key")))?;
    let sig: [u8; 64] =
        signature.try_into().map_err(|_| bad(&format!("{what}'s signature is not 64 bytes")))?;
    vk.verify(&ed25519_consensus::Signature::from(sig), message)
        .map_err(|_| bad(&format!("{what}'s signature does not verify")))
}

/// The receipt inside `s`, once its worker signature verifies.
pub(crate) fn verify_receipt<'a>(s: &'a SignedReceipt, what: &str) -> Result<&'a Receipt, TxError> {
    let r = s.receipt.as_ref().ok_or_else(|| bad(&format!("{what} is empty")))?;
    verify(&r.worker_public_key, &s.worker_signature, &signing::receipt_bytes(r), what)?;
    Ok(r)
}

/// Checks a ticket's router signature.
pub(crate) fn verify_ticket(ticket: &JobTicket) -> Result<(), TxError> {
    verify(&ticket.router_public_key, &ticket.signature, &signing::ticket_bytes(ticket), "the ticket")
}

/// Checks a fraud proof: two receipts for the same job, both validly signed by the same worker,
/// with different outputs. Returns the worker and the job hash.
pub fn check_conflicting_receipts(
    a: &SignedReceipt,
    b: &SignedReceipt,
) -> Result<(Address, Vec<u8>), TxError> {
    let ra = verify_receipt(a, "the first receipt")?;
    let rb = verify_receipt(b, "the second receipt")?;
    if ra.worker_public_key != rb.worker_public_key {
        return Err(bad("receipts are from different workers"));
    }
    if ra.job_hash != rb.job_hash {
        return Err(bad("receipts are for different jobs"));
    }
    if ra.output_hash == rb.output_hash && ra.tokens_out == rb.tokens_out {
        return Err(bad("receipts do not conflict"));
    }
    let key: [u8; 32] = ra.worker_public_key.as_slice().try_into().map_err(|_| bad("bad worker key"))?;
    Ok((Address(key), ra.job_hash.clone()))
}
