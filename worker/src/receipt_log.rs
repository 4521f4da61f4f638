//! The worker's durable receipt log: every receipt it signed for a router's job (one with a
//! ticket), so that it can claim its work on the ledger at the end of each epoch, also after a
//! restart.
//!
//! Format: an append-only file of records `u32 length (little-endian) | SignedReceipt protobuf`.
//! A torn record at the end (a crash mid-write) is cut off when the log is opened. Appends are
//! flushed to the OS at once and fsynced in the background every [`SYNC_INTERVAL`].

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use prost::Message;
use wick_proto::v1::SignedReceipt;

/// How often appended receipts are fsynced.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);

/// Receipts older than this are dropped from memory (they stay in the file).
const KEEP_IN_MEMORY_MS: u64 = 7 * 24 * 3600 * 1000;

/// An append-only receipt log with an in-memory copy ordered by finish time.
pub struct ReceiptLog {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    file: BufWriter<File>,
    /// (finished_unix_ms, receipt), in append order (finish times are nearly ordered).
    receipts: Vec<(u64, SignedReceipt)>,
}

fn finished(r: &SignedReceipt) -> u64 {
    r.receipt.as_ref().map_or(0, |r| r.finished_unix_ms)
}

impl ReceiptLog {
    /// Opens (or creates) the log at `path`, reading back what it holds.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(path)?.read_to_end(&mut bytes)?;
        }
        let (receipts, valid) = decode_all(&bytes);
        let file = OpenOptions::new().create(true).append(false).write(true).truncate(false).open(path)?;
        if valid < bytes.len() {
            tracing::warn!(path = %path.display(), cut = bytes.len() - valid, "receipt log ended in a torn record; cut");
            file.set_len(valid as u64)?;
        }
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
        let receipts = receipts.into_iter().map(|r| (finished(&r), r)).collect();
        Ok(Self {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner { file: BufWriter::new(file), receipts }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a receipt (flushed to the OS before returning).
    pub fn append(&self, receipt: &SignedReceipt) -> std::io::Result<()> {
        let bytes = receipt.encode_to_vec();
        let mut inner = self.lock();
        inner.file.write_all(&(bytes.len() as u32).to_le_bytes())?;
        inner.file.write_all(&bytes)?;
        inner.file.flush()?;
        let at = finished(receipt);
        inner.receipts.push((at, receipt.clone()));
        let oldest = at.saturating_sub(KEEP_IN_MEMORY_MS);
        if inner.receipts.first().is_some_and(|(t, _)| *t < oldest) {
            inner.receipts.retain(|(t, _)| *t >= oldest);
        }
        Ok(())
    }

    /// Receipts that finished in `[from_ms, to_ms)`.
    pub fn between(&self, from_ms: u64, to_ms: u64) -> Vec<SignedReceipt> {
        self.lock()
            .receipts
            .iter()
            .filter(|(t, _)| (from_ms..to_ms).contains(t))
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Fsyncs what was appended.
    pub fn sync(&self) -> std::io::Result<()> {
        let mut inner = self.lock();
        inner.file.flush()?;
        inner.file.get_ref().sync_data()
    }
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

    #[test]
    fn survives_a_restart_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("w.receipts");
        let log = ReceiptLog::open(&path).expect("open");
        for t in [10, 20, 30] {
            log.append(&receipt(t)).expect("append");
        }
        log.sync().expect("sync");
        drop(log);
        // A crash in the middle of the next record.
        let mut f = OpenOptions::new().append(true).open(&path).expect("reopen");
        f.write_all(&[200, 0, 0, 0, 1, 2]).expect("torn write");
        drop(f);
        let log = ReceiptLog::open(&path).expect("open again");
        assert_eq!(log.between(0, 100).len(), 3);
        assert_eq!(log.between(15, 30).len(), 1);
        log.append(&receipt(40)).expect("append after the cut");
        drop(log);
        let log = ReceiptLog::open(&path).expect("open a third time");
        assert_eq!(log.between(0, 100).len(), 4, "the torn bytes were cut before appending");
    }
}
