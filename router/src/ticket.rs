//! Job ids and the job tickets the router signs: the one place a ticket is built, for
//! generations, embeddings and (by reuse) their audits. A ticket binds its request's hash, the
//! model, the parameters, a deadline, the price the worker advertised and the ledger epoch; a
//! job id is never reused for another ticket (two tickets with one job id are slashable
//! equivocation), so every attempt of a request gets its own.

use std::fmt;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use wick_proto::signing;
use wick_proto::time::unix_ms_after;
use wick_proto::v1::{GenerateRequest, JobTicket};

/// A job's id: 16 random bytes, carried in its ticket (`job_id`) to the worker, and shown in
/// hex as the `job` field of every log line about the job, on the router and on the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobId([u8; 16]);

impl JobId {
    /// A fresh random id.
    pub(crate) fn random() -> Self {
        let mut id = [0u8; 16];
        rand::fill(&mut id);
        Self(id)
    }

    /// The id of a ticket, when it has the usual 16 bytes.
    pub(crate) fn of(ticket: &JobTicket) -> Option<Self> {
        ticket.job_id.as_slice().try_into().ok().map(Self)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// What a ticket is for.
pub(crate) enum Ticketed<'a> {
    /// A generation: the ticket binds the request's hash and its sampling parameters.
    Generation(&'a GenerateRequest),
    /// An embedding: the ticket binds the hash of its inputs.
    Embedding(&'a [String]),
}

/// The commercial terms a ticket carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Terms {
    /// The worker's advertised price per 1000 tokens.
    pub(crate) price_per_1k_tokens: u64,
    /// The ledger epoch as the router last saw it.
    pub(crate) epoch: u64,
    /// How long the ticket is valid from now.
    pub(crate) lifetime: Duration,
}

/// A ticket for job `job` on `model_id` (sha256 hex), signed with the router's key.
pub(crate) fn sign(
    key: &SigningKey,
    job: JobId,
    model_id: &str,
    what: Ticketed<'_>,
    terms: Terms,
) -> JobTicket {
    let (request_hash, params) = match what {
        Ticketed::Generation(req) => (
            signing::request_hash(model_id, &req.messages, &req.prompt, req.params.as_ref()).to_vec(),
            req.params.clone(),
        ),
        Ticketed::Embedding(inputs) => (signing::embed_request_hash(model_id, inputs).to_vec(), None),
    };
    let mut ticket = JobTicket {
        job_id: job.0.to_vec(),
        request_hash,
        model_id: hex::decode(model_id).unwrap_or_default(),
        params,
        deadline_unix_ms: unix_ms_after(terms.lifetime),
        router_public_key: Vec::new(),
        signature: Vec::new(),
        price_per_1k_tokens: terms.price_per_1k_tokens,
        epoch: terms.epoch,
    };
    signing::sign_ticket(key, &mut ticket);
    ticket
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_print_as_hex_and_round_trip_through_a_ticket() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let job = JobId::random();
        let terms = Terms { price_per_1k_tokens: 3, epoch: 9, lifetime: Duration::from_secs(5) };
        let inputs = ["a".to_string()];
        let t = sign(&key, job, &"ab".repeat(32), Ticketed::Embedding(&inputs), terms);
        assert_eq!(JobId::of(&t), Some(job));
        assert_eq!(job.to_string(), hex::encode(&t.job_id));
        assert_eq!((t.price_per_1k_tokens, t.epoch), (3, 9));
        assert_eq!(t.request_hash, signing::embed_request_hash(&"ab".repeat(32), &inputs).to_vec());
        signing::verify_ticket(&t).expect("signed");
    }
}
