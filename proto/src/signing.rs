//! Canonical signing bytes and ed25519 signatures for receipts, job tickets and capability
//! records.
//!
//! Layout: the domain tag (length-prefixed), then each field in declaration order: integers as
//! fixed-width little-endian, floats by their IEEE bits, byte strings and text as a u32 length
//! then the bytes, repeated fields as a u32 count then the items. Two encoders that agree on this
//! page agree byte for byte.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::v1::{
    CapabilityRecord, ChatMessage, JobTicket, Receipt, SamplingParams, SignedCapabilityRecord, SignedReceipt,
};

/// Domain tag of receipt signatures.
pub const RECEIPT_TAG: &str = "wick.v1.Receipt";
/// Domain tag of router countersignatures.
pub const COUNTERSIGN_TAG: &str = "wick.v1.Countersign";
/// Domain tag of job ticket signatures.
pub const TICKET_TAG: &str = "wick.v1.JobTicket";
/// Domain tag of request hashes.
pub const REQUEST_TAG: &str = "wick.v1.Request";
/// Domain tag of embedding request hashes.
pub const EMBED_REQUEST_TAG: &str = "wick.v1.EmbedRequest";
/// Domain tag of output hashes.
pub const OUTPUT_TAG: &str = "wick.v1.Output";
/// Domain tag of capability record signatures.
pub const CAPABILITY_TAG: &str = "wick.v1.CapabilityRecord";

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required field is absent.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// A key is not 32 bytes or not a valid point.
    #[error("malformed public key in {0}")]
    BadKey(&'static str),
    /// A signature is not 64 bytes.
    #[error("malformed signature in {0}")]
    BadSignatureLength(&'static str),
    /// The signature does not verify.
    #[error("invalid signature on {0}")]
    Invalid(&'static str),
}

/// Builds canonical bytes (see the module docs).
#[derive(Debug, Clone)]
pub struct CanonicalWriter(Vec<u8>);

impl CanonicalWriter {
    /// Starts with a domain tag.
    pub fn new(tag: &str) -> Self {
        let mut w = Self(Vec::with_capacity(256));
        w.bytes(tag.as_bytes());
        w
    }

    /// Appends a u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a u128.
    pub fn u128(&mut self, v: u128) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends an f32 by its bits.
    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.u32(v.to_bits())
    }

    /// Appends length-prefixed bytes.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
        self
    }

    /// Appends length-prefixed UTF-8.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    /// The bytes.
    pub fn finish(self) -> Vec<u8> {
        self.0
    }

    /// Feeds the bytes written so far to `hasher` and drops them, keeping the buffer: hashes an
    /// encoding of megabytes without holding it whole.
    pub fn hash_into(&mut self, hasher: &mut Sha256) {
        hasher.update(&self.0);
        self.0.clear();
    }

    /// Bytes written and not yet hashed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is waiting to be hashed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn sampling(w: &mut CanonicalWriter, p: Option<&SamplingParams>) {
    let d = SamplingParams::default();
    let p = p.unwrap_or(&d);
    w.f32(p.temperature).f32(p.top_p).u32(p.top_k).f32(p.repetition_penalty).u64(p.seed);
    match p.max_tokens {
        Some(m) => w.u32(1).u32(m),
        None => w.u32(0),
    };
    w.u32(p.stop.len() as u32);
    for s in &p.stop {
        w.str(s);
    }
    w.u32(u32::from(p.ignore_eos));
}

