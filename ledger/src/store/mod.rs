//! Durable storage of the ledger (rocksdb).
//!
//! # What is stored
//! The ledger stores its *blocks*, not its state: each committed block (the transactions' wire
//! bytes in execution order, each transaction's result, whether the block ends the epoch, the
//! resulting state root, the time) is written with the new head (height, root) in **one synced
//! `WriteBatch`**. rocksdb applies a batch atomically
//! and `sync` makes the write-ahead log reach the disk before [`Store::commit`] returns, so a
//! crash leaves either the whole block or none of it, and never loses a block whose commit
//! returned. The genesis is stored too, so a directory can only be reopened with its own
//! chain.
//!
//! # Recovery
//! [`Store::open`] rebuilds the state by replaying the stored blocks from the genesis state:
//! transactions the block records as applied are applied again (their signatures were checked
//! when the block was made, so replay skips that cost), rejected ones are skipped (a rejected
//! transaction changes nothing), the epoch is ended where the block says, and the root must
//! equal the stored one at the head and every [`ROOT_CHECK_EVERY`] blocks, or opening fails.
//! Replay applies well over 100k transactions per second, so this is fast for a devnet's
//! lifetime; state snapshots can be added beside the blocks when histories grow long.
//! [`Store::replay_verified`] re-executes everything from scratch, signatures included, and
//! checks every block's results and root, to audit a directory.

use std::path::Path;

use prost::Message;
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};
use wick_proto::time::now_unix_ms;
use wick_proto::v1::Block;
use wick_staking::State;
use wick_staking::genesis::Genesis;

mod replay;

const GENESIS: &[u8] = b"meta/genesis";
const CREATED: &[u8] = b"meta/created_unix_ms";
const HEAD: &[u8] = b"meta/head";
pub(crate) const BLOCK: &[u8] = b"block/";
const PROPOSAL: &[u8] = b"proposal/";
const FORMAT: &[u8] = b"meta/state_format";

/// Version of the state rules that the stored roots were computed with. A directory written
/// with other rules would replay to other roots, so opening it fails with
/// [`StoreError::Format`] instead of reporting corruption. Directories from before this key
/// existed are format 1 (claims were kept forever); format 2 had no routers, escrow or fees;
/// format 3 is trust protocol v2 (routers with stake and escrow, per-pair settlement, fees,
/// bounded governance); format 4 adds validators, the validator set and the block clock (epoch
/// ends by block time), and blocks carry their proposer, certificate and evidence.
pub const STATE_FORMAT: u32 = 4;

/// Opening checks the replayed root against the stored one every this many blocks (and always
/// at the head); [`Store::replay_verified`] checks every block.
pub const ROOT_CHECK_EVERY: u64 = 256;

/// Storage failures. Any of them stops the node: it never runs ahead of its disk.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// rocksdb failed.
    #[error("ledger store: {0}")]
    Db(#[from] rocksdb::Error),
    /// The directory belongs to another chain.
    #[error("{dir} holds the ledger of another genesis (chain {stored:?}); use a fresh --dir")]
    OtherGenesis {
        /// Directory.
        dir: String,
        /// Stored chain id.
        stored: String,
    },
    /// The genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] wick_staking::genesis::GenesisError),
    /// The directory was written with other state rules (see [`STATE_FORMAT`]).
    #[error(
        "{dir} holds a chain written with ledger state format {found}; this wick uses format \
         {expected}, whose roots differ. Start the chain again in a fresh --dir, or keep serving \
         this one with the wick version that wrote it"
    )]
    Format {
        /// Directory.
        dir: String,
        /// Format found.
        found: u32,
        /// Format this build uses.
        expected: u32,
    },
    /// Stored data is damaged or does not replay to the stored roots.
    #[error("ledger store is corrupt at height {height}: {reason}")]
    Corrupt {
        /// Block height.
        height: u64,
        /// What did not match.
        reason: String,
    },
}

/// Key of a kept proposal: by height, then hash.
fn proposal_key(height: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut k = PROPOSAL.to_vec();
    k.extend_from_slice(&height.to_be_bytes());
    k.extend_from_slice(hash);
    k
}

pub(crate) fn block_key(height: u64) -> Vec<u8> {
    [BLOCK, &height.to_be_bytes()[..]].concat()
}

pub(crate) fn corrupt(height: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { height, reason: reason.into() }
}

/// What [`Store::open`] recovered.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The state after the last committed block.
    pub state: State,
    /// Time of the last block that ended an epoch (or the store's creation time).
    pub epoch_started_unix_ms: u64,
}

