//! The worker's durable receipt log: every receipt it signed for a router's job (one with a
//! ticket), so that it can claim its work on the ledger at the end of each epoch, also after a
//! restart.
//!
//! Format: an append-only file of records `u32 length (little-endian) | SignedReceipt protobuf`.
//! A torn record at the end (a crash mid-write) is cut off when the log is opened. A corrupt
//! record in the middle (a bad length or body) is skipped: reading resumes at the next offset
//! where a record decodes and its worker signature verifies, so the valid records after it are
//! kept.
//!
//! File I/O never runs on the async runtime: one writer thread owns the file. [`ReceiptLog::append`]
//! hands it the record over a bounded channel and returns once the record is written and
//! flushed to the OS, as before the thread; the thread fsyncs at most [`SYNC_INTERVAL`] after a
//! write (when asked by [`ReceiptLog::request_sync`], which the node does on that interval) and
//! once more when the last handle is dropped. The in-memory index that [`ReceiptLog::between`]
//! reads is updated at once.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prost::Message;
use tokio::sync::{mpsc, oneshot};
use wick_proto::v1::SignedReceipt;

/// Longest time an appended receipt waits before it is fsynced.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);

/// Receipts older than this are dropped from memory (they stay in the file).
const KEEP_IN_MEMORY_MS: u64 = 7 * 24 * 3600 * 1000;

/// Largest record a log holds (a signed receipt is a few hundred bytes).
const MAX_RECORD_BYTES: usize = 64 << 10;

/// Records waiting for the writer thread before callers wait for room.
const QUEUE: usize = 256;

/// An append-only receipt log with an in-memory copy ordered by finish time.
pub struct ReceiptLog {
    path: PathBuf,
    /// (finished_unix_ms, receipt), in append order (finish times are nearly ordered).
    receipts: Mutex<Vec<(u64, SignedReceipt)>>,
    writer: mpsc::Sender<Op>,
}

type Ack = oneshot::Sender<std::io::Result<()>>;

enum Op {
    Append(Vec<u8>, Ack),
    /// Fsync what was appended; `ack` (if any) is told when it is done.
    Sync(Option<Ack>),
}

fn finished(r: &SignedReceipt) -> u64 {
    r.receipt.as_ref().map_or(0, |r| r.finished_unix_ms)
}

fn writer_gone() -> std::io::Error {
    std::io::Error::other("the receipt log's writer thread has stopped")
}

impl ReceiptLog {
    /// Opens (or creates) the log at `path`, reading back what it holds, and starts its writer
    /// thread.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(path)?.read_to_end(&mut bytes)?;
        }
        let Decoded { receipts, valid, skipped } = decode_all(&bytes);
        if skipped > 0 {
            tracing::warn!(path = %path.display(), skipped, "receipt log holds corrupt bytes; the records around them were kept");
        }
        let mut file =
            OpenOptions::new().create(true).append(false).write(true).truncate(false).open(path)?;
        if valid < bytes.len() {
            tracing::warn!(path = %path.display(), cut = bytes.len() - valid, "receipt log ended in a torn record; cut");
            file.set_len(valid as u64)?;
        }
        file.seek(SeekFrom::End(0))?;
        let (writer, rx) = mpsc::channel(QUEUE);
        let file = BufWriter::new(file);
        std::thread::Builder::new().name("receipt-log".into()).spawn(move || write_loop(file, rx))?;
        let receipts = receipts.into_iter().map(|r| (finished(&r), r)).collect();
        Ok(Self { path: path.to_path_buf(), receipts: Mutex::new(receipts), writer })
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Vec<(u64, SignedReceipt)>> {
        self.receipts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a receipt; returns once it is written and flushed to the OS.
    pub async fn append(&self, receipt: &SignedReceipt) -> std::io::Result<()> {
        let (ack, done) = oneshot::channel();
        self.writer.send(Op::Append(receipt.encode_to_vec(), ack)).await.map_err(|_| writer_gone())?;
        done.await.map_err(|_| writer_gone())??;
        let at = finished(receipt);
        let mut index = self.index();
        index.push((at, receipt.clone()));
        let oldest = at.saturating_sub(KEEP_IN_MEMORY_MS);
        if index.first().is_some_and(|(t, _)| *t < oldest) {
            index.retain(|(t, _)| *t >= oldest);
        }
        Ok(())
    }

    /// Receipts that finished in `[from_ms, to_ms)`.
    pub fn between(&self, from_ms: u64, to_ms: u64) -> Vec<SignedReceipt> {
        self.index().iter().filter(|(t, _)| (from_ms..to_ms).contains(t)).map(|(_, r)| r.clone()).collect()
    }

    /// Fsyncs what was appended; returns when it is on disk.
    pub async fn sync(&self) -> std::io::Result<()> {
        let (ack, done) = oneshot::channel();
        self.writer.send(Op::Sync(Some(ack))).await.map_err(|_| writer_gone())?;
        done.await.map_err(|_| writer_gone())?
    }

    /// Asks for an fsync without waiting; skipped when the queue is full (the thread is busy
    /// and fsyncs on its own once [`SYNC_INTERVAL`] has passed).
    pub fn request_sync(&self) {
        let _ = self.writer.try_send(Op::Sync(None));
    }
}

