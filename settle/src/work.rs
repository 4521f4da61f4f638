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
use wick_proto::v1::{Receipt, SignedReceipt};
use wick_staking::{Address, TxBody, WorkReport};

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

/// One claim or attestation: the receipts of one worker under one router's tickets in one
/// window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkSummary {
    /// The worker.
    pub worker: [u8; 32],
    /// The router whose tickets they were.
    pub router: [u8; 32],
    /// Merkle root over the receipts.
    pub root: [u8; 32],
    /// Number of receipts.
    pub count: u64,
    /// Prompt plus output tokens.
    pub tokens: u64,
    /// What they are worth at their tickets' prices.
    pub amount: u128,
}

/// What receipts are worth: `⌊Σ (tokens_in + tokens_out) · price / 1000⌋`, each price being
/// its ticket's, per 1000 tokens, floored once over the group (so short jobs at a low price are
/// not each rounded down to nothing). Worker and router both compute exactly this.
pub fn amount_of<'a>(receipts: impl Iterator<Item = &'a Receipt>) -> u128 {
    let milli: u128 = receipts
        .map(|r| (u128::from(r.tokens_in) + u128::from(r.tokens_out)) * u128::from(r.price_per_1k_tokens))
        .fold(0, u128::saturating_add);
    milli / 1000
}

/// Groups receipts by (worker, router) and summarises each group; receipts without a router
/// (development calls) are left out.
pub fn summarise(receipts: &[SignedReceipt]) -> Vec<WorkSummary> {
    let mut groups: BTreeMap<([u8; 32], [u8; 32]), Vec<SignedReceipt>> = BTreeMap::new();
    for s in receipts {
        let Some(r) = s.receipt.as_ref() else { continue };
        let (Ok(worker), Ok(router)) = (
            <[u8; 32]>::try_from(r.worker_public_key.as_slice()),
            <[u8; 32]>::try_from(r.router_public_key.as_slice()),
        ) else {
            continue;
        };
        groups.entry((worker, router)).or_default().push(s.clone());
    }
    groups
        .into_iter()
        .map(|((worker, router), rs)| {
            let receipts = rs.iter().filter_map(|s| s.receipt.as_ref());
            WorkSummary {
                worker,
                router,
                root: receipts_root(&rs),
                count: rs.len() as u64,
                tokens: receipts.clone().map(|r| u64::from(r.tokens_in) + u64::from(r.tokens_out)).sum(),
                amount: amount_of(receipts),
            }
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

/// The claim (a worker's own work for one router) or attestation (a router's view of one
/// worker's work for it) for `work`.
fn settlement_tx(role: Role, me: [u8; 32], epoch: u64, work: &WorkSummary) -> Option<TxBody> {
    let report = WorkReport {
        epoch,
        receipts_root: work.root,
        count: work.count,
        tokens: work.tokens,
        amount: work.amount,
    };
    match role {
        Role::Worker if work.worker == me => {
            Some(TxBody::WorkClaim { router: Address(work.router), work: report })
        }
        Role::Router if work.router == me => {
            Some(TxBody::Attestation { worker: Address(work.worker), work: report })
        }
        _ => None,
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
    match ledger.send(key, body).await {
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
mod retry;

#[cfg(test)]
mod tests {
    use super::*;

    fn r(worker: u8, router: u8, tokens_out: u32, price: u64) -> SignedReceipt {
        SignedReceipt {
            receipt: Some(Receipt {
                worker_public_key: vec![worker; 32],
                router_public_key: vec![router; 32],
                tokens_in: 10,
                tokens_out,
                price_per_1k_tokens: price,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn summaries_per_worker_and_router_with_their_price() {
        let s = summarise(&[r(1, 9, 5, 1000), r(2, 9, 7, 100), r(1, 9, 6, 1000), r(1, 8, 90, 10)]);
        assert_eq!(s.len(), 3);
        // (worker 1, router 8): 100 tokens at 10 per 1000.
        assert_eq!(
            (s[0].worker, s[0].router, s[0].count, s[0].tokens, s[0].amount),
            ([1; 32], [8; 32], 1, 100, 1)
        );
        assert_eq!(
            (s[1].worker, s[1].router, s[1].count, s[1].tokens, s[1].amount),
            ([1; 32], [9; 32], 2, 31, 31)
        );
        assert_eq!((s[2].worker, s[2].count, s[2].tokens, s[2].amount), ([2; 32], 1, 17, 1));
        assert_eq!(s[1].root, receipts_root(&[r(1, 9, 6, 1000), r(1, 9, 5, 1000)]));
        // Floored once over the group: two jobs of 15 tokens at 100 per 1000 are worth 3, not 1 + 1.
        let pair = summarise(&[r(4, 9, 5, 100), r(4, 9, 5, 100)]);
        assert_eq!((pair[0].tokens, pair[0].amount), (30, 3));
        // A development receipt (no router) is not settled.
        let mut dev = r(3, 0, 1, 1);
        if let Some(x) = dev.receipt.as_mut() {
            x.router_public_key.clear();
        }
        assert!(summarise(&[dev]).is_empty());
    }

    #[test]
    fn each_side_settles_only_its_own_pairs() {
        let w = summarise(&[r(1, 9, 5, 1000)]).remove(0);
        assert!(matches!(settlement_tx(Role::Worker, [1; 32], 4, &w), Some(TxBody::WorkClaim { .. })));
        assert!(settlement_tx(Role::Worker, [2; 32], 4, &w).is_none());
        assert!(matches!(settlement_tx(Role::Router, [9; 32], 4, &w), Some(TxBody::Attestation { .. })));
        assert!(settlement_tx(Role::Router, [8; 32], 4, &w).is_none());
    }
}
