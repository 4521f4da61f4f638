//! The router's durable log (rocksdb): every countersigned receipt, for the ledger's work
//! attestation, and the evidence of failed audits, for fraud proofs.
//!
//! Writes go through rocksdb's write-ahead log, so a crashed process loses nothing it
//! acknowledged; the log is fsynced in the background every [`SYNC_INTERVAL`] rather than per
//! request.

use std::path::Path;
use std::time::Duration;

use prost::Message;
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options};
use wick_proto::v1::{AuditEvidence, SignedReceipt};

/// How often the write-ahead log is fsynced.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);

const RECEIPTS: &str = "receipts";
const EVIDENCE: &str = "evidence";

/// Errors of the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// rocksdb failed.
    #[error("receipt log: {0}")]
    Db(#[from] rocksdb::Error),
    /// A stored value did not decode.
    #[error("receipt log holds a malformed value: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// The receipt and evidence log.
pub struct RouterStore {
    db: DB,
}

impl RouterStore {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let cfs = [RECEIPTS, EVIDENCE].map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        Ok(Self { db: DB::open_cf_descriptors(&options, path, cfs)? })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        // Both families are created by `open`.
        self.db.cf_handle(name).unwrap_or_else(|| unreachable!("column family {name} exists"))
    }

    /// Appends a countersigned receipt, keyed by finish time then job hash.
    pub fn put_receipt(&self, signed: &SignedReceipt) -> Result<(), StoreError> {
        let r = signed.receipt.clone().unwrap_or_default();
        let mut key = r.finished_unix_ms.to_be_bytes().to_vec();
        key.extend_from_slice(&r.job_hash);
        key.extend_from_slice(&r.worker_public_key);
        self.db.put_cf(self.cf(RECEIPTS), key, signed.encode_to_vec())?;
        Ok(())
    }

    /// Receipts finished in `[from_ms, to_ms)`.
    pub fn receipts_between(&self, from_ms: u64, to_ms: u64) -> Result<Vec<SignedReceipt>, StoreError> {
        let start = from_ms.to_be_bytes();
        let iter =
            self.db.iterator_cf(self.cf(RECEIPTS), IteratorMode::From(&start, rocksdb::Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (key, value) = item?;
            let finished = u64::from_be_bytes(key[..8].try_into().unwrap_or([0xff; 8]));
            if finished >= to_ms {
                break;
            }
            out.push(SignedReceipt::decode(&*value)?);
        }
        Ok(out)
    }

    /// Keeps the evidence of a failed audit.
    pub fn put_evidence(&self, evidence: &AuditEvidence) -> Result<(), StoreError> {
        let job = evidence.ticket.as_ref().map(|t| t.job_id.clone()).unwrap_or_default();
        let mut key = evidence.detected_unix_ms.to_be_bytes().to_vec();
        key.extend_from_slice(&job);
        self.db.put_cf(self.cf(EVIDENCE), key, evidence.encode_to_vec())?;
        Ok(())
    }

    /// All kept evidence, oldest first.
    pub fn evidence(&self) -> Result<Vec<AuditEvidence>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(EVIDENCE), IteratorMode::Start) {
            let (_, value) = item?;
            out.push(AuditEvidence::decode(&*value)?);
        }
        Ok(out)
    }

    /// Fsyncs the write-ahead log.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.flush_wal(true)?;
        Ok(())
    }
}
