//! The ledger's current state as the explorer shows it: a task that owns the one ledger
//! [`Session`] (several endpoints, failover), reads the head, epoch, parameters, supply, workers
//! and proposals twice a second into an immutable [`LedgerSnapshot`] that pages read without
//! waiting, and answers the per-account questions a page asks.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use wick_ledger::client::{ClientError, Session};
use wick_ledger::json::AccountJson;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::{
    EpochResponse, HeadResponse, ParamsResponse, Proposal, RouterResponse, SupplyResponse, WorkerResponse,
};
use wick_staking::Address;

/// How often the snapshot is refreshed.
const REFRESH: Duration = Duration::from_millis(500);

/// What the ledger said at one moment.
#[derive(Debug, Clone, Default)]
pub struct LedgerSnapshot {
    /// Head: chain id, height, root, supply.
    pub head: HeadResponse,
    /// The epoch clock.
    pub epoch: EpochResponse,
    /// Governance parameters.
    pub params: ParamsResponse,
    /// Where the supply is held.
    pub supply: SupplyResponse,
    /// Every registered worker.
    pub workers: Vec<WorkerResponse>,
    /// Every registered router.
    pub routers: Vec<RouterResponse>,
    /// Every proposal.
    pub proposals: Vec<Proposal>,
    /// When it was read.
    pub read_unix_ms: u64,
}

impl LedgerSnapshot {
    /// A registered worker's record.
    pub fn worker(&self, key: &[u8]) -> Option<&WorkerResponse> {
        self.workers.iter().find(|w| w.address == key)
    }
}

/// The latest snapshot and whether the ledger answers.
#[derive(Debug, Clone, Default)]
pub struct LedgerStatus {
    /// The last snapshot read (it may be older than the last failure).
    pub snapshot: Option<Arc<LedgerSnapshot>>,
    /// The last refresh's error, if it failed.
    pub error: Option<String>,
    /// The endpoints, in the order they are tried.
    pub endpoints: Vec<String>,
}

#[derive(Debug)]
enum Query {
    Account(Address, oneshot::Sender<Result<AccountJson, String>>),
}

/// A cloneable handle to the ledger task.
#[derive(Debug, Clone)]
pub struct LedgerReader {
    queries: mpsc::Sender<Query>,
    status: watch::Receiver<LedgerStatus>,
}

impl LedgerReader {
    /// Starts the task over `endpoints`; it stops at `shutdown`.
    pub fn start(endpoints: Vec<String>, shutdown: CancellationToken) -> LedgerReader {
        let status = LedgerStatus { endpoints: endpoints.clone(), ..Default::default() };
        let (status_tx, status_rx) = watch::channel(status);
        let (queries, rx) = mpsc::channel(64);
        tokio::spawn(run(Session::new(endpoints), rx, status_tx, shutdown));
        LedgerReader { queries, status: status_rx }
    }

    /// The latest status (cheap: clones an `Arc`).
    pub fn status(&self) -> LedgerStatus {
        self.status.borrow().clone()
    }

    /// Changes of the status, for live pages.
    pub fn changes(&self) -> watch::Receiver<LedgerStatus> {
        self.status.clone()
    }

    /// An account's balance, rewards, stake, delegations and unbonding, read now.
    pub async fn account(&self, a: Address) -> Result<AccountJson, String> {
        let (tx, rx) = oneshot::channel();
        self.queries.send(Query::Account(a, tx)).await.map_err(|_| "the explorer is stopping".to_string())?;
        rx.await.map_err(|_| "the explorer is stopping".to_string())?
    }
}

async fn run(
    mut session: Session,
    mut queries: mpsc::Receiver<Query>,
    status: watch::Sender<LedgerStatus>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            q = queries.recv() => match q {
                Some(Query::Account(a, reply)) => {
                    let _ = reply.send(account(&mut session, a).await.map_err(|e| e.to_string()));
                }
                None => return,
            },
            _ = tick.tick() => {
                let read = snapshot(&mut session).await;
                status.send_modify(|s| match read {
                    Ok(snap) => {
                        s.snapshot = Some(Arc::new(snap));
                        s.error = None;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "ledger refresh failed");
                        s.error = Some(e.to_string());
                    }
                });
            }
        }
    }
}

async fn account(session: &mut Session, a: Address) -> Result<AccountJson, ClientError> {
    session
        .call(|c| {
            Box::pin(async move {
                let acc = c.account(&a).await?;
                let stake = c.stake(&a).await?;
                Ok(AccountJson::new(&a, &acc, &stake))
            })
        })
        .await
}

/// Reads everything a snapshot holds from one endpoint (failing over as a whole).
async fn snapshot(session: &mut Session) -> Result<LedgerSnapshot, ClientError> {
    session
        .call(|c| {
            Box::pin(async move {
                Ok(LedgerSnapshot {
                    head: c.head().await?,
                    epoch: c.epoch().await?,
                    params: c.params().await?,
                    supply: c.supply().await?,
                    workers: c.workers().await?,
                    routers: c.routers().await?.routers,
                    proposals: c.proposals(None).await?.proposals,
                    read_unix_ms: now_unix_ms(),
                })
            })
        })
        .await
}