/// The ledger's rocksdb store.
pub struct Store {
    db: DB,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.db.path()).finish()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` for `genesis`, and recovers the last committed
    /// state by replaying the stored blocks.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<(Store, Recovered), StoreError> {
        let genesis_state = genesis.state()?;
        let mut options = Options::default();
        options.create_if_missing(true);
        let db = DB::open(&options, dir)?;
        let store = Store { db };
        let json = genesis.to_json();
        let created = match store.db.get(GENESIS)? {
            Some(stored) if stored == json.as_bytes() => store.created_ms()?,
            Some(stored) => {
                let stored = Genesis::from_json(&String::from_utf8_lossy(&stored))
                    .map_or_else(|_| "?".to_string(), |g| g.chain_id);
                return Err(StoreError::OtherGenesis { dir: dir.display().to_string(), stored });
            }
            None => {
                let now = now_unix_ms();
                let mut batch = WriteBatch::default();
                batch.put(GENESIS, json.as_bytes());
                batch.put(CREATED, now.to_be_bytes());
                batch.put(FORMAT, STATE_FORMAT.to_be_bytes());
                store.write_synced(batch)?;
                now
            }
        };
        let found = match store.format()? {
            Some(f) => f,
            None if store.head()?.0 == 0 => {
                // No block was committed under older rules: nothing to disagree with.
                store.db.put(FORMAT, STATE_FORMAT.to_be_bytes())?;
                STATE_FORMAT
            }
            None => 1,
        };
        if found != STATE_FORMAT {
            return Err(StoreError::Format { dir: dir.display().to_string(), found, expected: STATE_FORMAT });
        }
        let recovered = store.replay(genesis_state, created)?;
        Ok((store, recovered))
    }

    /// The stored state format; `None` for directories from before it was stored (format 1
    /// if they hold blocks).
    fn format(&self) -> Result<Option<u32>, StoreError> {
        let Some(v) = self.db.get(FORMAT)? else { return Ok(None) };
        let b: [u8; 4] = v.as_slice().try_into().map_err(|_| corrupt(0, "state format malformed"))?;
        Ok(Some(u32::from_be_bytes(b)))
    }

    fn created_ms(&self) -> Result<u64, StoreError> {
        let v = self.db.get(CREATED)?.ok_or_else(|| corrupt(0, "creation time missing"))?;
        let b: [u8; 8] = v.as_slice().try_into().map_err(|_| corrupt(0, "creation time malformed"))?;
        Ok(u64::from_be_bytes(b))
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Durably commits one block: the block and the new head, in one
    /// synced write batch (which also drops the proposals kept for its height and below).
    /// The block's height must be the next one.
    pub fn commit(&self, block: &Block) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.delete_range(proposal_key(0, &[0; 32]), proposal_key(block.height.saturating_add(1), &[0; 32]));
        batch.put(block_key(block.height), block.encode_to_vec());
        let mut head = block.height.to_be_bytes().to_vec();
        head.extend_from_slice(&block.state_root);
        batch.put(HEAD, head);
        self.write_synced(batch)
    }

    /// Keeps a consensus proposal for an uncommitted height durably (synced) before this node
    /// votes for it or sends it: after a crash the engine's log names values by hash only, so
    /// the bytes must survive too. [`Store::commit`] drops them.
    pub fn keep_proposal(&self, height: u64, hash: &[u8; 32], record: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put(proposal_key(height, hash), record);
        self.write_synced(batch)
    }

    /// The proposals kept for `height`.
    pub fn proposals_at(&self, height: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let prefix = proposal_key(height, &[0; 32]);
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(&prefix, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(&prefix[..PROPOSAL.len() + 8]) {
                break;
            }
            out.push(v.to_vec());
        }
        Ok(out)
    }

    /// The stored block at `height` (heights start at 1).
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        match self.db.get(block_key(height))? {
            Some(v) => Ok(Some(Block::decode(v.as_slice()).map_err(|e| corrupt(height, e.to_string()))?)),
            None => Ok(None),
        }
    }

    /// Up to `limit` stored blocks from `from` on, in height order.
    pub fn blocks_from(&self, from: u64, limit: usize) -> Result<Vec<Block>, StoreError> {
        let start = block_key(from);
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(BLOCK) || out.len() >= limit {
                break;
            }
            out.push(Block::decode(&*v).map_err(|e| corrupt(from, e.to_string()))?);
        }
        Ok(out)
    }

    /// The stored head: (height, state root); height 0 before the first block.
    pub fn head(&self) -> Result<(u64, Vec<u8>), StoreError> {
        match self.db.get(HEAD)? {
            Some(v) if v.len() == 40 => {
                Ok((u64::from_be_bytes(v[..8].try_into().unwrap_or_default()), v[8..].to_vec()))
            }
            Some(_) => Err(corrupt(0, "malformed head")),
            None => Ok((0, Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests;
