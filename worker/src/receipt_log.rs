//! The worker's durable receipt log: every receipt it signed for a router's job (one with a
//! ticket), so that it can claim its work on the ledger at the end of each epoch, also after a
//! restart.
//!
//! Format: an append-only file of records `u32 length (little-endian) | SignedReceipt protobuf`.
//! A torn record at the end (a crash mid-write) is cut off when the log is opened.
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
        let (receipts, valid) = decode_all(&bytes);
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

/// Decodes records until the first torn or malformed one; returns them and the valid length.
fn decode_all(bytes: &[u8]) -> (Vec<SignedReceipt>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(len_bytes) = bytes.get(at..at + 4) {
        let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        let Some(body) = bytes.get(at + 4..at + 4 + len) else { break };
        let Ok(r) = SignedReceipt::decode(body) else { break };
        out.push(r);
        at += 4 + len;
    }
    (out, at)
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
}
