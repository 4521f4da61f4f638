//! The wire encoding of a signed transaction: its canonical signing bytes
//! ([`Tx::signing_bytes`]) followed by the 64-byte signature.
//!
//! Decoding parses the canonical layout back and then re-encodes: only the one canonical
//! encoding of a transaction is accepted, so a transaction has exactly one hash. Decoding
//! untrusted bytes never panics; every failure is a [`TxError::Malformed`] naming the offset.

use sha2::{Digest, Sha256};
use wick_proto::class::validate_class;
use wick_proto::signing::{RECEIPT_TAG, TICKET_TAG};
use wick_proto::v1::{JobTicket, Receipt, SamplingParams, SignedReceipt};

use crate::error::TxError;
use crate::tx::{ParamKey, SignedTx, TX_TAG, Tx, TxBody, WorkReport};
use crate::types::{Address, Amount};

/// Largest accepted encoded transaction (fraud proofs carry two receipts).
pub const MAX_TX_BYTES: usize = 16 * 1024;

fn bad(offset: usize, reason: &'static str) -> TxError {
    TxError::Malformed { offset, reason }
}

/// Reads the canonical layout of `wick_proto::signing` (the inverse of `CanonicalWriter`).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TxError> {
        let end =
            self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(bad(self.pos, "truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TxError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, TxError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, TxError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn u128(&mut self) -> Result<u128, TxError> {
        Ok(u128::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], TxError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn fixed32(&mut self, what: &'static str) -> Result<[u8; 32], TxError> {
        self.bytes()?.try_into().map_err(|_| bad(self.pos, what))
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, TxError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| bad(self.pos, what))
    }

    fn bool(&mut self, what: &'static str) -> Result<bool, TxError> {
        match self.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad(self.pos, what)),
        }
    }

    fn done(&self) -> bool {
        self.pos == self.buf.len()
    }
}

/// Most receipts one piece of audit evidence may carry.
const MAX_AUDIT_RECEIPTS: usize = crate::evidence::audit::MAX_RECEIPTS;

/// A job ticket: its canonical signing bytes, then its signature.
fn ticket(r: &mut Reader<'_>) -> Result<Box<JobTicket>, TxError> {
    let body = r.bytes()?;
    let mut b = Reader { buf: body, pos: 0 };
    if b.str("ticket tag is not UTF-8")? != TICKET_TAG {
        return Err(bad(b.pos, "ticket tag is not wick.v1.JobTicket"));
    }
    let job_id = b.bytes()?.to_vec();
    let request_hash = b.bytes()?.to_vec();
    let model_id = b.bytes()?.to_vec();
    let params = sampling(&mut b)?;
    let deadline_unix_ms = b.u64()?;
    let router_public_key = b.bytes()?.to_vec();
    let price_per_1k_tokens = b.u64()?;
    let epoch = b.u64()?;
    if !b.done() {
        return Err(bad(b.pos, "bytes after the ticket"));
    }
    Ok(Box::new(JobTicket {
        job_id,
        request_hash,
        model_id,
        params: Some(params),
        deadline_unix_ms,
        router_public_key,
        signature: r.bytes()?.to_vec(),
        price_per_1k_tokens,
        epoch,
    }))
}

/// A ticket's sampling parameters, in `wick_proto::signing`'s layout.
fn sampling(b: &mut Reader<'_>) -> Result<SamplingParams, TxError> {
    let (temperature, top_p, top_k) = (f32::from_bits(b.u32()?), f32::from_bits(b.u32()?), b.u32()?);
    let (repetition_penalty, seed) = (f32::from_bits(b.u32()?), b.u64()?);
    let max_tokens = if b.bool("max_tokens flag is not 0 or 1")? { Some(b.u32()?) } else { None };
    let stops = b.u32()? as usize;
    if stops > b.buf.len() {
        return Err(bad(b.pos, "more stop sequences than bytes"));
    }
    let stop = (0..stops)
        .map(|_| b.str("stop sequence is not UTF-8").map(str::to_string))
        .collect::<Result<_, _>>()?;
    let ignore_eos = b.bool("ignore_eos is not 0 or 1")?;
    // Tickets carry the parameters of their first layout; request hashes cover the rest.
    Ok(SamplingParams {
        temperature,
        top_p,
        top_k,
        repetition_penalty,
        seed,
        max_tokens,
        stop,
        ignore_eos,
        ..Default::default()
    })
}

