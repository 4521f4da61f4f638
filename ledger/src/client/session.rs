//! A ledger connection for long-running nodes: connected on first use, dropped after a transient
//! failure, and moved to the next endpoint, so a node keeps settling while one ledger endpoint
//! is down.

use std::future::Future;
use std::pin::Pin;

use ed25519_dalek::SigningKey;
use wick_staking::TxBody;

use super::{Client, ClientError};
use crate::node::Committed;

/// What a [`Session::call`] closure returns: a call on the borrowed client.
pub type ClientFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send + 'c>>;

/// Connects to one of several ledger endpoints and fails over between them.
#[derive(Debug)]
pub struct Session {
    endpoints: Vec<String>,
    /// The endpoint tried next (and used by `current`).
    next: usize,
    current: Option<Client>,
}

impl Session {
    /// A session over `endpoints` (tried in order, then round robin); none is contacted yet.
    pub fn new(endpoints: Vec<String>) -> Self {
        Self { endpoints, next: 0, current: None }
    }

    /// The endpoints, in the order they are tried.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// A connected client: the current one, or the first endpoint (from the next one on) that
    /// answers.
    pub async fn client(&mut self) -> Result<&mut Client, ClientError> {
        if self.current.is_none() {
            self.current = Some(self.connect_next().await?);
        }
        self.current.as_mut().ok_or_else(no_endpoint)
    }

    /// Tries each endpoint once, from the next one on; the error is the last endpoint's.
    async fn connect_next(&mut self) -> Result<Client, ClientError> {
        let mut last = no_endpoint();
        for _ in 0..self.endpoints.len() {
            let url = &self.endpoints[self.next % self.endpoints.len()];
            match Client::connect(url).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::debug!(ledger = %url, error = %e, "ledger endpoint unreachable; trying the next");
                    self.next = self.next.wrapping_add(1);
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Runs `call` on a connected client. A transient failure drops the connection and runs
    /// `call` once more on the next endpoint that answers (each endpoint once at most); a
    /// rejection comes back as it is.
    ///
    /// `call` returns a boxed future that borrows the client only (clone what else it needs into
    /// it), so that tasks holding a session stay `Send`.
    pub async fn call<T, F>(&mut self, mut call: F) -> Result<T, ClientError>
    where
        F: for<'c> FnMut(&'c mut Client) -> ClientFuture<'c, T>,
    {
        let mut attempts = self.endpoints.len().max(1);
        loop {
            let result = match self.client().await {
                Ok(client) => call(client).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.is_transient() => {
                    self.failed();
                    attempts -= 1;
                    if attempts == 0 {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// Signs `body` with `key` (next nonce, the required fee) and submits it, failing over like
    /// [`Session::call`]. A retried submission whose first try did commit is refused (for a claim
    /// or attestation, as a duplicate), never applied twice.
    pub async fn send(&mut self, key: &SigningKey, body: TxBody) -> Result<Committed, ClientError> {
        self.call(|c| {
            let (key, body) = (key.clone(), body.clone());
            Box::pin(async move { c.send(&key, body).await })
        })
        .await
    }

    /// Forgets the current connection after a failure; the next use moves to the next endpoint.
    pub fn failed(&mut self) {
        if self.current.take().is_some() {
            self.next = self.next.wrapping_add(1);
        }
    }
}

fn no_endpoint() -> ClientError {
    ClientError::Connect { url: String::new(), reason: "no ledger endpoint is configured".into() }
}
