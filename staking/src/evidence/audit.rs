//! Audit evidence as a fraud proof: a router's signed job ticket and the receipts of three or
//! more workers that ran that job. Inference is deterministic, so honest workers agree on the
//! output hash; the worker whose output differs from an agreeing majority (at least two other
//! workers) lied and is slashed.
//!
//! What the ledger checks: the ticket's signature (the router's), every receipt's worker
//! signature, that every receipt names the ticket's job (`job_hash = sha256(ticket bytes)`) and
//! the ticket's model, that the workers are distinct, that all receipts but the accused's
//! agree, and that the accused's differs. Trust assumption: at most one of the workers that
//! agree is lying with the others, since two colluding workers could frame a third.

use wick_proto::signing;
use wick_proto::v1::{JobTicket, SignedReceipt};

use super::{bad, verify_receipt};
use crate::error::TxError;
use crate::types::Address;

/// Fewest receipts that can decide: the accused's and two that agree against it.
pub const MIN_RECEIPTS: usize = 3;

/// Checks audit evidence against `accused`; returns the job hash (the key that stops the same
/// job from being proven twice).
pub fn check(ticket: &JobTicket, receipts: &[SignedReceipt], accused: &Address) -> Result<Vec<u8>, TxError> {
    if receipts.len() < MIN_RECEIPTS {
        return Err(bad("audit evidence needs the receipts of at least three workers"));
    }
    super::verify_ticket(ticket)?;
    let job = signing::ticket_hash(ticket).to_vec();
    let mut workers: Vec<&[u8]> = Vec::new();
    let mut accused_output = None;
    let mut agreed_output: Option<&[u8]> = None;
    for s in receipts {
        let r = verify_receipt(s, "a receipt")?;
        if r.job_hash != job {
            return Err(bad("a receipt is for another job than the ticket's"));
        }
        if r.model_id != ticket.model_id {
            return Err(bad("a receipt names another model than the ticket's"));
        }
        if workers.contains(&r.worker_public_key.as_slice()) {
            return Err(bad("two receipts are from the same worker"));
        }
        workers.push(&r.worker_public_key);
        if r.worker_public_key == accused.0 {
            accused_output = Some(r.output_hash.as_slice());
        } else {
            match agreed_output {
                None => agreed_output = Some(&r.output_hash),
                Some(o) if o == r.output_hash.as_slice() => {}
                Some(_) => return Err(bad("the other workers do not agree with each other")),
            }
        }
    }
    let accused_output = accused_output.ok_or_else(|| bad("no receipt is from the accused worker"))?;
    if agreed_output == Some(accused_output) {
        return Err(bad("the accused worker's output agrees with the others"));
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use wick_proto::v1::Receipt;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }

    fn ticket() -> JobTicket {
        let mut t = JobTicket { job_id: vec![1; 16], model_id: vec![7; 32], ..Default::default() };
        signing::sign_ticket(&key(9), &mut t);
        t
    }

    fn receipt(worker: u8, output: u8, t: &JobTicket) -> SignedReceipt {
        let r = Receipt {
            job_hash: signing::ticket_hash(t).to_vec(),
            model_id: t.model_id.clone(),
            output_hash: vec![output; 32],
            tokens_out: 4,
            ..Default::default()
        };
        signing::sign_receipt(&key(worker), r)
    }

    fn address(i: u8) -> Address {
        Address(key(i).verifying_key().to_bytes())
    }

    #[test]
    fn the_odd_one_out_is_proven_and_nobody_else() {
        let t = ticket();
        let rs = [receipt(1, 0xaa, &t), receipt(2, 0xbb, &t), receipt(3, 0xbb, &t)];
        assert_eq!(check(&t, &rs, &address(1)), Ok(signing::ticket_hash(&t).to_vec()));
        assert!(check(&t, &rs, &address(2)).is_err(), "an honest worker cannot be framed");
        assert!(check(&t, &rs[..2], &address(1)).is_err(), "two receipts decide nothing");
        let mut forged = rs.clone();
        forged[1].worker_signature[0] ^= 1;
        assert!(check(&t, &forged, &address(1)).is_err());
        let mut other_ticket = ticket();
        other_ticket.job_id = vec![2; 16];
        signing::sign_ticket(&key(9), &mut other_ticket);
        assert!(check(&other_ticket, &rs, &address(1)).is_err(), "receipts of another job");
        let same_worker = [receipt(1, 0xaa, &t), receipt(2, 0xbb, &t), receipt(2, 0xbb, &t)];
        assert!(check(&t, &same_worker, &address(1)).is_err());
    }
}
