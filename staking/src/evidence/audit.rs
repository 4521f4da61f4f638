//! Audit evidence as a fraud proof: a router's signed job ticket and the receipts of three or
//! more workers that ran that job. Inference is deterministic within a numeric class, so honest
//! workers agree on the whole receipt (tokens in, tokens out, output hash); the worker whose
//! receipt differs from an agreeing majority (at least two other workers) lied and is slashed.
//!
//! What is checked here: the ticket's signature and field sizes, every receipt's worker
//! signature and its binding to the ticket (job hash, router, model, job id), that all receipts
//! are of one numeric class (checked before any output is compared, so that honest workers on
//! another device can never outvote or frame anyone), that the workers are distinct, that all
//! receipts but the accused's agree, and that the accused's differs. The
//! ledger further requires (see the state's slashing) that the ticket's router and every
//! witness are bonded and unjailed, and that the reporter is neither the accused nor unbonded.
//! Trust assumption: the witnesses do not all lie together; two bonded workers that collude to
//! frame a third risk nothing provable here, which is why witnesses must be bonded and distinct.

use wick_proto::v1::{JobTicket, SignedReceipt};

use super::{TicketFacts, address, agree, bad, bound_receipt, one_class, verify_ticket};
use crate::error::TxError;
use crate::types::Address;

/// Fewest receipts that can decide: the accused's and two that agree against it.
pub const MIN_RECEIPTS: usize = 3;

/// Most receipts one piece of evidence may carry.
pub const MAX_RECEIPTS: usize = 8;

/// What checked audit evidence establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    /// The ticket.
    pub ticket: TicketFacts,
    /// The workers whose receipts agree against the accused.
    pub witnesses: Vec<Address>,
}

