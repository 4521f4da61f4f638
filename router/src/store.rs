//! The router's durable log (rocksdb): every countersigned receipt, for the ledger's work
//! attestation, and the evidence of failed audits, for fraud proofs.
//!
//! A record is in rocksdb's write-ahead log before the client sees its receipt, so a crash of
//! the process loses nothing the log acknowledged. [`LogWriter`] first writes from the calling
//! task, with rocksdb told never to wait (`no_slowdown`): appending a record to the log and the
//! memtable takes microseconds, far less than handing it to a thread and waking it (which cost
//! 7 % of the router bench's CPU, one wake-up each way per job). When rocksdb would have to
//! wait (its memtables or level-0 files are full and it slows writes down), the write goes over
//! a bounded channel to one writer thread instead, which batches what has queued up and may
//! block. So no task of the async runtime waits out a rocksdb stall. That thread fsyncs the log
//! at most [`SYNC_INTERVAL`] after a write from either path (a crash of the machine can lose
//! that much), and once more when the router stops.
//!
//! Reads ([`RouterStore::receipts_between`], [`RouterStore::evidence`]) go straight to rocksdb,
//! which is safe beside the writer thread; they block, so async callers run them with
//! `spawn_blocking`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prost::Message;
use rocksdb::{ColumnFamilyDescriptor, DB, ErrorKind, IteratorMode, Options, WriteBatch, WriteOptions};
use tokio::sync::{mpsc, oneshot};
use wick_proto::v1::{AuditEvidence, SignedReceipt};

/// Longest time a write waits in the write-ahead log before it is fsynced.
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_millis(200);

/// Writes waiting for the writer thread before callers wait for room.
const QUEUE: usize = 1024;
/// Most writes put in one batch.
const MAX_BATCH: usize = 256;

const RECEIPTS: &str = "receipts";
const EVIDENCE: &str = "evidence";

/// Errors of the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// rocksdb failed.
    #[error("receipt log")]
    Db(#[from] rocksdb::Error),
    /// A stored value did not decode.
    #[error("receipt log holds a malformed value")]
    Decode(#[from] prost::DecodeError),
    /// The writer thread could not start.
    #[error("starting the receipt log's writer thread")]
    Thread(#[source] Arc<std::io::Error>),
    /// The writer thread has stopped (the router is shutting down).
    #[error("the receipt log's writer has stopped")]
    Closed,
}

/// The receipt and evidence log, for reading; [`LogWriter`] writes it.
pub struct RouterStore {
    db: Arc<DB>,
}

/// The writing side of the log: a cloneable handle to its writer thread. The thread ends, after
/// a last fsync, when every handle is dropped; dropping the last one waits for that.
#[derive(Clone)]
pub(crate) struct LogWriter {
    // Declared before `_thread`: the last handle's sender is gone (the channel closed) and its
    // database handle dropped before its drop joins the thread, which closes rocksdb.
    tx: mpsc::Sender<Op>,
    direct: Arc<DirectWrites>,
    _thread: Arc<WriterThread>,
}

/// What writing from the caller's task needs: the database, options that refuse to wait, and
/// the flag that tells the writer thread there is something to fsync.
struct DirectWrites {
    db: Arc<DB>,
    never_wait: WriteOptions,
    unsynced: Arc<AtomicBool>,
    /// Off in tests of the thread's path.
    enabled: bool,
    /// Writes rocksdb would have made wait, which the thread took instead.
    #[cfg(test)]
    handed_over: std::sync::atomic::AtomicU64,
}

impl DirectWrites {
    /// Writes the record now, or gives it back when rocksdb would have to wait for it.
    fn try_put(&self, name: &str, key: &[u8], value: &[u8]) -> Option<Result<(), StoreError>> {
        if !self.enabled {
            return None;
        }
        match self.db.put_cf_opt(family(&self.db, name), key, value, &self.never_wait) {
            Ok(()) => {
                self.unsynced.store(true, Ordering::Release);
                Some(Ok(()))
            }
            Err(e) if e.kind() == ErrorKind::Incomplete => {
                #[cfg(test)]
                self.handed_over.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                tracing::error!(error = &e as &dyn std::error::Error, "could not write to the receipt log");
                Some(Err(e.into()))
            }
        }
    }
}

/// Joins the writer thread when the last [`LogWriter`] goes: the final fsync, and the close of
/// rocksdb if the thread held the last reference, finish before the router's shutdown returns.
/// (A process that exits while rocksdb closes on another thread can abort.)
struct WriterThread(Option<std::thread::JoinHandle<()>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take()
            && handle.join().is_err()
        {
            tracing::error!("the receipt log's writer thread panicked");
        }
    }
}

type Ack = oneshot::Sender<Result<(), StoreError>>;

enum Op {
    Put {
        family: &'static str,
        key: Vec<u8>,
        value: Vec<u8>,
        ack: Ack,
    },
    /// Fsync what was written; `ack` (if any) is told when it is done.
    Sync(Option<Ack>),
}

fn family<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    // Both families are created by `open`.
    db.cf_handle(name).unwrap_or_else(|| unreachable!("column family {name} exists"))
}

