//! Settlement against a ledger whose first submission fails in transit: the epoch stays
//! unsettled until the claim is committed (or finally refused), never marked done before it
//! was sent. The ledger is a fake gRPC server on loopback: this test is about settle's loop,
//! not the ledger's rules.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tonic::{Request, Response, Status};
use wick_proto::v1::ledger_server::{Ledger, LedgerServer};
use wick_proto::v1::{
    AccountRequest, AccountResponse, Block, EpochRequest, EpochResponse, HeadRequest, HeadResponse,
    ParamsRequest, ParamsResponse, ProposalsRequest, ProposalsResponse, RelayTxsRequest, RelayTxsResponse,
    RouterRequest, RouterResponse, RoutersRequest, RoutersResponse, StakeRequest, StakeResponse,
    StreamBlocksRequest, SubmitTxRequest, SubmitTxResponse, SupplyRequest, SupplyResponse, ValidatorsRequest,
    ValidatorsResponse, WorkerRequest, WorkerResponse, WorkersRequest, WorkersResponse,
};

use super::*;

/// Answers what a worker's settlement reads, and fails submissions while `failures_left` > 0.
#[derive(Default)]
struct FlakyLedger {
    failures_left: AtomicUsize,
    submissions: AtomicUsize,
}

/// The served handle; the test keeps another to read the counts.
struct Served(Arc<FlakyLedger>);

fn unused<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not needed by settlement"))
}

#[tonic::async_trait]
impl Ledger for Served {
    type StreamBlocksStream = tokio_stream::Empty<Result<Block, Status>>;

    async fn submit_tx(&self, _: Request<SubmitTxRequest>) -> Result<Response<SubmitTxResponse>, Status> {
        self.0.submissions.fetch_add(1, Ordering::SeqCst);
        let failing =
            self.0.failures_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(Status::unavailable("connection reset (injected)"));
        }
        Ok(Response::new(SubmitTxResponse { height: 1, tx_hash: vec![1; 32] }))
    }
    async fn head(&self, _: Request<HeadRequest>) -> Result<Response<HeadResponse>, Status> {
        Ok(Response::new(HeadResponse { chain_id: "wick-retry".into(), ..Default::default() }))
    }
    async fn account(&self, _: Request<AccountRequest>) -> Result<Response<AccountResponse>, Status> {
        Ok(Response::new(AccountResponse::default()))
    }
    async fn params(&self, _: Request<ParamsRequest>) -> Result<Response<ParamsResponse>, Status> {
        Ok(Response::new(ParamsResponse {
            min_fee: "0".into(),
            fee_per_byte: "0".into(),
            ..Default::default()
        }))
    }
    async fn epoch(&self, _: Request<EpochRequest>) -> Result<Response<EpochResponse>, Status> {
        // An epoch of one second whose submission time has come: it ends in 100 ms.
        let ends_unix_ms = now_unix_ms() + 100;
        Ok(Response::new(EpochResponse { epoch: 7, ends_unix_ms, epoch_seconds: 1, ..Default::default() }))
    }
    async fn stake(&self, _: Request<StakeRequest>) -> Result<Response<StakeResponse>, Status> {
        unused()
    }
    async fn worker(&self, _: Request<WorkerRequest>) -> Result<Response<WorkerResponse>, Status> {
        unused()
    }
    async fn router(&self, _: Request<RouterRequest>) -> Result<Response<RouterResponse>, Status> {
        unused()
    }
    async fn routers(&self, _: Request<RoutersRequest>) -> Result<Response<RoutersResponse>, Status> {
        unused()
    }
    async fn workers(&self, _: Request<WorkersRequest>) -> Result<Response<WorkersResponse>, Status> {
        unused()
    }
    async fn supply(&self, _: Request<SupplyRequest>) -> Result<Response<SupplyResponse>, Status> {
        unused()
    }
    async fn proposals(&self, _: Request<ProposalsRequest>) -> Result<Response<ProposalsResponse>, Status> {
        unused()
    }
    async fn relay_txs(&self, _: Request<RelayTxsRequest>) -> Result<Response<RelayTxsResponse>, Status> {
        unused()
    }
    async fn validators(
        &self,
        _: Request<ValidatorsRequest>,
    ) -> Result<Response<ValidatorsResponse>, Status> {
        unused()
    }
    async fn stream_blocks(
        &self,
        _: Request<StreamBlocksRequest>,
    ) -> Result<Response<Self::StreamBlocksStream>, Status> {
        unused()
    }
}

async fn serve(ledger: Arc<FlakyLedger>, stop: CancellationToken) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LedgerServer::new(Served(ledger)))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                stop.cancelled_owned(),
            ),
    );
    addr
}

#[tokio::test]
async fn a_submission_lost_in_transit_leaves_the_epoch_unsettled_until_it_lands() {
    let ledger = Arc::new(FlakyLedger { failures_left: AtomicUsize::new(1), ..Default::default() });
    let stop = CancellationToken::new();
    let addr = serve(ledger.clone(), stop.clone()).await;
    let key = SigningKey::from_bytes(&[5; 32]);
    let me = key.verifying_key().to_bytes();
    // One receipt of ours for router 9, inside whatever window is asked for.
    let source: ReceiptSource = Arc::new(move |from, _to| {
        let receipt = Receipt {
            worker_public_key: me.to_vec(),
            router_public_key: vec![9; 32],
            tokens_out: 5,
            price_per_1k_tokens: 1000,
            finished_unix_ms: from,
            ..Default::default()
        };
        vec![SignedReceipt { receipt: Some(receipt), ..Default::default() }]
    });
    let mut session = Session::new(vec![format!("http://{addr}")]);
    let mut settled = None;

    // The claim is lost in transit: the epoch is not settled.
    let first = step(&mut session, &key, Role::Worker, &source, &mut settled).await;
    assert!(first.as_ref().is_err_and(ClientError::is_transient), "{first:?}");
    assert_eq!(settled, None, "nothing was committed, so the epoch is not done");
    assert_eq!(ledger.submissions.load(Ordering::SeqCst), 1);

    // The next look at the ledger sends the claim again; it lands and the epoch is done.
    step(&mut session, &key, Role::Worker, &source, &mut settled).await.expect("second look");
    assert_eq!(settled, Some(7));
    assert_eq!(ledger.submissions.load(Ordering::SeqCst), 2);

    // Settled epochs are not claimed twice.
    step(&mut session, &key, Role::Worker, &source, &mut settled).await.expect("third look");
    assert_eq!(ledger.submissions.load(Ordering::SeqCst), 2);
    stop.cancel();
}
