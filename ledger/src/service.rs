//! The `wick.v1.Ledger` gRPC service over a [`LedgerHandle`] (see `proto/wick/v1/ledger.proto`
//! for the error scheme), and [`serve`], which runs it on a socket.

use std::net::SocketAddr;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status};
use wick_proto::time::now_unix_ms;
use wick_proto::v1::ledger_server::{Ledger, LedgerServer};
use wick_proto::v1::{
    AccountRequest, AccountResponse, Block, Delegation, EpochRequest, EpochResponse, HeadRequest,
    HeadResponse, ParamBounds, ParamsRequest, ParamsResponse, Proposal, ProposalsRequest, ProposalsResponse,
    RelayTxsRequest, RelayTxsResponse, RouterRequest, RouterResponse, RoutersRequest, RoutersResponse,
    StakeRequest, StakeResponse, StreamBlocksRequest, SubmitTxRequest, SubmitTxResponse, SupplyRequest,
    SupplyResponse, Unbonding, ValidatorInfo, ValidatorsRequest, ValidatorsResponse, WorkerRequest,
    WorkerResponse, WorkersRequest, WorkersResponse,
};
use wick_staking::state::{Bond, Jail, ProposalStatus};
use wick_staking::{Address, ParamKey, State};

use crate::node::{LedgerHandle, SubmitError};

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct LedgerService {
    node: LedgerHandle,
}

impl LedgerService {
    /// A service over a running node.
    pub fn new(node: LedgerHandle) -> Self {
        Self { node }
    }
}

/// Serves `wick.v1.Ledger` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    node: LedgerHandle,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<LedgerServer<LedgerService>>().await;
    let routes = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(LedgerServer::new(LedgerService::new(node)));
    // The descriptor sets are compiled in, so this fails only on a build bug: serve without.
    let routes = match wick_proto::reflection::add_to(routes.clone(), "wick.v1.Ledger") {
        Ok(with_reflection) => with_reflection,
        Err(e) => {
            tracing::error!(error = %e, "gRPC reflection unavailable");
            routes
        }
    };
    routes
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown.cancelled_owned(),
        )
        .await
}

/// Binds `addr` (port 0 picks a free port) and serves on it in a task; returns the bound
/// address and the task.
pub async fn spawn_server(
    node: LedgerHandle,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<Result<(), tonic::transport::Error>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((bound, tokio::spawn(serve(node, listener, shutdown))))
}

fn address(bytes: &[u8]) -> Result<Address, Status> {
    bytes
        .try_into()
        .map(Address)
        .map_err(|_| Status::invalid_argument(format!("address must be 32 bytes, got {}", bytes.len())))
}

fn unbonding(state: &State, a: &Address) -> Vec<Unbonding> {
    state
        .unbonding
        .iter()
        .filter(|((_, owner, _, _), _)| owner == a)
        .map(|((e, _, from, bond), u)| Unbonding {
            release_epoch: *e,
            amount: u.amount.to_string(),
            bonded_to: from.0.to_vec(),
            kind: match bond {
                Bond::Worker => "worker",
                Bond::Router => "router",
                Bond::Escrow => "escrow",
                Bond::Validator => "validator",
            }
            .into(),
            started_epoch: u.started,
        })
        .collect()
}

fn jail_until(j: Option<Jail>) -> u64 {
    j.map_or(0, |j| j.until)
}

fn router_view(s: &State, a: &Address) -> RouterResponse {
    let r = s.routers.get(a).cloned().unwrap_or_default();
    RouterResponse {
        registered: s.routers.contains_key(a),
        stake: r.stake.to_string(),
        escrow: r.escrow.to_string(),
        jailed: r.jail.is_some(),
        jailed_until: jail_until(r.jail),
        epoch: s.epoch,
        address: a.0.to_vec(),
    }
}

/// A worker's record as `Worker` and `Workers` answer it (all defaults when not registered).
fn worker_response(s: &State, a: &Address) -> WorkerResponse {
    let w = s.workers.get(a).cloned().unwrap_or_default();
    let claims = (s.epoch, *a, Address::MIN)..=(s.epoch, *a, Address::MAX);
    WorkerResponse {
        registered: s.workers.contains_key(a),
        commission_bps: w.commission_bps,
        self_stake: w.self_stake.to_string(),
        delegated: w.delegated.to_string(),
        bonded: w.bonded().to_string(),
        jailed: w.jailed(),
        claimed_this_epoch: s.claims.range(claims).next().is_some(),
        epoch: s.epoch,
        jailed_until: jail_until(w.jail),
        address: a.0.to_vec(),
    }
}

