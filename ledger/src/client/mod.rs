//! The one client of the `wick.v1.Ledger` service that every part of Wick uses: [`Client`] is
//! one connection (it signs transactions with the ledger's chain id and the account's next
//! nonce, submits them and turns rejections back into their reasons); [`Session`] is what
//! long-running nodes hold: it connects lazily, reconnects after a failure and moves on to the
//! next endpoint when one is down.
//!
//! ```no_run
//! # async fn claim(key: ed25519_dalek::SigningKey) -> Result<(), wick_ledger::client::ClientError> {
//! use wick_ledger::client::Client;
//! use wick_staking::{Address, TxBody, WorkReport};
//! let mut ledger = Client::connect("http://127.0.0.1:7100").await?;
//! let epoch = ledger.epoch().await?.epoch;
//! let work = WorkReport { epoch, receipts_root: [0; 32], count: 10, tokens: 1234, amount: 12 };
//! let router = Address([7; 32]);
//! let done = ledger.send(&key, TxBody::WorkClaim { router, work }).await?; // the fee it needs
//! println!("claim committed in block {}", done.height);
//! # Ok(()) }
//! ```

use ed25519_dalek::SigningKey;
use tonic::transport::Channel;
use wick_proto::v1::ledger_client::LedgerClient;
use wick_proto::v1::{
    AccountRequest, AccountResponse, Block, EpochRequest, EpochResponse, HeadRequest, HeadResponse,
    ParamsRequest, ParamsResponse, ProposalsRequest, ProposalsResponse, RouterRequest, RouterResponse,
    RoutersRequest, RoutersResponse, StakeRequest, StakeResponse, StreamBlocksRequest, SubmitTxRequest,
    SupplyRequest, SupplyResponse, WorkerRequest, WorkerResponse, WorkersRequest,
};

use wick_staking::{Address, Amount, SignedTx, Tx, TxBody, wire};

use crate::node::Committed;

mod session;

pub use session::{ClientFuture, Session};

/// What went wrong talking to the ledger.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint could not be reached.
    #[error("cannot reach the ledger at {url}: {reason}")]
    Connect {
        /// Endpoint.
        url: String,
        /// Cause.
        reason: String,
    },
    /// The ledger rejected the transaction (`code` is the stable reason code, e.g. `bad_nonce`).
    #[error("the ledger rejected the transaction: {message}")]
    Rejected {
        /// Reason code (`wick-error` metadata), empty if the ledger sent none.
        code: String,
        /// The ledger's precise reason.
        message: String,
        /// gRPC status code.
        status: tonic::Code,
        /// Block that recorded the rejection, if it got that far.
        height: Option<u64>,
    },
    /// Any other gRPC failure.
    #[error("ledger call failed: {0}")]
    Status(#[from] tonic::Status),
}

impl ClientError {
    /// The rejection code, if the ledger rejected a transaction.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether another attempt (on this endpoint later, or on another) may succeed: the
    /// endpoint could not be reached or did not answer. A rejection is final.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. } => true,
            ClientError::Rejected { .. } => false,
            ClientError::Status(s) => matches!(
                s.code(),
                tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Unknown
                    | tonic::Code::Cancelled
                    | tonic::Code::Aborted
            ),
        }
    }
}

/// Turns a failed `SubmitTx` into a [`ClientError`].
pub fn from_submit_status(s: tonic::Status) -> ClientError {
    match s.code() {
        tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => {
            let md = s.metadata();
            let code = md.get("wick-error").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let height = md.get("wick-height").and_then(|v| v.to_str().ok()?.parse().ok());
            ClientError::Rejected { code, message: s.message().to_string(), status: s.code(), height }
        }
        _ => ClientError::Status(s),
    }
}

/// A connected ledger client.
#[derive(Debug, Clone)]
pub struct Client {
    inner: LedgerClient<Channel>,
    chain_id: String,
}

/// Signing attempts when a replica's nonce was stale (see [`Client::send_with_fee`]).
const STALE_NONCE_TRIES: u64 = 4;

/// The endpoints of a list such as `http://a:7100,http://b:7100` (commas, blanks ignored).
pub fn endpoints(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect()
}