/// The writer thread: appends and flushes each record, acknowledges it, and fsyncs when asked
/// or when the oldest unsynced record is [`SYNC_INTERVAL`] old.
fn write_loop(mut file: BufWriter<File>, mut rx: mpsc::Receiver<Op>) {
    let mut unsynced: Option<Instant> = None;
    while let Some(write) = rx.blocking_recv() {
        match write {
            Op::Append(bytes, ack) => {
                let written = append(&mut file, &bytes);
                if written.is_ok() {
                    unsynced.get_or_insert_with(Instant::now);
                }
                let _ = ack.send(written);
                if unsynced.is_some_and(|t| t.elapsed() >= SYNC_INTERVAL) {
                    let _ = sync(&mut file, &mut unsynced);
                }
            }
            Op::Sync(ack) => {
                let synced = sync(&mut file, &mut unsynced);
                if let Some(ack) = ack {
                    let _ = ack.send(synced);
                }
            }
        }
    }
    // Every handle is gone: the worker is stopping.
    let _ = sync(&mut file, &mut unsynced);
}

fn append(file: &mut BufWriter<File>, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(&(bytes.len() as u32).to_le_bytes())?;
    file.write_all(bytes)?;
    file.flush()
}

fn sync(file: &mut BufWriter<File>, unsynced: &mut Option<Instant>) -> std::io::Result<()> {
    if unsynced.is_none() {
        return Ok(());
    }
    let synced = file.flush().and_then(|()| file.get_ref().sync_data());
    match &synced {
        Ok(()) => *unsynced = None,
        Err(e) => tracing::error!(error = e as &dyn std::error::Error, "receipt log sync failed"),
    }
    synced
}

/// What a log file holds.
struct Decoded {
    receipts: Vec<SignedReceipt>,
    /// Where the last good record ends: what follows is a torn tail.
    valid: usize,
    /// Corrupt bytes skipped between good records.
    skipped: usize,
}

/// The record at `at` and where it ends, if one decodes there.
fn record_at(bytes: &[u8], at: usize) -> Option<(SignedReceipt, usize)> {
    let len_bytes = bytes.get(at..at.checked_add(4)?)?;
    let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
    if len > MAX_RECORD_BYTES {
        return None;
    }
    let end = at.checked_add(4)?.checked_add(len)?;
    let body = bytes.get(at + 4..end)?;
    SignedReceipt::decode(body).ok().map(|r| (r, end))
}

/// Decodes every record it can. Past a record that does not decode, reading resumes at the
/// next offset where one decodes and its signature verifies (a random match is that unlikely);
/// when there is none, the rest is a torn tail.
fn decode_all(bytes: &[u8]) -> Decoded {
    let mut out = Decoded { receipts: Vec::new(), valid: 0, skipped: 0 };
    let mut at = 0;
    while at < bytes.len() {
        if let Some((r, end)) = record_at(bytes, at) {
            out.receipts.push(r);
            out.valid = end;
            at = end;
            continue;
        }
        let resumed = (at + 1..bytes.len()).find(|&p| {
            record_at(bytes, p).is_some_and(|(r, _)| wick_proto::signing::verify_receipt(&r).is_ok())
        });
        match resumed {
            Some(p) => {
                out.skipped += p - at;
                at = p;
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_proto::v1::Receipt;

    fn receipt(finished_unix_ms: u64) -> SignedReceipt {
        SignedReceipt {
            receipt: Some(Receipt { finished_unix_ms, tokens_out: 3, ..Default::default() }),
            worker_signature: vec![1; 64],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn survives_a_restart_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("w.receipts");
        let log = ReceiptLog::open(&path).expect("open");
        for t in [10, 20, 30] {
            log.append(&receipt(t)).await.expect("append");
        }
        log.sync().await.expect("sync");
        drop(log);
        // A crash in the middle of the next record.
        let mut f = OpenOptions::new().append(true).open(&path).expect("reopen");
        f.write_all(&[200, 0, 0, 0, 1, 2]).expect("torn write");
        drop(f);
        let log = ReceiptLog::open(&path).expect("open again");
        assert_eq!(log.between(0, 100).len(), 3);
        assert_eq!(log.between(15, 30).len(), 1);
        log.append(&receipt(40)).await.expect("append after the cut");
        drop(log);
        let log = ReceiptLog::open(&path).expect("open a third time");
        assert_eq!(log.between(0, 100).len(), 4, "the torn bytes were cut before appending");
    }

    fn signed(finished_unix_ms: u64) -> SignedReceipt {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        wick_proto::signing::sign_receipt(
            &key,
            Receipt { finished_unix_ms, tokens_out: 2, ..Default::default() },
        )
    }

    #[tokio::test]
    async fn a_corrupt_record_in_the_middle_keeps_the_ones_after_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("w.receipts");
        let log = ReceiptLog::open(&path).expect("open");
        for t in [10, 20, 30, 40] {
            log.append(&signed(t)).await.expect("append");
        }
        log.sync().await.expect("sync");
        drop(log);
        let mut bytes = std::fs::read(&path).expect("read");
        let record = signed(10).encode_to_vec().len() + 4;
        // The second record's length prefix becomes absurd, the third's body garbage.
        bytes[record..record + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        for b in &mut bytes[2 * record + 4..2 * record + 20] {
            *b = 0xff;
        }
        std::fs::write(&path, &bytes).expect("corrupt");
        let log = ReceiptLog::open(&path).expect("open the corrupt log");
        let kept: Vec<u64> = log.between(0, 100).iter().map(finished).collect();
        assert_eq!(kept, vec![10, 40], "the valid records on both sides of the damage are kept");
        log.append(&signed(50)).await.expect("append after the damage");
        log.sync().await.expect("sync");
        drop(log);
        let log = ReceiptLog::open(&path).expect("open again");
        assert_eq!(log.between(0, 100).len(), 3);
    }
}