impl RouterStore {
    /// Opens (or creates) the log at `path` and starts its writer thread.
    pub(crate) fn open(path: &Path) -> Result<(Self, LogWriter), StoreError> {
        Self::open_with(path, Options::default(), true)
    }

    /// [`open`](Self::open) with the column families' `options`, and with the writes from the
    /// caller's task on or off.
    fn open_with(
        path: &Path,
        family_options: Options,
        direct: bool,
    ) -> Result<(Self, LogWriter), StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let cfs = [RECEIPTS, EVIDENCE].map(|n| ColumnFamilyDescriptor::new(n, family_options.clone()));
        let db = Arc::new(DB::open_cf_descriptors(&options, path, cfs)?);
        let (tx, rx) = mpsc::channel(QUEUE);
        let unsynced = Arc::new(AtomicBool::new(false));
        let (writer_db, flag) = (db.clone(), unsynced.clone());
        let thread = std::thread::Builder::new()
            .name("router-log".into())
            .spawn(move || write_loop(&writer_db, rx, &flag))
            .map_err(|e| StoreError::Thread(Arc::new(e)))?;
        let mut never_wait = WriteOptions::default();
        never_wait.set_no_slowdown(true);
        let direct = DirectWrites {
            db: db.clone(),
            never_wait,
            unsynced,
            enabled: direct,
            #[cfg(test)]
            handed_over: Default::default(),
        };
        let writer =
            LogWriter { tx, direct: Arc::new(direct), _thread: Arc::new(WriterThread(Some(thread))) };
        Ok((Self { db }, writer))
    }

    /// Receipts finished in `[from_ms, to_ms)`. Blocks on disk reads.
    pub fn receipts_between(&self, from_ms: u64, to_ms: u64) -> Result<Vec<SignedReceipt>, StoreError> {
        let start = from_ms.to_be_bytes();
        let mode = IteratorMode::From(&start, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.iterator_cf(family(&self.db, RECEIPTS), mode) {
            let (key, value) = item?;
            let finished = u64::from_be_bytes(key[..8].try_into().unwrap_or([0xff; 8]));
            if finished >= to_ms {
                break;
            }
            // One corrupt value loses only itself, never the receipts after it.
            match SignedReceipt::decode(&*value) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(key = %hex::encode(&key), error = %e, "skipping a corrupt receipt"),
            }
        }
        Ok(out)
    }

    /// All kept evidence, oldest first. Blocks on disk reads.
    pub fn evidence(&self) -> Result<Vec<AuditEvidence>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(family(&self.db, EVIDENCE), IteratorMode::Start) {
            let (key, value) = item?;
            match AuditEvidence::decode(&*value) {
                Ok(e) => out.push(e),
                Err(e) => tracing::warn!(key = %hex::encode(&key), error = %e, "skipping corrupt evidence"),
            }
        }
        Ok(out)
    }
}

impl LogWriter {
    /// Logs a countersigned receipt, keyed by finish time, job hash and worker; returns once it
    /// is in the write-ahead log.
    pub(crate) async fn put_receipt(&self, signed: &SignedReceipt) -> Result<(), StoreError> {
        let r = signed.receipt.as_ref();
        let mut key = r.map_or(0, |r| r.finished_unix_ms).to_be_bytes().to_vec();
        key.extend_from_slice(r.map_or(&[][..], |r| &r.job_hash));
        key.extend_from_slice(r.map_or(&[][..], |r| &r.worker_public_key));
        self.put(RECEIPTS, key, signed.encode_to_vec()).await
    }

    /// [`put_receipt`](Self::put_receipt) for callers that go on either way: a failure is
    /// logged, and the client still gets its receipt.
    pub(crate) async fn keep_receipt(&self, signed: &SignedReceipt) {
        if let Err(e) = self.put_receipt(signed).await {
            tracing::error!(error = &e as &dyn std::error::Error, "could not log a receipt");
        }
    }

