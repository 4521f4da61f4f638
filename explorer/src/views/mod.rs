//! The JSON the pages are built from, one module per page. Each view is a plain function of the
//! index, the peer book and the ledger snapshot; the HTTP layer serves it as it is, and the web
//! UI renders nothing it does not find here. Ledger records (accounts, workers, parameters,
//! proposals, transactions) use `wick_ledger::json`, the serializer of the CLI's `--json`.

pub mod chain;
pub mod governance;
pub mod overview;
pub mod roles;
pub mod workers;

use serde::Serialize;
use wick_ledger::json::TxJson;
use wick_staking::Address;

use crate::index::{BlockEntry, Index, Slash, TxEntry, TxLoc};

/// A slash, as pages list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlashJson {
    /// The slashed (and jailed) worker.
    pub worker: String,
    /// Who proved it.
    pub reporter: String,
    /// `fraud_proof` or `audit_proof`.
    pub kind: &'static str,
    /// The epoch it happened in.
    pub epoch: u64,
    /// Block height.
    pub height: u64,
    /// The block's time.
    pub time_unix_ms: u64,
    /// The proof's transaction hash.
    pub tx: String,
}

impl SlashJson {
    /// The JSON of `s`.
    pub fn new(index: &Index, s: &Slash) -> Self {
        let tx = index.block(s.loc.height).and_then(|b| b.txs.get(s.loc.index as usize));
        Self {
            worker: s.worker.to_string(),
            reporter: s.reporter.to_string(),
            kind: s.kind,
            epoch: s.epoch,
            height: s.loc.height,
            time_unix_ms: s.time_unix_ms,
            tx: tx.map(|t| hex::encode(t.hash)).unwrap_or_default(),
        }
    }
}

/// A transaction where it sits in the chain, with the ledger's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxView {
    /// sha256 of the wire bytes.
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// The block's time.
    pub time_unix_ms: u64,
    /// Whether the ledger applied it.
    pub applied: bool,
    /// The rejection's code (empty when applied).
    pub code: String,
    /// The rejection's reason.
    pub message: String,
    /// The decoded transaction (absent when its bytes do not decode).
    pub tx: Option<TxJson>,
    /// Why the bytes do not decode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

impl TxView {
    /// The view of transaction `t` of block `b`.
    pub fn new(b: &BlockEntry, t: &TxEntry, loc: TxLoc) -> Self {
        Self {
            hash: hex::encode(t.hash),
            height: b.height,
            index: loc.index,
            time_unix_ms: b.time_unix_ms,
            applied: t.applied(),
            code: t.code.clone(),
            message: t.message.clone(),
            tx: t.tx.as_ref().ok().map(TxJson::from),
            decode_error: t.tx.as_ref().err().cloned(),
        }
    }
}

/// Parses a 64-hex-character address.
pub fn parse_address(s: &str) -> Option<Address> {
    wick_staking::genesis::parse_address(s)
}

/// Parses a 64-hex-character hash.
pub fn parse_hash(s: &str) -> Option<[u8; 32]> {
    hex::decode(s.trim()).ok()?.try_into().ok()
}
