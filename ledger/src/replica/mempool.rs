//! The mempool of a replicated ledger node: transactions that passed the submission checks
//! (decoding, chain, signature), in arrival order, waiting for a proposer. Bounded in count and
//! bytes; each submitter waits on its own node until the transaction's block is decided here.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wick_staking::{SignedTx, State, TxError, wire};

use crate::node::{Committed, SubmitError};

/// Transactions kept at most.
pub const MAX_TXS: usize = 50_000;
/// Bytes of transactions kept at most.
pub const MAX_BYTES: usize = 64 << 20;
/// How long a transaction may wait for a block before its submitter is told it was not included.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// A submitter's answer.
pub type Reply = oneshot::Sender<Result<Committed, SubmitError>>;

struct Entry {
    tx: SignedTx,
    bytes: Vec<u8>,
    since: Instant,
    waiters: Vec<Reply>,
}

/// Pending transactions by hash, in arrival order.
#[derive(Default)]
pub struct Mempool {
    entries: HashMap<[u8; 32], Entry>,
    order: VecDeque<[u8; 32]>,
    bytes: usize,
    /// Transactions of a proposal whose signatures are being checked, not waiting here yet,
    /// and whether a relayed copy arrived meanwhile (see [`Mempool::park`]).
    checking: HashMap<[u8; 32], bool>,
}

/// What an insert did.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    /// New here (worth relaying).
    New,
    /// Already waiting (the submitter waits for the same block).
    Known,
}

impl Mempool {
    /// Adds a checked transaction; `reply` (if any) is answered when it is decided or dropped.
    pub fn insert(
        &mut self,
        tx: SignedTx,
        bytes: Vec<u8>,
        reply: Option<Reply>,
    ) -> Result<Inserted, SubmitError> {
        self.insert_hashed(wire::tx_hash(&bytes), tx, bytes, reply)
    }

    /// [`Mempool::insert`] for a caller that already has `hash`, which must be
    /// `wire::tx_hash(&bytes)`.
    pub(crate) fn insert_hashed(
        &mut self,
        hash: [u8; 32],
        tx: SignedTx,
        bytes: Vec<u8>,
        reply: Option<Reply>,
    ) -> Result<Inserted, SubmitError> {
        debug_assert_eq!(hash, wire::tx_hash(&bytes), "the hash of these bytes");
        let reply = match self.join(&hash, reply) {
            Ok(()) => return Ok(Inserted::Known),
            Err(reply) => reply,
        };
        if self.entries.len() >= MAX_TXS || self.bytes + bytes.len() > MAX_BYTES {
            let full = SubmitError::Unavailable(format!(
                "the mempool is full ({} transactions, {} bytes); try again shortly",
                self.entries.len(),
                self.bytes
            ));
            if let Some(r) = reply {
                let _ = r.send(Err(full.clone()));
            }
            return Err(full);
        }
        self.bytes += bytes.len();
        self.order.push_back(hash);
        self.entries
            .insert(hash, Entry { tx, bytes, since: Instant::now(), waiters: reply.into_iter().collect() });
        Ok(Inserted::New)
    }

    /// Adds a submitter to the transaction with this hash if it waits here (the same bytes, so
    /// its signature needs no second check); gives the reply back otherwise.
    pub(crate) fn join(&mut self, hash: &[u8; 32], reply: Option<Reply>) -> Result<(), Option<Reply>> {
        match self.entries.get_mut(hash) {
            Some(e) => {
                e.waiters.extend(reply);
                Ok(())
            }
            None => Err(reply),
        }
    }

    /// Of a proposal's transactions (by hash), the indices of those not waiting here (each hash
    /// once), marked as being checked until [`Mempool::end_check`].
    pub(crate) fn begin_check(&mut self, hashes: &[[u8; 32]]) -> Vec<usize> {
        let mut seen = HashSet::with_capacity(hashes.len());
        let unknown: Vec<usize> = (0..hashes.len())
            .filter(|&i| !self.entries.contains_key(&hashes[i]) && seen.insert(hashes[i]))
            .collect();
        for &i in &unknown {
            self.checking.entry(hashes[i]).or_insert(false);
        }
        unknown
    }