/// A receipt's numeric class: receipts are compared only within one class, so one that names no
/// valid class can take part in no proof.
fn numeric_class(b: &mut Reader<'_>) -> Result<String, TxError> {
    let class = b.str("receipt numeric class is not UTF-8")?;
    validate_class(class).map_err(|_| {
        bad(
            b.pos,
            "receipt numeric class is not 1 to 32 bytes of a-z, 0-9, '.' or '-' starting with a letter",
        )
    })?;
    Ok(class.to_string())
}

fn receipt(r: &mut Reader<'_>) -> Result<Box<SignedReceipt>, TxError> {
    let body = r.bytes()?;
    let receipt = if body.is_empty() {
        None
    } else {
        let mut b = Reader { buf: body, pos: 0 };
        let tag = b.str("receipt tag is not UTF-8")?;
        if tag != RECEIPT_TAG {
            return Err(bad(b.pos, "receipt tag is not wick.v1.Receipt"));
        }
        let rec = Receipt {
            job_hash: b.bytes()?.to_vec(),
            model_id: b.bytes()?.to_vec(),
            output_hash: b.bytes()?.to_vec(),
            tokens_in: b.u32()?,
            tokens_out: b.u32()?,
            started_unix_ms: b.u64()?,
            finished_unix_ms: b.u64()?,
            worker_public_key: b.bytes()?.to_vec(),
            router_public_key: b.bytes()?.to_vec(),
            price_per_1k_tokens: b.u64()?,
            job_id: b.bytes()?.to_vec(),
            numeric_class: numeric_class(&mut b)?,
        };
        if !b.done() {
            return Err(bad(b.pos, "bytes after the receipt"));
        }
        Some(rec)
    };
    Ok(Box::new(SignedReceipt {
        receipt,
        worker_signature: r.bytes()?.to_vec(),
        router_public_key: r.bytes()?.to_vec(),
        router_signature: r.bytes()?.to_vec(),
    }))
}

fn work(r: &mut Reader<'_>) -> Result<WorkReport, TxError> {
    Ok(WorkReport {
        epoch: r.u64()?,
        receipts_root: r.fixed32("receipts_root is not 32 bytes")?,
        count: r.u64()?,
        tokens: r.u64()?,
        amount: r.u128()?,
    })
}

fn body(r: &mut Reader<'_>) -> Result<TxBody, TxError> {
    let amount = |r: &mut Reader<'_>| r.u128().map(Amount);
    let addr = |r: &mut Reader<'_>, what| r.fixed32(what).map(Address);
    Ok(match r.u32()? {
        1 => TxBody::Transfer { to: addr(r, "to is not 32 bytes")?, amount: amount(r)? },
        2 => TxBody::RegisterWorker { commission_bps: r.u32()? },
        3 => TxBody::Stake { amount: amount(r)? },
        4 => TxBody::Unstake { amount: amount(r)? },
        5 => TxBody::Delegate { worker: addr(r, "worker is not 32 bytes")?, amount: amount(r)? },
        6 => TxBody::Undelegate { worker: addr(r, "worker is not 32 bytes")?, amount: amount(r)? },
        7 => TxBody::WithdrawRewards,
        8 => TxBody::WorkClaim { router: addr(r, "router is not 32 bytes")?, work: work(r)? },
        9 => TxBody::Attestation { worker: addr(r, "worker is not 32 bytes")?, work: work(r)? },
        10 => TxBody::FraudProof { ticket: ticket(r)?, a: receipt(r)?, b: receipt(r)? },
        11 => {
            let code = r.u32()?;
            let key = ParamKey::from_code(code).ok_or(bad(r.pos, "unknown parameter code"))?;
            TxBody::Propose { key, value: r.u128()? }
        }
        12 => TxBody::Vote { proposal: r.u64()?, yes: r.bool("vote is not 0 or 1")? },
        13 => {
            let ticket = ticket(r)?;
            let accused = Address(r.fixed32("accused worker")?);
            let n = r.u32()? as usize;
            if n > MAX_AUDIT_RECEIPTS {
                return Err(bad(r.pos, "too many receipts in audit evidence"));
            }
            let receipts = (0..n).map(|_| receipt(r).map(|b| *b)).collect::<Result<_, _>>()?;
            TxBody::AuditProof { ticket, receipts, accused }
        }
        14 => TxBody::RegisterRouter,
        15 => TxBody::BondRouter { amount: amount(r)? },
        16 => TxBody::UnbondRouter { amount: amount(r)? },
        17 => TxBody::FundEscrow { amount: amount(r)? },
        18 => TxBody::WithdrawEscrow { amount: amount(r)? },
        19 => TxBody::Unjail,
        20 => TxBody::RouterEquivocation { a: ticket(r)?, b: ticket(r)? },
        21 => TxBody::BondValidator { amount: amount(r)? },
        22 => TxBody::UnbondValidator { amount: amount(r)? },
        _ => return Err(bad(r.pos, "unknown transaction kind")),
    })
}