    /// Keeps the evidence of a failed audit, keyed by detection time and job id; returns once
    /// it is in the write-ahead log.
    pub(crate) async fn put_evidence(&self, evidence: &AuditEvidence) -> Result<(), StoreError> {
        let mut key = evidence.detected_unix_ms.to_be_bytes().to_vec();
        key.extend_from_slice(evidence.ticket.as_ref().map_or(&[][..], |t| &t.job_id));
        self.put(EVIDENCE, key, evidence.encode_to_vec()).await
    }

    async fn put(&self, family: &'static str, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        if let Some(written) = self.direct.try_put(family, &key, &value) {
            return written;
        }
        let (ack, done) = oneshot::channel();
        self.tx.send(Op::Put { family, key, value, ack }).await.map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)?
    }

    /// Fsyncs everything written so far; returns when it is on disk.
    pub(crate) async fn sync(&self) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Op::Sync(Some(ack))).await.map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)?
    }

    /// Asks for an fsync without waiting; skipped when the queue is full (the thread is busy
    /// and fsyncs on its own once [`SYNC_INTERVAL`] has passed).
    pub(crate) fn request_sync(&self) {
        let _ = self.tx.try_send(Op::Sync(None));
    }
}

/// The writer thread: batches what has queued up, writes it, acknowledges it, and fsyncs when
/// asked or when the oldest unsynced write is [`SYNC_INTERVAL`] old. `direct` is set by writes
/// made from the callers' tasks: the periodic sync request covers them.
fn write_loop(db: &DB, mut rx: mpsc::Receiver<Op>, direct: &AtomicBool) {
    let mut unsynced: Option<Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = WriteBatch::default();
        let mut acks = Vec::new();
        let mut sync_acks = Vec::new();
        let mut sync_asked = false;
        let mut next = Some(first);
        while let Some(write) = next {
            match write {
                Op::Put { family: name, key, value, ack } => {
                    batch.put_cf(family(db, name), key, value);
                    acks.push(ack);
                }
                Op::Sync(ack) => {
                    sync_asked = true;
                    sync_acks.extend(ack);
                }
            }
            next = if acks.len() + sync_acks.len() < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        if !batch.is_empty() {
            let written = db.write(batch).map_err(StoreError::from);
            if let Err(e) = &written {
                tracing::error!(error = e as &dyn std::error::Error, "could not write to the receipt log");
            } else {
                unsynced.get_or_insert_with(Instant::now);
            }
            acks.into_iter().for_each(|ack| drop(ack.send(written.clone())));
        }
        if sync_asked || unsynced.is_some_and(|t| t.elapsed() >= SYNC_INTERVAL) {
            let synced = sync(db, &mut unsynced, direct);
            sync_acks.into_iter().for_each(|ack| drop(ack.send(synced.clone())));
        }
    }
    // Every handle is gone: the router is stopping.
    let _ = sync(db, &mut unsynced, direct);
}