    /// Notes that a relayed copy of a transaction arrived while a proposal's check verifies
    /// it, so the check keeps it whatever it decides on the block; false if none does.
    pub(crate) fn park(&mut self, hash: &[u8; 32]) -> bool {
        match self.checking.get_mut(hash) {
            Some(relayed) => {
                *relayed = true;
                true
            }
            None => false,
        }
    }

    /// Ends [`Mempool::begin_check`]'s marks; returns the hashes that were parked meanwhile.
    pub(crate) fn end_check<'a>(
        &mut self,
        hashes: impl IntoIterator<Item = &'a [u8; 32]>,
    ) -> HashSet<[u8; 32]> {
        hashes.into_iter().filter(|h| self.checking.remove(*h) == Some(true)).copied().collect()
    }

    /// Whether the transaction with this hash waits here (its signature verified).
    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.entries.contains_key(hash)
    }

    /// Number of waiting transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Up to `n` waiting transactions, oldest first (the proposer's candidates).
    pub fn candidates(&self, n: usize) -> Vec<(SignedTx, Vec<u8>)> {
        self.order
            .iter()
            .filter_map(|h| self.entries.get(h))
            .take(n)
            .map(|e| (e.tx.clone(), e.bytes.clone()))
            .collect()
    }

    fn remove(&mut self, hash: &[u8; 32]) -> Option<Entry> {
        let e = self.entries.remove(hash)?;
        self.bytes -= e.bytes.len();
        Some(e)
    }

    /// A decided block's transactions leave the mempool; their submitters get their results.
    pub fn decided(&mut self, height: u64, txs: &[Vec<u8>], results: &[Result<(), TxError>]) {
        for (bytes, result) in txs.iter().zip(results) {
            let hash = wire::tx_hash(bytes);
            let Some(e) = self.remove(&hash) else { continue };
            for w in e.waiters {
                let reply = match result {
                    Ok(()) => Ok(Committed { height, hash }),
                    Err(error) => Err(SubmitError::Rejected { height, hash, error: error.clone() }),
                };
                let _ = w.send(reply);
            }
        }
        self.order.retain(|h| self.entries.contains_key(h));
    }

    /// After a commit: transactions the new state refuses (a nonce already used, a fee it
    /// cannot pay) are dropped and their submitters told why; a nonce still ahead waits, and
    /// anything waiting longer than [`MAX_WAIT`] is dropped as not included.
    pub fn recheck(&mut self, state: &State) {
        let mut trial = state.clone();
        let mut dropped = Vec::new();
        for hash in &self.order {
            let Some(e) = self.entries.get(hash) else { continue };
            match trial.apply_verified(&e.tx) {
                Err(TxError::BadNonce { expected, got }) if got > expected => {}
                Err(err) if err.is_refusal() => dropped.push((*hash, SubmitError::Refused(err))),
                _ => {}
            }
            if e.since.elapsed() > MAX_WAIT && !dropped.iter().any(|(h, _)| h == hash) {
                let why = format!("not included in a block within {} s", MAX_WAIT.as_secs());
                dropped.push((*hash, SubmitError::Unavailable(why)));
            }
        }
        for (hash, why) in dropped {
            if let Some(e) = self.remove(&hash) {
                for w in e.waiters {
                    let _ = w.send(Err(why.clone()));
                }
            }
        }
        self.order.retain(|h| self.entries.contains_key(h));
    }

    /// Answers every waiting submitter (the node is stopping).
    pub fn close(&mut self, why: &str) {
        for (_, e) in self.entries.drain() {
            for w in e.waiters {
                let _ = w.send(Err(SubmitError::Unavailable(why.to_string())));
            }
        }
        self.order.clear();
        self.bytes = 0;
    }
}
