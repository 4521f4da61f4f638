//! The worker's checks of a job ticket, so that it serves only what a staked router asked for,
//! at its price, once:
//!
//! 1. No ticket: refused (`PERMISSION_DENIED`) unless the worker runs with `--dev-unticketed`.
//! 2. The router's signature must verify (`UNAUTHENTICATED`).
//! 3. The router must be one the ledger vouches for: registered, bonded, unjailed
//!    (`PERMISSION_DENIED`); without a ledger any signed ticket is served (nothing is paid).
//! 4. The ticket must name this model and this very request: its hash of the messages (or raw
//!    prompt) and parameters, or of the embedding inputs (`INVALID_ARGUMENT`).
//! 5. Its price must be at least this worker's (`FAILED_PRECONDITION`), its epoch the ledger's
//!    current one or a neighbour, and its deadline in the future but no further than
//!    `max_ticket_secs` (`DEADLINE_EXCEEDED`, `INVALID_ARGUMENT`).
//! 6. Each (router, job id) is served once (`ALREADY_EXISTS`): two receipts for one ticket can
//!    only come from serving it twice, so nobody can collect two from an honest worker.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tonic::Status;
use wick_proto::signing;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::{ChatMessage, JobTicket, SamplingParams, SignedReceipt};

/// A router's public key.
pub type RouterKey = [u8; 32];

/// The request a ticket must name.
pub enum Request<'a> {
    /// A generation on model `model_id` (sha256 hex).
    Generation {
        /// Model id.
        model_id: &'a str,
        /// Chat messages (empty for a raw prompt).
        messages: &'a [ChatMessage],
        /// Raw prompt (empty for chat).
        prompt: &'a str,
        /// Sampling parameters.
        params: Option<&'a SamplingParams>,
    },
    /// An embedding of `inputs` on model `model_id`.
    Embedding {
        /// Model id.
        model_id: &'a str,
        /// Inputs.
        inputs: &'a [String],
    },
}

impl Request<'_> {
    fn model_id(&self) -> &str {
        match self {
            Request::Generation { model_id, .. } | Request::Embedding { model_id, .. } => model_id,
        }
    }

    fn hash(&self) -> [u8; 32] {
        match self {
            Request::Generation { model_id, messages, prompt, params } => {
                signing::request_hash(model_id, messages, prompt, *params)
            }
            Request::Embedding { model_id, inputs } => signing::embed_request_hash(model_id, inputs),
        }
    }
}

/// A job the gate let through.
#[derive(Debug, Clone, Copy)]
pub struct Admitted {
    /// What the receipt's job hash is: the ticket's hash, or the request's without one.
    pub request_hash: [u8; 32],
    /// When the ticket expires, as an instant.
    pub deadline: Option<Instant>,
}

/// The worker's ticket policy and what it remembers.
pub struct TicketGate {
    /// Routers the ledger vouches for; `None` when no ledger is followed (any router).
    routers: Mutex<Option<HashSet<RouterKey>>>,
    /// The ledger's current epoch, once known.
    epoch: AtomicU64,
    /// (router, job id) served, until their ticket's deadline (unix ms).
    served: Mutex<HashMap<(RouterKey, Vec<u8>), u64>>,
    /// The second (unix) of the last pruning of `served`.
    pruned: AtomicU64,
    price_per_1k_tokens: u64,
    max_ticket_ms: u64,
    allow_unticketed: bool,
}

/// Epoch value meaning "not known yet".
const UNKNOWN: u64 = u64::MAX;

impl TicketGate {
    /// A gate for a worker asking `price_per_1k_tokens`; `follows_ledger` makes it refuse every
    /// router until [`TicketGate::set_routers`] says which are vouched for.
    pub fn new(
        price_per_1k_tokens: u64,
        max_ticket_secs: u64,
        allow_unticketed: bool,
        follows_ledger: bool,
    ) -> Self {
        Self {
            routers: Mutex::new(follows_ledger.then(HashSet::new)),
            epoch: AtomicU64::new(UNKNOWN),
            served: Mutex::new(HashMap::new()),
            pruned: AtomicU64::new(0),
            price_per_1k_tokens,
            max_ticket_ms: max_ticket_secs.saturating_mul(1000),
            allow_unticketed,
        }
    }

    /// The routers the ledger now vouches for.
    pub fn set_routers(&self, routers: HashSet<RouterKey>) {
        *self.routers.lock().unwrap_or_else(|e| e.into_inner()) = Some(routers);
    }