/// Checks audit evidence against `accused`.
pub fn check(ticket: &JobTicket, receipts: &[SignedReceipt], accused: &Address) -> Result<Audit, TxError> {
    if receipts.len() < MIN_RECEIPTS {
        return Err(bad("audit evidence needs the receipts of at least three workers"));
    }
    if receipts.len() > MAX_RECEIPTS {
        return Err(bad("audit evidence carries too many receipts"));
    }
    let facts = verify_ticket(ticket)?;
    let bound = receipts
        .iter()
        .map(|s| bound_receipt(s, ticket, &facts, "a receipt"))
        .collect::<Result<Vec<_>, _>>()?;
    one_class(&bound)?;
    let mut workers: Vec<Address> = Vec::new();
    let mut accused_receipt = None;
    let mut agreed = None;
    for r in bound {
        let worker = address(&r.worker_public_key, "a receipt's worker key")?;
        if workers.contains(&worker) {
            return Err(bad("two receipts are from the same worker"));
        }
        workers.push(worker);
        if worker == *accused {
            accused_receipt = Some(r);
            continue;
        }
        match agreed {
            None => agreed = Some(r),
            Some(o) if agree(o, r) => {}
            Some(_) => return Err(bad("the other workers do not agree with each other")),
        }
    }
    let accused_receipt = accused_receipt.ok_or_else(|| bad("no receipt is from the accused worker"))?;
    if agreed.is_some_and(|o| agree(o, accused_receipt)) {
        return Err(bad("the accused worker's receipt agrees with the others"));
    }
    let witnesses = workers.into_iter().filter(|w| w != accused).collect();
    Ok(Audit { ticket: facts, witnesses })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use wick_proto::signing;
    use wick_proto::v1::Receipt;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }

    fn ticket(job: u8) -> JobTicket {
        let mut t = JobTicket {
            job_id: vec![job; 16],
            request_hash: vec![3; 32],
            model_id: vec![7; 32],
            ..Default::default()
        };
        signing::sign_ticket(&key(9), &mut t);
        t
    }

    const CPU: &str = "cpu-v1";
    const GPU: &str = "cuda-8.6";

    fn receipt(worker: u8, output: u8, t: &JobTicket) -> SignedReceipt {
        receipt_in(CPU, worker, output, t)
    }

    /// `worker`'s receipt with `output`, computed in numeric class `class`.
    fn receipt_in(class: &str, worker: u8, output: u8, t: &JobTicket) -> SignedReceipt {
        let r = Receipt {
            job_hash: signing::ticket_hash(t).to_vec(),
            model_id: t.model_id.clone(),
            output_hash: vec![output; 32],
            tokens_out: 4,
            router_public_key: t.router_public_key.clone(),
            job_id: t.job_id.clone(),
            numeric_class: class.into(),
            ..Default::default()
        };
        signing::sign_receipt(&key(worker), r)
    }

    fn refusal(t: &JobTicket, rs: &[SignedReceipt], accused: u8) -> String {
        match check(t, rs, &address(accused)) {
            Err(e) => e.to_string(),
            Ok(a) => panic!("evidence against {accused} accepted: {a:?}"),
        }
    }

    fn address(i: u8) -> Address {
        Address(key(i).verifying_key().to_bytes())
    }

    #[test]
    fn the_odd_one_out_is_proven_and_nobody_else() {
        let t = ticket(1);
        let rs = [receipt(1, 0xaa, &t), receipt(2, 0xbb, &t), receipt(3, 0xbb, &t)];
        let audit = check(&t, &rs, &address(1)).expect("proven");
        assert_eq!(audit.ticket.job_hash, signing::ticket_hash(&t));
        assert_eq!(audit.witnesses, vec![address(2), address(3)]);
        assert!(check(&t, &rs, &address(2)).is_err(), "an honest worker cannot be framed");
        assert!(check(&t, &rs[..2], &address(1)).is_err(), "two receipts decide nothing");
        let mut forged = rs.clone();
        forged[1].worker_signature[0] ^= 1;
        assert!(check(&t, &forged, &address(1)).is_err());
        assert!(check(&ticket(2), &rs, &address(1)).is_err(), "receipts of another job");
        let same_worker = [receipt(1, 0xaa, &t), receipt(2, 0xbb, &t), receipt(2, 0xbb, &t)];
        assert!(check(&t, &same_worker, &address(1)).is_err());
    }

    #[test]
    fn whole_receipts_are_compared_and_must_name_the_tickets_router() {
        let t = ticket(1);
        // Same output hash, but the accused counted more tokens in: that is a lie too.
        let mut inflated = Receipt {
            job_hash: signing::ticket_hash(&t).to_vec(),
            model_id: t.model_id.clone(),
            output_hash: vec![0xbb; 32],
            tokens_in: 1_000,
            tokens_out: 4,
            router_public_key: t.router_public_key.clone(),
            job_id: t.job_id.clone(),
            numeric_class: CPU.into(),
            ..Default::default()
        };
        let rs =
            [signing::sign_receipt(&key(1), inflated.clone()), receipt(2, 0xbb, &t), receipt(3, 0xbb, &t)];
        assert!(check(&t, &rs, &address(1)).is_ok());
        // A receipt that names another router is not bound to the ticket.
        inflated.router_public_key = vec![0; 32];
        let rs = [signing::sign_receipt(&key(1), inflated), receipt(2, 0xbb, &t), receipt(3, 0xbb, &t)];
        assert!(check(&t, &rs, &address(1)).is_err());
    }

    #[test]
    fn an_honest_worker_of_another_class_cannot_be_framed() {
        let t = ticket(1);
        // Two honest CPU workers agree; the accused honestly computed on a GPU.
        let rs = [receipt_in(GPU, 1, 0xaa, &t), receipt(2, 0xbb, &t), receipt(3, 0xbb, &t)];
        assert!(refusal(&t, &rs, 1).contains("different numeric classes"));
        // Still refused when its output happens to agree: classes are checked first.
        let rs = [receipt_in(GPU, 1, 0xbb, &t), receipt(2, 0xbb, &t), receipt(3, 0xbb, &t)];
        assert!(refusal(&t, &rs, 1).contains("different numeric classes"));
    }

    #[test]
    fn witnesses_split_across_classes_prove_nothing() {
        let t = ticket(1);
        let rs = [receipt(1, 0xaa, &t), receipt(2, 0xbb, &t), receipt_in(GPU, 3, 0xbb, &t)];
        assert!(refusal(&t, &rs, 1).contains("different numeric classes"));
        let rs = [
            receipt_in(GPU, 1, 0xaa, &t),
            receipt(2, 0xbb, &t),
            receipt_in(GPU, 3, 0xbb, &t),
            receipt_in(GPU, 4, 0xbb, &t),
        ];
        assert!(
            refusal(&t, &rs, 1).contains("different numeric classes"),
            "a majority in the class is not enough"
        );
        // The same evidence within one class, any class, is proven.
        let rs = [receipt_in(GPU, 1, 0xaa, &t), receipt_in(GPU, 3, 0xbb, &t), receipt_in(GPU, 4, 0xbb, &t)];
        assert!(check(&t, &rs, &address(1)).is_ok());
    }

    #[test]
    fn classes_are_bounded_and_checked() {
        let t = ticket(1);
        let longest = format!("c{}", "1".repeat(31));
        let rs = [
            receipt_in(&longest, 1, 0xaa, &t),
            receipt_in(&longest, 2, 0xbb, &t),
            receipt_in(&longest, 3, 0xbb, &t),
        ];
        assert!(check(&t, &rs, &address(1)).is_ok(), "a 32-byte class is accepted");
        for bad in [format!("{longest}1"), "CPU-V1".into(), "cpu_v1".into(), "1cpu".into(), String::new()] {
            let rs =
                [receipt_in(&bad, 1, 0xaa, &t), receipt_in(&bad, 2, 0xbb, &t), receipt_in(&bad, 3, 0xbb, &t)];
            assert!(refusal(&t, &rs, 1).contains("numeric class"), "{bad:?}");
        }
    }
}
