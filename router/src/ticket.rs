//! Job ids and the job tickets the router signs: the one place a ticket is built, for
//! generations, embeddings and (by reuse) their audits.

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
    /// An embedding: the ticket names only the model.
    Embedding,
}

/// A ticket for job `job` on `model_id` (sha256 hex), valid for `lifetime` from now, signed
/// with the router's key.
pub(crate) fn sign(
    key: &SigningKey,
    job: JobId,
    model_id: &str,
    what: Ticketed<'_>,
    lifetime: Duration,
) -> JobTicket {
    let (request_hash, params) = match what {
        Ticketed::Generation(req) => (
            signing::request_hash(model_id, &req.messages, &req.prompt, req.params.as_ref()).to_vec(),
            req.params.clone(),
        ),
        Ticketed::Embedding => (Vec::new(), None),
    };
    let mut ticket = JobTicket {
        job_id: job.0.to_vec(),
        request_hash,
        model_id: hex::decode(model_id).unwrap_or_default(),
        params,
        deadline_unix_ms: unix_ms_after(lifetime),
        router_public_key: Vec::new(),
        signature: Vec::new(),
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
        let t = sign(&key, job, &"ab".repeat(32), Ticketed::Embedding, Duration::from_secs(5));
        assert_eq!(JobId::of(&t), Some(job));
        assert_eq!(job.to_string(), hex::encode(&t.job_id));
        signing::verify_ticket(&t).expect("signed");
    }
}