    /// The ledger's current epoch.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// Remembers the jobs of receipts signed before a restart as served.
    pub fn remember(&self, receipts: &[SignedReceipt]) {
        let now = now_unix_ms();
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        for r in receipts.iter().filter_map(|s| s.receipt.as_ref()) {
            let until = r.finished_unix_ms.saturating_add(self.max_ticket_ms);
            if let (Ok(router), true) = (<RouterKey>::try_from(r.router_public_key.as_slice()), until > now) {
                served.insert((router, r.job_id.clone()), until);
            }
        }
    }

    /// Checks `ticket` for `request` (see the module docs) and, if it passes, marks it served.
    pub fn admit(&self, ticket: Option<&JobTicket>, request: &Request<'_>) -> Result<Admitted, Status> {
        let Some(t) = ticket else {
            if self.allow_unticketed {
                return Ok(Admitted { request_hash: request.hash(), deadline: None });
            }
            return Err(Status::permission_denied(
                "this worker serves only jobs ticketed by a router staked on the ledger (direct calls \
                 need a worker started with --dev-unticketed, for development)",
            ));
        };
        signing::verify_ticket(t).map_err(|e| Status::unauthenticated(format!("job ticket: {e}")))?;
        let router: RouterKey = t
            .router_public_key
            .as_slice()
            .try_into()
            .map_err(|_| Status::unauthenticated("job ticket: bad router key"))?;
        self.router_vouched(&router)?;
        self.names(t, request)?;
        self.terms(t)?;
        let deadline = self.deadline(t)?;
        self.once(router, t)?;
        Ok(Admitted { request_hash: signing::ticket_hash(t), deadline: Some(deadline) })
    }

    fn router_vouched(&self, router: &RouterKey) -> Result<(), Status> {
        let routers = self.routers.lock().unwrap_or_else(|e| e.into_inner());
        match routers.as_ref() {
            Some(set) if !set.contains(router) => Err(Status::permission_denied(format!(
                "router {} is not registered, bonded and unjailed on the ledger",
                hex::encode(router)
            ))),
            _ => Ok(()),
        }
    }

    fn names(&self, t: &JobTicket, request: &Request<'_>) -> Result<(), Status> {
        if hex::encode(&t.model_id) != request.model_id() {
            return Err(Status::invalid_argument("the job ticket names another model"));
        }
        if t.request_hash != request.hash() {
            return Err(Status::invalid_argument("the job ticket names another request"));
        }
        Ok(())
    }

    fn terms(&self, t: &JobTicket) -> Result<(), Status> {
        if t.price_per_1k_tokens < self.price_per_1k_tokens {
            return Err(Status::failed_precondition(format!(
                "the ticket's price {} per 1000 tokens is below this worker's {}",
                t.price_per_1k_tokens, self.price_per_1k_tokens
            )));
        }
        let epoch = self.epoch.load(Ordering::Relaxed);
        if epoch != UNKNOWN && (t.epoch.saturating_add(1) < epoch || t.epoch > epoch.saturating_add(1)) {
            return Err(Status::failed_precondition(format!(
                "the ticket is for epoch {}; the ledger is at epoch {epoch}",
                t.epoch
            )));
        }
        Ok(())
    }

    /// The ticket's deadline as an instant, once it is in the future and within the bound.
    fn deadline(&self, t: &JobTicket) -> Result<Instant, Status> {
        let now = now_unix_ms();
        let left = t.deadline_unix_ms.saturating_sub(now);
        if left == 0 {
            return Err(Status::deadline_exceeded("the job ticket's deadline has passed"));
        }
        if left > self.max_ticket_ms {
            return Err(Status::invalid_argument(format!(
                "the job ticket's deadline is {} s away; this worker accepts at most {} s",
                left / 1000,
                self.max_ticket_ms / 1000
            )));
        }
        Ok(Instant::now() + Duration::from_millis(left))
    }

    /// Marks (router, job id) served, unless it already was; forgets expired entries (at most
    /// once a second, so admission stays cheap).
    fn once(&self, router: RouterKey, t: &JobTicket) -> Result<(), Status> {
        let now = now_unix_ms();
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        if self.pruned.swap(now / 1000, Ordering::Relaxed) != now / 1000 {
            served.retain(|_, until| *until > now);
        }
        let key = (router, t.job_id.clone());
        if served.contains_key(&key) {
            return Err(Status::already_exists("this job ticket was already served"));
        }
        served.insert(key, t.deadline_unix_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