/// Fsyncs the log when anything is unsynced: a write of the thread's (`unsynced`) or one made
/// from a caller's task since the last sync (`direct`).
fn sync(db: &DB, unsynced: &mut Option<Instant>, direct: &AtomicBool) -> Result<(), StoreError> {
    if direct.swap(false, Ordering::Acquire) {
        unsynced.get_or_insert_with(Instant::now);
    }
    if unsynced.is_none() {
        return Ok(());
    }
    let synced = db.flush_wal(true).map_err(StoreError::from);
    match &synced {
        Ok(()) => *unsynced = None,
        Err(e) => tracing::error!(error = e as &dyn std::error::Error, "receipt log sync failed"),
    }
    synced
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_proto::v1::{JobTicket, Receipt};

    fn receipt(finished_unix_ms: u64, job: u8) -> SignedReceipt {
        SignedReceipt {
            receipt: Some(Receipt { finished_unix_ms, job_hash: vec![job; 32], ..Default::default() }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn written_records_are_read_back_after_a_reopen() {
        for direct in [true, false] {
            records_survive_a_reopen(direct).await;
        }
    }

    async fn records_survive_a_reopen(direct: bool) {
        let dir = tempfile::tempdir().expect("dir");
        let (store, writer) = RouterStore::open_with(dir.path(), Options::default(), direct).expect("open");
        for (t, job) in [(10, 1), (20, 2), (30, 3)] {
            writer.put_receipt(&receipt(t, job)).await.expect("put");
        }
        let evidence = AuditEvidence {
            ticket: Some(JobTicket { job_id: vec![9; 16], ..Default::default() }),
            detected_unix_ms: 5,
            ..Default::default()
        };
        writer.put_evidence(&evidence).await.expect("evidence");
        assert_eq!(store.receipts_between(15, 30).expect("read"), vec![receipt(20, 2)]);
        writer.sync().await.expect("sync");
        drop((store, writer));

        // Dropping the last writer joined its thread: the database is closed, its lock free.
        let (reopened, _writer) = RouterStore::open(dir.path()).expect("reopen at once");
        assert_eq!(reopened.receipts_between(0, 100).expect("read").len(), 3);
        assert_eq!(reopened.evidence().expect("evidence"), vec![evidence]);
    }

    #[tokio::test]
    async fn a_corrupt_value_in_the_middle_keeps_the_receipts_after_it() {
        let dir = tempfile::tempdir().expect("dir");
        let (store, writer) = RouterStore::open(dir.path()).expect("open");
        for (t, job) in [(10, 1), (20, 2), (30, 3)] {
            writer.put_receipt(&receipt(t, job)).await.expect("put");
        }
        let mut key = 20u64.to_be_bytes().to_vec();
        key.extend_from_slice(&[2; 32]);
        writer.put(RECEIPTS, key, vec![0xff; 7]).await.expect("overwrite with garbage");
        let kept = store.receipts_between(0, 100).expect("read");
        assert_eq!(kept, vec![receipt(10, 1), receipt(30, 3)]);
    }

    fn writer_handed_over(writer: &LogWriter) -> u64 {
        writer.direct.handed_over.load(Ordering::Relaxed)
    }

    /// A write rocksdb would make wait (here: writes are stopped by a level-0 file limit) is not
    /// made on the caller's task: the writer thread takes it, waits as rocksdb asks, and the
    /// record lands once writes resume.
    #[tokio::test]
    async fn a_write_rocksdb_would_hold_goes_to_the_writer_thread_and_lands() {
        let dir = tempfile::tempdir().expect("dir");
        let mut no_compaction = Options::default();
        no_compaction.set_level_zero_file_num_compaction_trigger(50);
        let (store, writer) = RouterStore::open_with(dir.path(), no_compaction, true).expect("open");
        writer.put_receipt(&receipt(10, 1)).await.expect("put");
        assert_eq!(writer_handed_over(&writer), 0, "nothing holds the first write");
        let receipts = family(&store.db, RECEIPTS);
        store.db.flush_cf(receipts).expect("flush to a level-0 file");
        // Set after opening, where rocksdb does not raise them to the compaction trigger.
        fn stop_at(n: &str) -> [(&str, &str); 2] {
            [("level0_slowdown_writes_trigger", n), ("level0_stop_writes_trigger", n)]
        }
        store.db.set_options_cf(receipts, &stop_at("1")).expect("stop writes");
        let held = tokio::spawn({
            let writer = writer.clone();
            async move { writer.put_receipt(&receipt(20, 2)).await }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while writer_handed_over(&writer) == 0 {
            assert!(Instant::now() < deadline, "the held write was never handed over");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!held.is_finished(), "the thread waits while rocksdb holds writes");
        store.db.set_options_cf(receipts, &stop_at("100")).expect("resume writes");
        tokio::time::timeout(Duration::from_secs(10), held)
            .await
            .expect("lands")
            .expect("task")
            .expect("put");
        assert_eq!(writer_handed_over(&writer), 1);
        assert_eq!(store.receipts_between(0, 100).expect("read"), vec![receipt(10, 1), receipt(20, 2)]);
    }

    /// Writes made from the callers' tasks are fsynced by the thread's next sync.
    #[tokio::test]
    async fn a_sync_covers_the_writes_made_outside_the_thread() {
        let dir = tempfile::tempdir().expect("dir");
        let (_store, writer) = RouterStore::open(dir.path()).expect("open");
        writer.put_receipt(&receipt(10, 1)).await.expect("put");
        assert!(writer.direct.unsynced.load(Ordering::Acquire), "the direct write is marked unsynced");
        writer.sync().await.expect("sync");
        assert!(!writer.direct.unsynced.load(Ordering::Acquire), "the sync took the mark");
    }
}
