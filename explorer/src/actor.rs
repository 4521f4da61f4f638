//! The task that owns the [`Index`] and the [`PeerBook`]: it takes blocks from the follower and
//! verified capability records from the network, and runs the pages' reads against both, one
//! at a time, so neither needs a lock. Every change bumps a counter that live pages watch.

use std::time::Duration;

use prost::Message;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::{Block, CapabilityRecord, SignedCapabilityRecord};

use crate::index::Index;
use crate::peers::PeerBook;

type Read = Box<dyn FnOnce(&Index, &PeerBook) + Send>;

enum Command {
    Read(Read),
    Record(CapabilityRecord),
}

/// The explorer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the explorer is stopping")]
pub struct Stopped;

/// A cloneable handle to the index task.
#[derive(Clone)]
pub struct IndexHandle {
    commands: mpsc::Sender<Command>,
    changes: watch::Receiver<u64>,
}

impl std::fmt::Debug for IndexHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexHandle").field("version", &*self.changes.borrow()).finish()
    }
}

impl IndexHandle {
    /// Runs `read` on the index and the peer book and returns its result.
    pub async fn read<T, F>(&self, read: F) -> Result<T, Stopped>
    where
        T: Send + 'static,
        F: FnOnce(&Index, &PeerBook) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let f: Read = Box::new(move |i, p| {
            let _ = tx.send(read(i, p));
        });
        self.commands.send(Command::Read(f)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Adds a capability record that did not come over the network (benchmarks seed workers
    /// this way); it is verified exactly like the network's records first.
    pub async fn observe_signed(
        &self,
        record: &SignedCapabilityRecord,
    ) -> Result<(), wick_net::records::RecordError> {
        let record = wick_net::records::verify(&record.encode_to_vec(), None)?;
        let _ = self.commands.send(Command::Record(record)).await;
        Ok(())
    }

    /// A counter that grows with every block or record the index takes in.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

struct Actor {
    index: Index,
    peers: PeerBook,
    version: watch::Sender<u64>,
}

/// Starts the index task. It takes blocks from `blocks` and records from `records` (when there
/// is a network) and stops at `shutdown`.
pub fn start(
    blocks: mpsc::Receiver<Block>,
    records: Option<broadcast::Receiver<CapabilityRecord>>,
    shutdown: CancellationToken,
) -> IndexHandle {
    let (commands, rx) = mpsc::channel(256);
    let (version, changes) = watch::channel(0);
    let actor = Actor { index: Index::new(), peers: PeerBook::new(), version };
    tokio::spawn(actor.run(rx, blocks, records, shutdown));
    IndexHandle { commands, changes }
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut blocks: mpsc::Receiver<Block>,
        mut records: Option<broadcast::Receiver<CapabilityRecord>>,
        shutdown: CancellationToken,
    ) {
        let mut prune = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                cmd = commands.recv() => match cmd {
                    Some(Command::Read(read)) => read(&self.index, &self.peers),
                    Some(Command::Record(r)) => self.on_record(r),
                    None => return,
                },
                Some(block) = blocks.recv() => self.on_block(block),
                r = next_record(&mut records) => match r {
                    Ok(record) => self.on_record(record),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "capability records arrived faster than indexed");
                    }
                    Err(broadcast::error::RecvError::Closed) => records = None,
                },
                _ = prune.tick() => self.peers.prune(now_unix_ms()),
            }
        }
    }

    fn on_block(&mut self, block: Block) {
        let height = block.height;
        if self.index.ingest(block) {
            self.version.send_modify(|v| *v += 1);
        } else {
            tracing::warn!(height, expected = self.index.next_height(), "block out of order ignored");
        }
    }

    fn on_record(&mut self, record: CapabilityRecord) {
        if self.peers.observe(record, now_unix_ms()) {
            self.version.send_modify(|v| *v += 1);
        }
    }
}

/// The next record, or never when there is no network.
async fn next_record(
    records: &mut Option<broadcast::Receiver<CapabilityRecord>>,
) -> Result<CapabilityRecord, broadcast::error::RecvError> {
    match records {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}