/// Encodes a signed transaction for the wire.
pub fn encode(stx: &SignedTx) -> Vec<u8> {
    let mut out = stx.tx.signing_bytes();
    out.extend_from_slice(&stx.signature);
    out
}

/// Decodes wire bytes into a signed transaction (the signature is not checked here).
pub fn decode(bytes: &[u8]) -> Result<SignedTx, TxError> {
    if bytes.len() > MAX_TX_BYTES {
        return Err(bad(MAX_TX_BYTES, "longer than the transaction size limit"));
    }
    let split = bytes.len().checked_sub(64).ok_or(bad(bytes.len(), "shorter than a signature"))?;
    let (signed, sig) = bytes.split_at(split);
    let mut r = Reader { buf: signed, pos: 0 };
    let tag = r.str("tag is not UTF-8")?;
    if tag != TX_TAG {
        return Err(bad(0, "tag is not wick.v1.LedgerTx"));
    }
    let chain_id = r.str("chain_id is not UTF-8")?.to_string();
    let signer = Address(r.fixed32("signer is not 32 bytes")?);
    let nonce = r.u64()?;
    let fee = Amount(r.u128()?);
    let body = body(&mut r)?;
    if !r.done() {
        return Err(bad(r.pos, "bytes after the transaction"));
    }
    let tx = Tx { chain_id, signer, nonce, fee, body };
    // Canonical by construction: fixed-width integers, length-prefixed fields, checked flags and
    // codes, nothing left over; so each transaction has one encoding and one hash without
    // re-encoding here (a hot path: every submitted transaction). The round-trip property tests
    // and the fuzz target check this.
    debug_assert!(tx.signing_bytes() == signed, "decoded a non-canonical encoding");
    let mut signature = [0u8; 64];
    signature.copy_from_slice(sig);
    Ok(SignedTx { tx, signature })
}

