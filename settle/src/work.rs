//! The settlement loop a worker or a router runs beside its servers: at each epoch's submit time
//! it reads its receipts of the epoch's window and sends a work claim (worker) or one
//! attestation per worker (router).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio_util::sync::CancellationToken;
use wick_ledger::client::{ClientError, Session};
use wick_proto::time::now_unix_ms;
use wick_proto::v1::SignedReceipt;
use wick_staking::{Address, Amount, TxBody};

use crate::merkle::receipts_root;
use crate::window::EpochWindow;

/// Reads the receipts that finished in `[from_ms, to_ms)`.
pub type ReceiptSource = Arc<dyn Fn(u64, u64) -> Vec<SignedReceipt> + Send + Sync>;

/// Who settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Claims its own work.
    Worker,
    /// Attests the work of every worker it countersigned receipts of.
    Router,
}

/// One claim or attestation: the receipts of one worker in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkSummary {
    /// The worker.
    pub worker: [u8; 32],
    /// Merkle root over the receipts.
    pub root: [u8; 32],
    /// Number of receipts.
    pub count: u64,
    /// Prompt plus output tokens.
    pub tokens: u64,
}

/// Groups receipts by worker and summarises each group.
pub fn summarise(receipts: &[SignedReceipt]) -> Vec<WorkSummary> {
    let mut by_worker: BTreeMap<[u8; 32], Vec<SignedReceipt>> = BTreeMap::new();
    for s in receipts {
        if let Some(key) =
            s.receipt.as_ref().and_then(|r| <[u8; 32]>::try_from(r.worker_public_key.as_slice()).ok())
        {
            by_worker.entry(key).or_default().push(s.clone());
        }
    }
    by_worker
        .into_iter()
        .map(|(worker, rs)| WorkSummary {
            worker,
            root: receipts_root(&rs),
            count: rs.len() as u64,
            tokens: rs
                .iter()
                .filter_map(|s| s.receipt.as_ref())
                .map(|r| u64::from(r.tokens_in) + u64::from(r.tokens_out))
                .sum(),
        })
        .collect()
}

/// Runs until `shutdown`: settles every epoch with the ledger behind `ledger`.
pub async fn run(
    mut ledger: Session,
    key: SigningKey,
    role: Role,
    source: ReceiptSource,
    shutdown: CancellationToken,
) {
    let mut settled: Option<u64> = None;
    loop {
        let pause = match step(&mut ledger, &key, role, &source, &mut settled).await {
            Ok(pause) => pause,
            Err(e) => {
                tracing::warn!(error = %e, ledger = ?ledger.endpoints(), "settlement with the ledger failed; retrying");
                ledger.failed();
                Duration::from_secs(2)
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// One look at the ledger's epoch: submits this epoch's claim or attestations when it is time,
/// and says how long to wait before the next look. The epoch counts as settled only once every
/// submission was committed or finally refused, so a transient failure retries it.
async fn step(
    ledger: &mut Session,
    key: &SigningKey,
    role: Role,
    source: &ReceiptSource,
    settled: &mut Option<u64>,
) -> Result<Duration, ClientError> {
    let window = EpochWindow::of(&ledger.call(|c| Box::pin(c.epoch())).await?);
    let now = now_unix_ms();
    if settled.is_some_and(|e| e >= window.epoch) || now < window.submit_at_ms || now >= window.ends_ms {
        let wait = if now < window.submit_at_ms { window.submit_at_ms - now } else { 500 };
        return Ok(Duration::from_millis(wait.clamp(50, 1000)));
    }
    // Reading the receipt log is blocking I/O: off the async threads.
    let read = source.clone();
    let receipts =
        tokio::task::spawn_blocking(move || read(window.from_ms, window.to_ms)).await.map_err(|e| {
            ClientError::Connect { url: String::new(), reason: format!("reading receipts failed: {e}") }
        })?;
    let me: [u8; 32] = key.verifying_key().to_bytes();
    for work in summarise(&receipts) {
        let Some(body) = settlement_tx(role, me, window.epoch, &work) else { continue };
        submit(ledger, key, role, window.epoch, &work, body).await?;
    }
    *settled = Some(window.epoch);
    Ok(Duration::from_millis(500))
}

/// The claim (a worker's own work) or attestation (a router's view of a worker) for `work`.
fn settlement_tx(role: Role, me: [u8; 32], epoch: u64, work: &WorkSummary) -> Option<TxBody> {
    match role {
        Role::Worker if work.worker != me => None,
        Role::Worker => Some(TxBody::WorkClaim {
            epoch,
            receipts_root: work.root,
            count: work.count,
            tokens: work.tokens,
        }),
        Role::Router => Some(TxBody::Attestation {
            epoch,
            worker: Address(work.worker),
            receipts_root: work.root,
            count: work.count,
            tokens: work.tokens,
        }),
    }
}

/// Submits one settlement transaction; a refusal is logged and final, a transient failure is
/// returned so the epoch is tried again.
async fn submit(
    ledger: &mut Session,
    key: &SigningKey,
    role: Role,
    epoch: u64,
    work: &WorkSummary,
    body: TxBody,
) -> Result<(), ClientError> {
    let what = if role == Role::Worker { "work claim" } else { "attestation" };
    let worker = hex::encode(work.worker);
    match ledger.send(key, Amount(0), body).await {
        Ok(done) => tracing::info!(
            epoch, worker = %worker, receipts = work.count, tokens = work.tokens, height = done.height,
            "{what} committed"
        ),
        // A refusal (a worker that is not registered, or one already committed by an earlier
        // try of this epoch) is final.
        Err(e) if !e.is_transient() => {
            tracing::warn!(epoch, worker = %worker, error = %e, "{what} refused");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_proto::v1::Receipt;

    fn r(worker: u8, tokens_out: u32) -> SignedReceipt {
        SignedReceipt {
            receipt: Some(Receipt {
                worker_public_key: vec![worker; 32],
                tokens_in: 10,
                tokens_out,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn summaries_per_worker() {
        let s = summarise(&[r(1, 5), r(2, 7), r(1, 6)]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].worker, s[0].count, s[0].tokens), ([1; 32], 2, 31));
        assert_eq!((s[1].worker, s[1].count, s[1].tokens), ([2; 32], 1, 17));
        assert_eq!(s[0].root, receipts_root(&[r(1, 6), r(1, 5)]));
    }
}