/// Where the supply is: one pass over accounts, workers and unbonding entries.
fn supply(s: &State) -> SupplyResponse {
    let sum = |it: &mut dyn Iterator<Item = u128>| it.fold(0u128, u128::saturating_add);
    let liquid = sum(&mut s.accounts.values().map(|a| a.balance.0));
    let rewards = sum(&mut s.accounts.values().map(|a| a.rewards.0));
    let bonded = sum(&mut s.workers.values().map(|w| w.bonded()));
    let unbonding = sum(&mut s.unbonding.values().map(|v| v.amount.0));
    let reserved = sum(&mut s.attestations.values().map(|w| w.amount));
    let routers =
        sum(&mut s.routers.values().map(|r| r.stake.0.saturating_add(r.escrow.0))).saturating_add(reserved);
    SupplyResponse {
        total: s.supply.to_string(),
        liquid: liquid.to_string(),
        bonded: bonded.to_string(),
        unbonding: unbonding.to_string(),
        rewards: rewards.to_string(),
        minted: s.minted.to_string(),
        burned: s.burned.to_string(),
        accounts: s.accounts.len() as u64,
        height: s.height,
        routers: routers.to_string(),
    }
}

fn rejection(e: SubmitError) -> Status {
    match e {
        SubmitError::Rejected { height, hash, error } => {
            let msg = error.to_string();
            let mut status = if error.is_invalid_argument() {
                Status::invalid_argument(msg)
            } else {
                Status::failed_precondition(msg)
            };
            let md = status.metadata_mut();
            md.insert("wick-height", MetadataValue::from(height));
            if let Ok(v) = hex::encode(hash).parse() {
                md.insert("wick-tx-hash", v);
            }
            if let Ok(v) = error.code().parse() {
                md.insert("wick-error", v);
            }
            status
        }
        SubmitError::Invalid(error) | SubmitError::Refused(error) => {
            let mut status = if error.is_invalid_argument() {
                Status::invalid_argument(error.to_string())
            } else {
                Status::failed_precondition(error.to_string())
            };
            if let Ok(v) = error.code().parse() {
                status.metadata_mut().insert("wick-error", v);
            }
            status
        }
        SubmitError::Unavailable(m) => Status::unavailable(m),
    }
}

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn submit_tx(&self, req: Request<SubmitTxRequest>) -> Result<Response<SubmitTxResponse>, Status> {
        let c = self.node.submit_bytes(req.into_inner().tx).await.map_err(rejection)?;
        Ok(Response::new(SubmitTxResponse { height: c.height, tx_hash: c.hash.to_vec() }))
    }

    async fn head(&self, _: Request<HeadRequest>) -> Result<Response<HeadResponse>, Status> {
        let s = self.node.view().state;
        Ok(Response::new(HeadResponse {
            chain_id: s.chain_id.clone(),
            height: s.height,
            state_root: s.root().to_vec(),
            epoch: s.epoch,
            supply: s.supply.to_string(),
            minted: s.minted.to_string(),
            burned: s.burned.to_string(),
        }))
    }

    async fn account(&self, req: Request<AccountRequest>) -> Result<Response<AccountResponse>, Status> {
        let a = address(&req.get_ref().address)?;
        let s = self.node.view().state;
        let acc = s.account(&a);
        Ok(Response::new(AccountResponse {
            address: a.0.to_vec(),
            balance: acc.balance.to_string(),
            nonce: acc.nonce,
            rewards: acc.rewards.to_string(),
            unbonding: unbonding(&s, &a),
        }))
    }

    async fn stake(&self, req: Request<StakeRequest>) -> Result<Response<StakeResponse>, Status> {
        let a = address(&req.get_ref().address)?;
        let s = self.node.view().state;
        let w = s.workers.get(&a);
        let delegations = s
            .delegations
            .range((a, Address([0; 32]))..=(a, Address([255; 32])))
            .map(|((d, w), v)| Delegation {
                delegator: d.0.to_vec(),
                worker: w.0.to_vec(),
                amount: v.0.to_string(),
            })
            .collect();
        Ok(Response::new(StakeResponse {
            is_worker: w.is_some(),
            self_stake: w.map_or(0, |w| w.self_stake.0).to_string(),
            delegated_to: w.map_or(0, |w| w.delegated.0).to_string(),
            delegations,
            unbonding: unbonding(&s, &a),
        }))
    }

    async fn worker(&self, req: Request<WorkerRequest>) -> Result<Response<WorkerResponse>, Status> {
        let a = address(&req.get_ref().address)?;
        Ok(Response::new(worker_response(&self.node.view().state, &a)))
    }

    async fn workers(&self, _: Request<WorkersRequest>) -> Result<Response<WorkersResponse>, Status> {
        let s = self.node.view().state;
        Ok(Response::new(WorkersResponse {
            workers: s.workers.keys().map(|a| worker_response(&s, a)).collect(),
        }))
    }

    async fn supply(&self, _: Request<SupplyRequest>) -> Result<Response<SupplyResponse>, Status> {
        Ok(Response::new(supply(&self.node.view().state)))
    }

    async fn router(&self, req: Request<RouterRequest>) -> Result<Response<RouterResponse>, Status> {
        let a = address(&req.get_ref().address)?;
        let s = self.node.view().state;
        Ok(Response::new(router_view(&s, &a)))
    }

    async fn routers(&self, _: Request<RoutersRequest>) -> Result<Response<RoutersResponse>, Status> {
        let s = self.node.view().state;
        let routers = s.routers.keys().map(|a| router_view(&s, a)).collect();
        Ok(Response::new(RoutersResponse { routers, epoch: s.epoch }))
    }

    async fn epoch(&self, _: Request<EpochRequest>) -> Result<Response<EpochResponse>, Status> {
        let v = self.node.view();
        let ends = v.epoch_ends_unix_ms();
        Ok(Response::new(EpochResponse {
            epoch: v.state.epoch,
            seconds_left: ends.saturating_sub(now_unix_ms()).div_ceil(1000),
            ends_unix_ms: ends,
            epoch_seconds: v.epoch_seconds,
            height: v.state.height,
            last_epoch_minted: v.state.last_epoch.minted.to_string(),
            last_epoch_credited_workers: v.state.last_epoch.credited_workers,
            last_epoch_paid: v.state.last_epoch.paid.to_string(),
            last_epoch_burned: v.state.last_epoch.burned.to_string(),
        }))
    }

    async fn params(&self, _: Request<ParamsRequest>) -> Result<Response<ParamsResponse>, Status> {
        let v = self.node.view();
        let p = &v.state.params;
        let bps = |x: u128| u32::try_from(x).unwrap_or(u32::MAX);
        Ok(Response::new(ParamsResponse {
            chain_id: v.state.chain_id.clone(),
            epoch_reward: p.epoch_reward.to_string(),
            unbonding_epochs: p.unbonding_epochs,
            slash_bps: bps(p.slash_bps),
            reporter_bps: bps(p.reporter_bps),
            quorum_bps: bps(p.quorum_bps),
            threshold_bps: bps(p.threshold_bps),
            voting_epochs: p.voting_epochs,
            epoch_seconds: v.epoch_seconds,
            timelock_epochs: p.timelock_epochs,
            evidence_epochs: p.evidence_epochs,
            jail_epochs: p.jail_epochs,
            min_fee: p.min_fee.to_string(),
            fee_per_byte: p.fee_per_byte.to_string(),
            work_fee_bps: bps(p.work_fee_bps),
            bounds: ParamKey::ALL
                .iter()
                .map(|k| {
                    let (min, max) = p.bounds(*k, v.state.supply.0);
                    ParamBounds {
                        param: k.name().into(),
                        value: p.get(*k).to_string(),
                        min: min.to_string(),
                        max: max.to_string(),
                    }
                })
                .collect(),
        }))
    }

    async fn proposals(&self, req: Request<ProposalsRequest>) -> Result<Response<ProposalsResponse>, Status> {
        let only = req.get_ref().id;
        let s = self.node.view().state;
        if let Some(id) = only
            && !s.proposals.contains_key(&id)
        {
            return Err(Status::not_found(format!("no proposal {id}")));
        }
        let proposals = s
            .proposals
            .iter()
            .filter(|(id, _)| only.is_none_or(|o| o == **id))
            .map(|(id, p)| proposal_view(&s, *id, p))
            .collect();
        Ok(Response::new(ProposalsResponse { proposals }))
    }

    type StreamBlocksStream = ReceiverStream<Result<Block, Status>>;

    async fn validators(
        &self,
        _: Request<ValidatorsRequest>,
    ) -> Result<Response<ValidatorsResponse>, Status> {
        let s = self.node.view().state;
        let validators = s
            .validators
            .iter()
            .map(|(a, v)| ValidatorInfo {
                address: a.0.to_vec(),
                stake: v.stake.to_string(),
                power: s.validator_set.get(a).copied().unwrap_or(0),
                jailed: v.jail.is_some(),
                jailed_until: v.jail.map_or(0, |j| j.until),
            })
            .collect();
        Ok(Response::new(ValidatorsResponse { validators }))
    }

    async fn relay_txs(&self, req: Request<RelayTxsRequest>) -> Result<Response<RelayTxsResponse>, Status> {
        // Without a socket (in-process transports) every caller shares one bucket.
        let source = req.remote_addr().map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let txs = req.into_inner().txs;
        if txs.len() > crate::replica::MAX_RELAY_TXS {
            return Err(Status::invalid_argument(format!(
                "a relay carries at most {} transactions, this one {}",
                crate::replica::MAX_RELAY_TXS,
                txs.len()
            )));
        }
        let accepted = self.node.relay(txs, source).map_err(|e| {
            tracing::debug!(%source, error = %e, "relay refused");
            Status::resource_exhausted(e.to_string())
        })? as u32;
        Ok(Response::new(RelayTxsResponse { accepted }))
    }

    async fn stream_blocks(
        &self,
        req: Request<StreamBlocksRequest>,
    ) -> Result<Response<Self::StreamBlocksStream>, Status> {
        let from = req.get_ref().from_height.max(1);
        let (tx, rx) = mpsc::channel(64);
        let node = self.node.clone();
        tokio::spawn(follow_blocks(node, from, tx));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A proposal as the `Proposals` query shows it: votes weighed by the snapshotted power.
fn proposal_view(s: &State, id: u64, p: &wick_staking::state::Proposal) -> Proposal {
    let snapshot = s.snapshots.get(&p.voting_start);
    let power = |yes: bool| {
        p.votes
            .iter()
            .filter(|(_, v)| **v == yes)
            .map(|(a, _)| snapshot.and_then(|s| s.power.get(a)).copied().unwrap_or(0))
            .fold(0u128, u128::saturating_add)
            .to_string()
    };
    let (status, effective_epoch) = match p.status {
        ProposalStatus::Pending => ("pending", 0),
        ProposalStatus::Voting => ("voting", 0),
        ProposalStatus::Rejected => ("rejected", 0),
        ProposalStatus::Passed { effective } => ("passed", effective),
        ProposalStatus::Applied => ("applied", 0),
        ProposalStatus::Void => ("void", 0),
    };
    Proposal {
        id,
        param: p.key.name().into(),
        value: p.value.to_string(),
        voting_end: p.voting_end,
        status: status.into(),
        yes_power: power(true),
        no_power: power(false),
        voters: p.votes.len() as u32,
        voting_start: p.voting_start,
        effective_epoch,
        proposer: p.proposer.0.to_vec(),
    }
}

/// Sends stored blocks from `next` on, then live ones; re-reads the store when it falls behind.
async fn follow_blocks(node: LedgerHandle, mut next: u64, tx: mpsc::Sender<Result<Block, Status>>) {
    let mut live = node.subscribe();
    loop {
        // Catch up from the store.
        loop {
            let Some(store) = node.store() else {
                let _ = tx.send(Err(Status::unavailable("the ledger has stopped"))).await;
                return;
            };
            let page = tokio::task::spawn_blocking(move || store.blocks_from(next, 256)).await;
            let page = match page {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                    return;
                }
                Err(_) => return,
            };
            if page.is_empty() {
                break;
            }
            for b in page {
                next = b.height + 1;
                if tx.send(Ok(b)).await.is_err() {
                    return;
                }
            }
        }
        // Follow live blocks (until the subscriber goes away).
        loop {
            let received = tokio::select! {
                r = live.recv() => r,
                () = tx.closed() => return,
            };
            match received {
                Ok(b) if b.height < next => {}
                Ok(b) if b.height == next => {
                    next += 1;
                    if tx.send(Ok(Block::clone(&b))).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