/// The transaction hash: sha256 of the wire bytes.
pub fn tx_hash(wire: &[u8]) -> [u8; 32] {
    Sha256::digest(wire).into()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use wick_proto::signing::sign_receipt;

    use super::*;

    fn all_bodies() -> Vec<TxBody> {
        let k = SigningKey::from_bytes(&[7; 32]);
        let rec = Receipt {
            job_hash: vec![1; 32],
            tokens_out: 4,
            router_public_key: vec![2; 32],
            price_per_1k_tokens: 3,
            job_id: vec![5; 16],
            numeric_class: "cpu-v1".into(),
            ..Default::default()
        };
        let a = Box::new(sign_receipt(&k, rec.clone()));
        let b = Box::new(SignedReceipt { receipt: None, ..Default::default() });
        let w = Address([9; 32]);
        let ticket = Box::new(wick_proto::v1::JobTicket {
            job_id: vec![1; 16],
            request_hash: vec![2; 32],
            model_id: vec![3; 32],
            params: Some(SamplingParams {
                temperature: 0.5,
                max_tokens: Some(9),
                stop: vec!["\n".into()],
                ..Default::default()
            }),
            deadline_unix_ms: 77,
            router_public_key: vec![4; 32],
            signature: vec![5; 64],
            price_per_1k_tokens: 12,
            epoch: 3,
        });
        let work = WorkReport { epoch: 4, receipts_root: [1; 32], count: 2, tokens: 99, amount: 1 << 70 };
        vec![
            TxBody::Transfer { to: w, amount: Amount(5) },
            TxBody::RegisterWorker { commission_bps: 300 },
            TxBody::Stake { amount: Amount(u128::MAX) },
            TxBody::Unstake { amount: Amount(1) },
            TxBody::Delegate { worker: w, amount: Amount(2) },
            TxBody::Undelegate { worker: w, amount: Amount(3) },
            TxBody::WithdrawRewards,
            TxBody::WorkClaim { router: w, work },
            TxBody::Attestation { worker: w, work },
            TxBody::FraudProof { ticket: ticket.clone(), a: a.clone(), b: b.clone() },
            TxBody::AuditProof {
                ticket: ticket.clone(),
                receipts: vec![(*a).clone(), (*b).clone(), (*a).clone()],
                accused: w,
            },
            TxBody::Propose { key: ParamKey::VotingEpochs, value: 3 },
            TxBody::Vote { proposal: 1, yes: true },
            TxBody::RegisterRouter,
            TxBody::BondRouter { amount: Amount(6) },
            TxBody::UnbondRouter { amount: Amount(7) },
            TxBody::FundEscrow { amount: Amount(8) },
            TxBody::WithdrawEscrow { amount: Amount(9) },
            TxBody::Unjail,
            TxBody::RouterEquivocation { a: ticket.clone(), b: ticket },
            TxBody::BondValidator { amount: Amount(u128::MAX) },
            TxBody::UnbondValidator { amount: Amount(10) },
        ]
    }

    #[test]
    fn every_kind_is_covered() {
        let mut kinds: Vec<u32> = all_bodies().iter().map(TxBody::kind).collect();
        kinds.sort_unstable();
        assert_eq!(kinds, (1..=22).collect::<Vec<_>>());
    }

    #[test]
    fn every_kind_round_trips_and_truncations_fail() {
        let key = SigningKey::from_bytes(&[3; 32]);
        for body in all_bodies() {
            let tx = Tx { chain_id: "c".into(), signer: Address::default(), nonce: 8, fee: Amount(1), body };
            let stx = tx.sign(&key);
            let bytes = encode(&stx);
            assert_eq!(decode(&bytes).as_ref(), Ok(&stx));
            stx.verify().expect("signature");
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes decoded");
            }
            let mut longer = bytes.clone();
            longer.insert(bytes.len() - 64, 0);
            assert!(decode(&longer).is_err());
        }
    }

    /// The wire bytes of a fraud proof whose first receipt names `class`.
    fn fraud_proof_in(class: &str) -> Vec<u8> {
        let k = SigningKey::from_bytes(&[7; 32]);
        let rec = Receipt { job_hash: vec![1; 32], numeric_class: class.into(), ..Default::default() };
        let body = TxBody::FraudProof {
            ticket: Box::default(),
            a: Box::new(sign_receipt(&k, rec)),
            b: Box::new(SignedReceipt::default()),
        };
        let tx = Tx { chain_id: "c".into(), signer: Address::default(), nonce: 1, fee: Amount(1), body };
        encode(&tx.sign(&k))
    }

    #[test]
    fn receipt_classes_round_trip_up_to_their_bound_and_invalid_ones_are_refused() {
        let longest = format!("c{}", "1".repeat(31));
        for class in ["cpu-v1", "cuda-8.6", longest.as_str()] {
            let bytes = fraud_proof_in(class);
            let Ok(SignedTx { tx: Tx { body: TxBody::FraudProof { a, .. }, .. }, .. }) = decode(&bytes)
            else {
                panic!("{class} did not decode");
            };
            assert_eq!(a.receipt.map(|r| r.numeric_class).as_deref(), Some(class));
        }
        for class in [format!("{longest}1"), String::new(), "Cpu-v1".into(), "cpu v1".into(), "9gpu".into()] {
            match decode(&fraud_proof_in(&class)) {
                Err(TxError::Malformed { reason, .. }) => {
                    assert!(reason.contains("numeric class"), "{reason}")
                }
                other => panic!("{class:?} decoded: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..2_000usize {
            let bytes: Vec<u8> = (0..len % 300)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode(&bytes);
        }
        assert!(matches!(decode(&[0xff; 100]), Err(TxError::Malformed { .. })));
    }

    #[test]
    fn param_names_round_trip() {
        for k in ParamKey::ALL {
            assert_eq!(ParamKey::from_name(k.name()), Some(k));
            assert_eq!(ParamKey::from_code(k.code()), Some(k));
        }
        assert_eq!(ParamKey::from_code(ParamKey::ALL.len() as u32), None);
    }
}