impl Client {
    /// Connects to the first endpoint of `list` (see [`endpoints`]) that answers, in order.
    pub async fn connect_any(list: &str) -> Result<Client, ClientError> {
        let mut last = ClientError::Connect { url: list.to_string(), reason: "no endpoint given".into() };
        for url in endpoints(list) {
            match Client::connect(&url).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects and reads the chain id.
    pub async fn connect(url: &str) -> Result<Client, ClientError> {
        let connect = |reason: String| ClientError::Connect { url: url.to_string(), reason };
        let endpoint = Channel::from_shared(url.to_string()).map_err(|e| connect(e.to_string()))?;
        let channel = endpoint.connect().await.map_err(|e| connect(format!("{e} ({e:?})")))?;
        let mut inner = LedgerClient::new(channel);
        let head =
            inner.head(HeadRequest {}).await.map_err(|e| connect(e.message().to_string()))?.into_inner();
        Ok(Client { inner, chain_id: head.chain_id })
    }

    /// The ledger's chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The generated gRPC client, for the other queries.
    pub fn raw(&mut self) -> &mut LedgerClient<Channel> {
        &mut self.inner
    }

    /// Height, root, epoch and supply.
    pub async fn head(&mut self) -> Result<HeadResponse, ClientError> {
        Ok(self.inner.head(HeadRequest {}).await?.into_inner())
    }

    /// An account's balance, nonce, rewards and unbonding entries.
    pub async fn account(&mut self, a: &Address) -> Result<AccountResponse, ClientError> {
        Ok(self.inner.account(AccountRequest { address: a.0.to_vec() }).await?.into_inner())
    }

    /// A worker's registration, stake and jailed flag.
    pub async fn worker(&mut self, a: &Address) -> Result<WorkerResponse, ClientError> {
        Ok(self.inner.worker(WorkerRequest { address: a.0.to_vec() }).await?.into_inner())
    }

    /// Every registered worker, by address.
    pub async fn workers(&mut self) -> Result<Vec<WorkerResponse>, ClientError> {
        Ok(self.inner.workers(WorkersRequest {}).await?.into_inner().workers)
    }

    /// Every registered validator, with its stake, jail and current voting power.
    pub async fn validators(&mut self) -> Result<Vec<wick_proto::v1::ValidatorInfo>, ClientError> {
        Ok(self.inner.validators(wick_proto::v1::ValidatorsRequest {}).await?.into_inner().validators)
    }

    /// How the supply is held (one pass over the ledger's accounts).
    pub async fn supply(&mut self) -> Result<SupplyResponse, ClientError> {
        Ok(self.inner.supply(SupplyRequest {}).await?.into_inner())
    }

    /// Committed blocks from `from_height` on, then each new block as it commits.
    pub async fn stream_blocks(&mut self, from_height: u64) -> Result<tonic::Streaming<Block>, ClientError> {
        Ok(self.inner.stream_blocks(StreamBlocksRequest { from_height }).await?.into_inner())
    }

    /// The current epoch and when it ends.
    pub async fn epoch(&mut self) -> Result<EpochResponse, ClientError> {
        Ok(self.inner.epoch(EpochRequest {}).await?.into_inner())
    }

    /// An address's own stake as a worker, its delegations and its unbonding entries.
    pub async fn stake(&mut self, a: &Address) -> Result<StakeResponse, ClientError> {
        Ok(self.inner.stake(StakeRequest { address: a.0.to_vec() }).await?.into_inner())
    }

    /// The governance parameters.
    pub async fn params(&mut self) -> Result<ParamsResponse, ClientError> {
        Ok(self.inner.params(ParamsRequest {}).await?.into_inner())
    }

    /// Every proposal, or only proposal `id`.
    pub async fn proposals(&mut self, id: Option<u64>) -> Result<ProposalsResponse, ClientError> {
        Ok(self.inner.proposals(ProposalsRequest { id }).await?.into_inner())
    }

    /// A router's stake, escrow and jail.
    pub async fn router(&mut self, a: &Address) -> Result<RouterResponse, ClientError> {
        Ok(self.inner.router(RouterRequest { address: a.0.to_vec() }).await?.into_inner())
    }

    /// Every registered router, and the current epoch.
    pub async fn routers(&mut self) -> Result<RoutersResponse, ClientError> {
        Ok(self.inner.routers(RoutersRequest {}).await?.into_inner())
    }

    /// Signs `body` with `key`, for this chain, with the account's next nonce as the ledger
    /// sees it now, paying `fee`, or (`None`) the fee the ledger's parameters require for it.
    pub async fn sign(
        &mut self,
        key: &SigningKey,
        fee: Option<Amount>,
        body: TxBody,
    ) -> Result<SignedTx, ClientError> {
        let signer = Address(key.verifying_key().to_bytes());
        let nonce = self.account(&signer).await?.nonce;
        let mut tx =
            Tx { chain_id: self.chain_id.clone(), signer, nonce, fee: fee.unwrap_or_default(), body };
        if fee.is_none() {
            tx.fee = self.required_fee(&tx).await?;
        }
        Ok(tx.sign(key))
    }

    /// The smallest fee the ledger accepts for `tx` now (`min_fee + fee_per_byte × size`; the
    /// size does not depend on the fee, a fixed-width field).
    pub async fn required_fee(&mut self, tx: &Tx) -> Result<Amount, ClientError> {
        let p = self.params().await?;
        let number = |s: &str| s.parse::<u128>().unwrap_or(u128::MAX);
        let per_byte = number(&p.fee_per_byte).saturating_mul(tx.wire_len() as u128);
        Ok(Amount(number(&p.min_fee).saturating_add(per_byte)))
    }

    /// Submits a signed transaction; resolves when its block is committed.
    pub async fn submit(&mut self, tx: &SignedTx) -> Result<Committed, ClientError> {
        let resp = self
            .inner
            .submit_tx(SubmitTxRequest { tx: wire::encode(tx) })
            .await
            .map_err(from_submit_status)?
            .into_inner();
        let hash = resp.tx_hash.as_slice().try_into().unwrap_or([0; 32]);
        Ok(Committed { height: resp.height, hash })
    }

    /// Signs (next nonce, the required fee) and submits.
    pub async fn send(&mut self, key: &SigningKey, body: TxBody) -> Result<Committed, ClientError> {
        self.send_with_fee(key, None, body).await
    }

    /// Signs (next nonce, `fee` or the required one) and submits. A replica that had not yet
    /// committed this key's last transaction gives a stale nonce, which the ledger refuses
    /// outright (nothing runs, nothing is stored): the nonce is read again and the
    /// transaction signed anew, a few times.
    pub async fn send_with_fee(
        &mut self,
        key: &SigningKey,
        fee: Option<Amount>,
        body: TxBody,
    ) -> Result<Committed, ClientError> {
        let mut attempt = 0;
        loop {
            let tx = self.sign(key, fee, body.clone()).await?;
            match self.submit(&tx).await {
                Err(ClientError::Rejected { ref code, height: None, .. })
                    if code == "bad_nonce" && attempt + 1 < STALE_NONCE_TRIES =>
                {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                done => return done,
            }
        }
    }
}