/// The parameters added after tickets got their byte layout (penalties, logprobs, response
/// format, n). Only request hashes cover them: a ticket signs its request hash, so they are
/// bound to the job all the same, and the ticket's own layout (which the ledger decodes from
/// audit evidence) is unchanged.
fn sampling_extension(w: &mut CanonicalWriter, p: Option<&SamplingParams>) {
    let d = SamplingParams::default();
    let p = p.unwrap_or(&d);
    w.f32(p.presence_penalty).f32(p.frequency_penalty);
    w.u32(u32::from(p.logprobs)).u32(p.top_logprobs);
    let format = p.response_format.clone().unwrap_or_default();
    w.str(&format.r#type).str(&format.schema).u32(u32::from(format.strict));
    w.u32(p.n);
}

/// Domain tag of the seeds of a request's further choices.
pub const CHOICE_SEED_TAG: &str = "wick.v1.ChoiceSeed";

/// The seed of choice `index` of a request seeded with `seed` (OpenAI's `n`): choice 0 keeps the
/// request's seed, so `n = 1` samples as before; choice `i > 0` takes the first 8 bytes
/// (little-endian) of sha256 over the tag, the seed and `i` in canonical bytes.
pub fn choice_seed(seed: u64, index: u32) -> u64 {
    if index == 0 {
        return seed;
    }
    let mut w = CanonicalWriter::new(CHOICE_SEED_TAG);
    w.u64(seed).u32(index);
    let digest: [u8; 32] = Sha256::digest(w.finish()).into();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Bytes a worker signs for a receipt.
pub fn receipt_bytes(r: &Receipt) -> Vec<u8> {
    let mut w = CanonicalWriter::new(RECEIPT_TAG);
    w.bytes(&r.job_hash).bytes(&r.model_id).bytes(&r.output_hash);
    w.u32(r.tokens_in).u32(r.tokens_out).u64(r.started_unix_ms).u64(r.finished_unix_ms);
    w.bytes(&r.worker_public_key).bytes(&r.router_public_key).u64(r.price_per_1k_tokens).bytes(&r.job_id);
    w.str(&r.numeric_class);
    w.finish()
}

/// Bytes a router signs to countersign a worker-signed receipt.
pub fn countersign_bytes(r: &Receipt, worker_signature: &[u8]) -> Vec<u8> {
    let mut w = CanonicalWriter::new(COUNTERSIGN_TAG);
    w.bytes(&receipt_bytes(r)).bytes(worker_signature);
    w.finish()
}

/// Bytes a router signs for a job ticket (every field but the signature).
pub fn ticket_bytes(t: &JobTicket) -> Vec<u8> {
    let mut w = CanonicalWriter::new(TICKET_TAG);
    w.bytes(&t.job_id).bytes(&t.request_hash).bytes(&t.model_id);
    sampling(&mut w, t.params.as_ref());
    w.u64(t.deadline_unix_ms).bytes(&t.router_public_key).u64(t.price_per_1k_tokens).u64(t.epoch);
    w.finish()
}

/// Bytes a worker signs for its capability record.
pub fn capability_bytes(c: &CapabilityRecord) -> Vec<u8> {
    let mut w = CanonicalWriter::new(CAPABILITY_TAG);
    w.bytes(&c.worker_public_key).str(&c.peer_id).str(&c.grpc_endpoint);
    w.u32(c.models.len() as u32);
    for m in &c.models {
        w.str(&m.name).str(&m.id).str(&m.kind);
    }
    w.u32(c.free_slots).u32(c.queue_depth).f32(c.tokens_per_second).u64(c.price_per_1k_tokens);
    w.str(&c.version).u64(c.issued_unix_ms).u64(c.expires_unix_ms).u64(c.sequence);
    w.str(&c.numeric_class);
    w.finish()
}

/// sha256 of a generation request's canonical bytes (model id, messages or raw prompt,
/// parameters): what a ticket's `request_hash` holds and, for calls without a ticket, a
/// receipt's `job_hash`.
pub fn request_hash(
    model_id: &str,
    messages: &[ChatMessage],
    prompt: &str,
    params: Option<&SamplingParams>,
) -> [u8; 32] {
    let mut w = CanonicalWriter::new(REQUEST_TAG);
    w.str(model_id).u32(messages.len() as u32);
    for m in messages {
        w.str(&m.role).str(&m.content);
    }
    w.str(prompt);
    sampling(&mut w, params);
    sampling_extension(&mut w, params);
    Sha256::digest(w.finish()).into()
}

/// sha256 of an embedding request's canonical bytes (model id, inputs): an embedding ticket's
/// `request_hash`.
pub fn embed_request_hash(model_id: &str, inputs: &[String]) -> [u8; 32] {
    let mut w = CanonicalWriter::new(EMBED_REQUEST_TAG);
    w.str(model_id).u32(inputs.len() as u32);
    for i in inputs {
        w.str(i);
    }
    Sha256::digest(w.finish()).into()
}

/// The output hash a receipt carries: sha256 over a tag, the output token ids (u32
/// little-endian each, after their count) and the text the client received. An embedding's
/// "tokens" are its floats' bits and its text is empty.
pub fn output_hash(tokens: &[u32], text: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((OUTPUT_TAG.len() as u32).to_le_bytes());
    h.update(OUTPUT_TAG.as_bytes());
    h.update((tokens.len() as u32).to_le_bytes());
    for t in tokens {
        h.update(t.to_le_bytes());
    }
    h.update((text.len() as u32).to_le_bytes());
    h.update(text.as_bytes());
    h.finalize().into()
}

/// sha256 of a ticket's signing bytes: the job hash receipts refer to.
pub fn ticket_hash(t: &JobTicket) -> [u8; 32] {
    Sha256::digest(ticket_bytes(t)).into()
}

fn key(bytes: &[u8], what: &'static str) -> Result<VerifyingKey, SignatureError> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| SignatureError::BadKey(what))?;
    VerifyingKey::from_bytes(&arr).map_err(|_| SignatureError::BadKey(what))
}

fn signature(bytes: &[u8], what: &'static str) -> Result<Signature, SignatureError> {
    let arr: [u8; 64] = bytes.try_into().map_err(|_| SignatureError::BadSignatureLength(what))?;
    Ok(Signature::from_bytes(&arr))
}

/// Verifies `sig` by the key `public_key` over `msg`.
pub fn verify(public_key: &[u8], msg: &[u8], sig: &[u8], what: &'static str) -> Result<(), SignatureError> {
    key(public_key, what)?.verify(msg, &signature(sig, what)?).map_err(|_| SignatureError::Invalid(what))
}

/// A receipt's job fields for `ticket`: its hash, router, price, job id and model. Without a
/// ticket (a development call) the job hash is `request_hash` and the rest is empty.
pub fn receipt_for(ticket: Option<&JobTicket>, request_hash: [u8; 32]) -> Receipt {
    match ticket {
        Some(t) => Receipt {
            job_hash: ticket_hash(t).to_vec(),
            model_id: t.model_id.clone(),
            router_public_key: t.router_public_key.clone(),
            price_per_1k_tokens: t.price_per_1k_tokens,
            job_id: t.job_id.clone(),
            ..Default::default()
        },
        None => Receipt { job_hash: request_hash.to_vec(), ..Default::default() },
    }
}

/// Signs a receipt with the worker's key (which must match `worker_public_key`).
pub fn sign_receipt(key: &SigningKey, mut receipt: Receipt) -> SignedReceipt {
    receipt.worker_public_key = key.verifying_key().to_bytes().to_vec();
    let sig = key.sign(&receipt_bytes(&receipt));
    SignedReceipt {
        receipt: Some(receipt),
        worker_signature: sig.to_bytes().to_vec(),
        router_public_key: Vec::new(),
        router_signature: Vec::new(),
    }
}

/// Checks the worker's signature of a receipt against the key the receipt names.
pub fn verify_receipt(signed: &SignedReceipt) -> Result<(), SignatureError> {
    let r = signed.receipt.as_ref().ok_or(SignatureError::Missing("receipt"))?;
    verify(&r.worker_public_key, &receipt_bytes(r), &signed.worker_signature, "receipt")
}

/// Adds a router's countersignature after checking the worker's, by the key the receipt names.
pub fn countersign(key: &SigningKey, signed: &mut SignedReceipt) -> Result<(), SignatureError> {
    let r = signed.receipt.as_ref().ok_or(SignatureError::Missing("receipt"))?;
    let worker = self::key(&r.worker_public_key, "receipt")?;
    countersign_for(key, &worker, signed)
}

/// [`countersign`] for a receipt of the worker `worker`, whose key the caller already holds
/// decompressed (decompressing a key costs a fifth of a verification). Refused when the receipt
/// names another worker.
pub fn countersign_for(
    key: &SigningKey,
    worker: &VerifyingKey,
    signed: &mut SignedReceipt,
) -> Result<(), SignatureError> {
    let r = signed.receipt.as_ref().ok_or(SignatureError::Missing("receipt"))?;
    if r.worker_public_key != worker.as_bytes() {
        return Err(SignatureError::Invalid("receipt"));
    }
    let sig = signature(&signed.worker_signature, "receipt")?;
    worker.verify(&receipt_bytes(r), &sig).map_err(|_| SignatureError::Invalid("receipt"))?;
    let countersignature = key.sign(&countersign_bytes(r, &signed.worker_signature));
    signed.router_public_key = key.verifying_key().to_bytes().to_vec();
    signed.router_signature = countersignature.to_bytes().to_vec();
    Ok(())
}

/// Checks both the worker's signature and the router's countersignature.
pub fn verify_countersigned(signed: &SignedReceipt) -> Result<(), SignatureError> {
    verify_receipt(signed)?;
    let r = signed.receipt.as_ref().ok_or(SignatureError::Missing("receipt"))?;
    if signed.router_public_key.is_empty() {
        return Err(SignatureError::Missing("router_public_key"));
    }
    verify(
        &signed.router_public_key,
        &countersign_bytes(r, &signed.worker_signature),
        &signed.router_signature,
        "countersignature",
    )
}

/// Signs a job ticket in place with the router's key.
pub fn sign_ticket(key: &SigningKey, ticket: &mut JobTicket) {
    ticket.router_public_key = key.verifying_key().to_bytes().to_vec();
    ticket.signature = key.sign(&ticket_bytes(ticket)).to_bytes().to_vec();
}

/// Checks a ticket's signature against the router key it names.
pub fn verify_ticket(ticket: &JobTicket) -> Result<(), SignatureError> {
    verify(&ticket.router_public_key, &ticket_bytes(ticket), &ticket.signature, "ticket")
}

/// Signs a capability record with the worker's key.
pub fn sign_capability(key: &SigningKey, mut record: CapabilityRecord) -> SignedCapabilityRecord {
    record.worker_public_key = key.verifying_key().to_bytes().to_vec();
    let signature = key.sign(&capability_bytes(&record)).to_bytes().to_vec();
    SignedCapabilityRecord { record: Some(record), signature }
}

/// Checks a capability record's signature against the key it names.
pub fn verify_capability(signed: &SignedCapabilityRecord) -> Result<&CapabilityRecord, SignatureError> {
    let r = signed.record.as_ref().ok_or(SignatureError::Missing("record"))?;
    verify(&r.worker_public_key, &capability_bytes(r), &signed.signature, "capability record")?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn receipt() -> Receipt {
        Receipt {
            job_hash: vec![1; 32],
            model_id: vec![2; 32],
            output_hash: output_hash(&[5, 6, 7], "abc").to_vec(),
            tokens_in: 10,
            tokens_out: 3,
            started_unix_ms: 1_000,
            finished_unix_ms: 2_000,
            worker_public_key: Vec::new(),
            router_public_key: vec![9; 32],
            price_per_1k_tokens: 10,
            job_id: vec![4; 16],
            numeric_class: "cpu-v1".into(),
        }
    }

    #[test]
    fn receipt_verifies_and_any_field_change_breaks_it() {
        let signed = sign_receipt(&key(1), receipt());
        assert_eq!(verify_receipt(&signed), Ok(()));
        let mutations: [fn(&mut Receipt); 12] = [
            (|r: &mut Receipt| r.job_hash[0] ^= 1),
            (|r: &mut Receipt| r.model_id[31] ^= 1),
            (|r: &mut Receipt| r.output_hash[3] ^= 1),
            (|r: &mut Receipt| r.tokens_in += 1),
            (|r: &mut Receipt| r.tokens_out -= 1),
            (|r: &mut Receipt| r.started_unix_ms += 1),
            (|r: &mut Receipt| r.finished_unix_ms += 1),
            (|r: &mut Receipt| r.worker_public_key = key(2).verifying_key().to_bytes().to_vec()),
            (|r: &mut Receipt| r.router_public_key[0] ^= 1),
            (|r: &mut Receipt| r.price_per_1k_tokens += 1),
            (|r: &mut Receipt| r.job_id[0] ^= 1),
            (|r: &mut Receipt| r.numeric_class = "cuda-8.6".into()),
        ];
        for m in mutations {
            let mut bad = signed.clone();
            if let Some(r) = bad.receipt.as_mut() {
                m(r);
            }
            assert!(verify_receipt(&bad).is_err());
        }
    }

    #[test]
    fn countersignature_covers_the_worker_signature() {
        let mut signed = sign_receipt(&key(1), receipt());
        countersign(&key(9), &mut signed).expect("countersign");
        assert_eq!(verify_countersigned(&signed), Ok(()));
        signed.router_signature[0] ^= 1;
        assert_eq!(verify_countersigned(&signed), Err(SignatureError::Invalid("countersignature")));
    }

    #[test]
    fn countersigning_with_a_held_key_refuses_other_workers_and_bad_signatures() {
        let worker = key(1).verifying_key();
        let mut signed = sign_receipt(&key(1), receipt());
        countersign_for(&key(9), &worker, &mut signed).expect("countersign");
        assert_eq!(verify_countersigned(&signed), Ok(()));

        // Signed (validly) by another worker than the one the job went to.
        let mut other = sign_receipt(&key(2), receipt());
        assert_eq!(countersign_for(&key(9), &worker, &mut other), Err(SignatureError::Invalid("receipt")));
        // The right worker's key named, but the signature does not match the bytes.
        let mut forged = sign_receipt(&key(1), receipt());
        if let Some(r) = forged.receipt.as_mut() {
            r.tokens_out += 1;
        }
        assert_eq!(countersign_for(&key(9), &worker, &mut forged), Err(SignatureError::Invalid("receipt")));
        assert!(forged.router_signature.is_empty(), "a refused receipt is never countersigned");
        let mut short = sign_receipt(&key(1), receipt());
        short.worker_signature.pop();
        assert!(countersign_for(&key(9), &worker, &mut short).is_err());
    }

    #[test]
    fn tickets_and_capabilities_verify() {
        let mut t = JobTicket { job_id: vec![3; 16], deadline_unix_ms: 99, ..Default::default() };
        sign_ticket(&key(4), &mut t);
        assert_eq!(verify_ticket(&t), Ok(()));
        for change in [
            (|t: &mut JobTicket| t.deadline_unix_ms += 1) as fn(&mut JobTicket),
            |t| t.price_per_1k_tokens += 1,
            |t| t.epoch += 1,
            |t| t.job_id[0] ^= 1,
        ] {
            let mut bad = t.clone();
            change(&mut bad);
            assert!(verify_ticket(&bad).is_err());
        }
        let c = sign_capability(
            &key(5),
            CapabilityRecord {
                grpc_endpoint: "http://x".into(),
                numeric_class: "cpu-v1".into(),
                ..Default::default()
            },
        );
        assert!(verify_capability(&c).is_ok());
        for change in [
            (|c: &mut CapabilityRecord| c.sequence += 1) as fn(&mut CapabilityRecord),
            |c| c.grpc_endpoint.push('y'),
            |c| c.numeric_class = "cuda-8.6".into(),
        ] {
            let mut bad = c.clone();
            if let Some(r) = bad.record.as_mut() {
                change(r);
            }
            assert!(verify_capability(&bad).is_err());
        }
    }

    #[test]
    fn the_numeric_class_is_the_last_signed_field() {
        // Appended last, so every earlier field keeps its offset.
        let tail = [&6u32.to_le_bytes()[..], b"cpu-v1"].concat();
        let with = receipt_bytes(&receipt());
        assert!(with.ends_with(&tail));
        let without = receipt_bytes(&Receipt { numeric_class: String::new(), ..receipt() });
        assert_eq!(with[..with.len() - tail.len()], without[..without.len() - 4]);
        let c = CapabilityRecord { numeric_class: "cpu-v1".into(), sequence: 7, ..Default::default() };
        let bytes = capability_bytes(&c);
        assert!(bytes.ends_with(&[&7u64.to_le_bytes()[..], &tail].concat()));
    }

    #[test]
    fn output_hashes_cover_tokens_and_text() {
        let h = output_hash(&[1, 2], "ab");
        assert_ne!(h, output_hash(&[1, 2], "ac"));
        assert_ne!(h, output_hash(&[1, 3], "ab"));
        // The count and lengths are in the hash: no two splits of the same bytes agree.
        assert_ne!(output_hash(&[], "\u{1}\0\0\0\u{2}\0\0\0ab"), output_hash(&[1, 2], "ab"));
        assert_ne!(
            embed_request_hash("m", &["a".into(), "b".into()]),
            embed_request_hash("m", &["ab".into()])
        );
    }

    #[test]
    fn every_output_changing_parameter_is_in_the_request_hash() {
        use crate::v1::ResponseFormat;
        let base = SamplingParams::default();
        let hash = |p: &SamplingParams| request_hash("m", &[], "p", Some(p));
        let variants = [
            SamplingParams { presence_penalty: 0.5, ..base.clone() },
            SamplingParams { frequency_penalty: 0.5, ..base.clone() },
            SamplingParams { logprobs: true, ..base.clone() },
            SamplingParams { top_logprobs: 3, ..base.clone() },
            SamplingParams { n: 2, ..base.clone() },
            SamplingParams {
                response_format: Some(ResponseFormat { r#type: "json_object".into(), ..Default::default() }),
                ..base.clone()
            },
            SamplingParams {
                response_format: Some(ResponseFormat {
                    r#type: "json_schema".into(),
                    schema: "{}".into(),
                    strict: true,
                }),
                ..base.clone()
            },
        ];
        let mut seen = vec![hash(&base)];
        for v in &variants {
            let h = hash(v);
            assert!(!seen.contains(&h), "{v:?} hashes like another request");
            seen.push(h);
        }
    }

    #[test]
    fn choice_seeds_keep_choice_zero_and_differ_after() {
        assert_eq!(choice_seed(42, 0), 42);
        let seeds: Vec<u64> = (0..8).map(|i| choice_seed(42, i)).collect();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 8);
        assert_ne!(choice_seed(43, 1), choice_seed(42, 1));
    }

    #[test]
    fn domain_tags_separate_messages() {
        assert_ne!(receipt_bytes(&Receipt::default()), countersign_bytes(&Receipt::default(), &[]));
    }
}
