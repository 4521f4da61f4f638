//! The evidence the ledger slashes on, checked here without reading any state (the state's
//! part, who may report and who may be a witness, is in [`crate::state`]'s slashing):
//! - [`check_conflicting_receipts`]: two receipts of one worker for one ticket that disagree;
//! - [`check_audit`]: a router's audit evidence (see [`audit`]);
//! - [`check_router_equivocation`]: two different tickets of one router for one job id.
//!
//! Every receipt must be bound to the ticket: its job hash is the ticket's hash (which covers
//! the request hash, model, parameters, price and epoch), it names the ticket's router and
//! model, every fixed-size field has its size and it names a valid numeric class. Receipts are
//! compared only within one numeric class ([`wick_proto::class`]): devices that sum floats in
//! another order give other outputs without anyone lying. Signatures are checked one by one
//! with ZIP-215 rules, like every signature the ledger accepts.

pub mod audit;

use sha2::{Digest, Sha256};
use wick_proto::class::validate_class;
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

fn address(bytes: &[u8], what: &str) -> Result<Address, TxError> {
    bytes.try_into().map(Address).map_err(|_| bad(&format!("{what} is not 32 bytes")))
}

/// What a verified ticket establishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketFacts {
    /// sha256 of the ticket's signing bytes: the job hash its receipts carry.
    pub job_hash: [u8; 32],
    /// The router that signed it.
    pub router: Address,
    /// The ledger epoch it was issued in: the infraction's epoch.
    pub epoch: u64,
}

/// Checks a ticket's router signature and the sizes of its fixed fields.
pub fn verify_ticket(ticket: &JobTicket) -> Result<TicketFacts, TxError> {
    if ticket.job_id.len() != 16 || ticket.model_id.len() != 32 || ticket.request_hash.len() != 32 {
        return Err(bad("the ticket's job id, model id or request hash has the wrong size"));
    }
    let router = address(&ticket.router_public_key, "the ticket's router key")?;
    verify(&ticket.router_public_key, &ticket.signature, &signing::ticket_bytes(ticket), "the ticket")?;
    Ok(TicketFacts { job_hash: signing::ticket_hash(ticket), router, epoch: ticket.epoch })
}

/// The receipt inside `s`, once its worker signature verifies and it is bound to `ticket`.
pub(crate) fn bound_receipt<'a>(
    s: &'a SignedReceipt,
    ticket: &JobTicket,
    facts: &TicketFacts,
    what: &str,
) -> Result<&'a Receipt, TxError> {
    let r = s.receipt.as_ref().ok_or_else(|| bad(&format!("{what} is empty")))?;
    if r.output_hash.len() != 32 {
        return Err(bad(&format!("{what}'s output hash is not 32 bytes")));
    }
    validate_class(&r.numeric_class).map_err(|e| bad(&format!("{what} is refused: {e}")))?;
    verify(&r.worker_public_key, &s.worker_signature, &signing::receipt_bytes(r), what)?;
    if r.job_hash != facts.job_hash {
        return Err(bad(&format!("{what} is for another job than the ticket's")));
    }
    if r.router_public_key != facts.router.0 || r.model_id != ticket.model_id || r.job_id != ticket.job_id {
        return Err(bad(&format!("{what} names another router, model or job id than the ticket")));
    }
    Ok(r)
}

/// Refuses receipts of more than one numeric class: their outputs may differ honestly, so
/// comparing them proves nothing.
pub(crate) fn one_class(receipts: &[&Receipt]) -> Result<(), TxError> {
    match receipts.split_first() {
        Some((first, rest)) if rest.iter().any(|r| r.numeric_class != first.numeric_class) => {
            Err(bad("receipts of different numeric classes cannot be compared"))
        }
        _ => Ok(()),
    }
}

/// Whether two receipts of one job say the same thing: tokens in, tokens out and output.
pub(crate) fn agree(a: &Receipt, b: &Receipt) -> bool {
    a.output_hash == b.output_hash && a.tokens_in == b.tokens_in && a.tokens_out == b.tokens_out
}

/// A proven conflict of one worker's receipts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The worker that signed both.
    pub worker: Address,
    /// The ticket.
    pub ticket: TicketFacts,
}

/// Checks a fraud proof: two receipts bound to `ticket`, both validly signed by the same worker,
/// in the same numeric class, that disagree. Deterministic inference gives one answer per ticket
/// and class, so one of them is a lie; a worker restarted on another device honestly computes
/// another answer, which is why receipts of two classes prove nothing.
pub fn check_conflicting_receipts(
    ticket: &JobTicket,
    a: &SignedReceipt,
    b: &SignedReceipt,
) -> Result<Conflict, TxError> {
    let facts = verify_ticket(ticket)?;
    let ra = bound_receipt(a, ticket, &facts, "the first receipt")?;
    let rb = bound_receipt(b, ticket, &facts, "the second receipt")?;
    if ra.worker_public_key != rb.worker_public_key {
        return Err(bad("receipts are from different workers"));
    }
    one_class(&[ra, rb])?;
    if agree(ra, rb) {
        return Err(bad("receipts do not conflict"));
    }
    Ok(Conflict { worker: address(&ra.worker_public_key, "the worker key")?, ticket: facts })
}

/// A proven equivocation of a router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The router that signed both tickets.
    pub router: Address,
    /// The earlier of the two tickets' epochs.
    pub epoch: u64,
    /// What stops the same equivocation from being proven twice: sha256(router ‖ job id).
    pub key: [u8; 32],
}

/// Checks two tickets signed by one router for one job id with different contents: a router
/// must never reuse a job id (workers serve each job id once; reusing it is how a router would
/// try to get conflicting receipts for one job).
pub fn check_router_equivocation(a: &JobTicket, b: &JobTicket) -> Result<Equivocation, TxError> {
    let fa = verify_ticket(a)?;
    let fb = verify_ticket(b)?;
    if fa.router != fb.router {
        return Err(bad("the tickets are from different routers"));
    }
    if a.job_id != b.job_id {
        return Err(bad("the tickets are for different job ids"));
    }
    if fa.job_hash == fb.job_hash {
        return Err(bad("the tickets are the same"));
    }
    let key = Sha256::new().chain_update(fa.router.0).chain_update(&a.job_id).finalize().into();
    Ok(Equivocation { router: fa.router, epoch: fa.epoch.min(fb.epoch), key })
}
