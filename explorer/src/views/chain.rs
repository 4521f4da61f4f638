//! Blocks, transactions and accounts: the latest blocks, one block with its transactions decoded
//! and its epoch settlement, one transaction, and an account's page.

use serde::Serialize;
use wick_ledger::json::AccountJson;
use wick_staking::Address;

use super::TxView;
use crate::index::{BlockEntry, Index, TxLoc};

/// Blocks the list shows at most.
pub const MAX_BLOCKS: usize = 200;
/// Transactions an account page lists.
const ACCOUNT_TXS: usize = 100;
/// Epochs of rewards an account page lists.
const ACCOUNT_PAYOUTS: usize = 50;

/// A block in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockSummary {
    /// Height.
    pub height: u64,
    /// When it was cut.
    pub time_unix_ms: u64,
    /// The epoch after it.
    pub epoch: u64,
    /// Whether it ended an epoch.
    pub epoch_end: bool,
    /// Transactions.
    pub txs: usize,
    /// Transactions the ledger rejected.
    pub rejected: usize,
    /// State root after it, hex.
    pub state_root: String,
}

impl From<&BlockEntry> for BlockSummary {
    fn from(b: &BlockEntry) -> Self {
        Self {
            height: b.height,
            time_unix_ms: b.time_unix_ms,
            epoch: b.epoch,
            epoch_end: b.epoch_end,
            txs: b.txs.len(),
            rejected: b.txs.iter().filter(|t| !t.applied()).count(),
            state_root: hex::encode(&b.state_root),
        }
    }
}

/// The latest blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlocksPage {
    /// The newest indexed height.
    pub head: u64,
    /// Blocks, newest first.
    pub blocks: Vec<BlockSummary>,
}

/// Up to `limit` blocks below `before` (or from the head).
pub fn blocks(index: &Index, before: Option<u64>, limit: usize) -> BlocksPage {
    BlocksPage {
        head: index.head().map_or(0, |b| b.height),
        blocks: index.blocks_before(before, limit.min(MAX_BLOCKS)).map(BlockSummary::from).collect(),
    }
}

/// An account's reward at an epoch end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayoutJson {
    /// The epoch that ended.
    pub epoch: u64,
    /// Rewards it accrued.
    pub amount: String,
}

/// What an epoch end credited and paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementJson {
    /// The epoch that ended.
    pub epoch: u64,
    /// Workers credited: their credited tokens and the rewards paid to their accounts.
    pub credits: Vec<super::overview::CreditJson>,
    /// Rewards accrued per account.
    pub payouts: Vec<PaidJson>,
}

/// Rewards one account accrued at an epoch end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaidJson {
    /// The account.
    pub account: String,
    /// Rewards accrued.
    pub amount: String,
}

/// One block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockPage {
    /// The block.
    pub block: BlockSummary,
    /// Its transactions, decoded.
    pub txs: Vec<TxView>,
    /// Its epoch end's settlement.
    pub settlement: Option<SettlementJson>,
}

/// Block `height`.
pub fn block(index: &Index, height: u64) -> Option<BlockPage> {
    let b = index.block(height)?;
    let txs =
        b.txs.iter().enumerate().map(|(i, t)| TxView::new(b, t, TxLoc { height, index: i as u32 })).collect();
    let settlement = b.settlement.as_ref().map(|s| SettlementJson {
        epoch: s.epoch,
        credits: super::overview::CreditJson::of_epoch(index, s.epoch),
        payouts: s
            .payouts
            .iter()
            .map(|p| PaidJson { account: hex::encode(&p.account), amount: p.amount.clone() })
            .collect(),
    });
    Some(BlockPage { block: BlockSummary::from(b), txs, settlement })
}

/// One transaction.
pub fn tx(index: &Index, hash: &[u8; 32]) -> Option<TxView> {
    index.tx(hash).map(|(b, t, loc)| TxView::new(b, t, loc))
}

/// An account's page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountPage {
    /// Address.
    pub address: String,
    /// The ledger's record of it, read now; absent when the ledger did not answer.
    pub account: Option<AccountJson>,
    /// Why the ledger did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_error: Option<String>,
    /// Whether it is a registered worker (its worker page has more).
    pub is_worker: bool,
    /// Rewards it accrued at recent epoch ends, newest first.
    pub rewards: Vec<PayoutJson>,
    /// Transactions that name it.
    pub tx_count: usize,
    /// The newest of them.
    pub transactions: Vec<TxView>,
}

/// The chain's part of an account's page (the ledger's part is filled in by the caller).
pub fn account(index: &Index, a: &Address) -> AccountPage {
    AccountPage {
        address: a.to_string(),
        account: None,
        ledger_error: None,
        is_worker: false,
        rewards: index
            .payouts(a, ACCOUNT_PAYOUTS)
            .into_iter()
            .map(|(epoch, v)| PayoutJson { epoch, amount: v.to_string() })
            .collect(),
        tx_count: index.account_tx_count(a),
        transactions: index
            .account_txs(a, ACCOUNT_TXS)
            .into_iter()
            .map(|(b, t, l)| TxView::new(b, t, l))
            .collect(),
    }
}
