//! Dedicated threads for the CPU work a request needs before it can join a batch: rendering
//! the chat template, tokenizing, compiling a response format's grammar. As in TGI's
//! validation workers, none of it runs on the async I/O threads, so a prompt of megabytes never
//! stalls the gRPC server or the libp2p swarm (capability records keep flowing).
//!
//! Jobs wait in a bounded queue; when it is full the request is refused at once
//! (`RESOURCE_EXHAUSTED`) instead of piling up.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tonic::Status;

type Work = Box<dyn FnOnce() + Send>;

/// A pool of tokenizer threads.
#[derive(Clone)]
pub struct TokenizerPool {
    tx: SyncSender<Work>,
}

impl TokenizerPool {
    /// Starts `threads` threads (at least one) sharing a queue of `queue` jobs.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Work>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new().name(format!("tokenizer-{i}")).spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job, never while it runs.
                    let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match next {
                        Ok(work) => work(),
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(Self { tx })
    }

    /// Runs `f` on a pool thread and returns its result.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Status> {
        let (done, result) = oneshot::channel();
        let work: Work = Box::new(move || {
            let _ = done.send(f());
        });
        match self.tx.try_send(work) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(Status::resource_exhausted("the tokenizer queue is full; retry later"));
            }
            Err(TrySendError::Disconnected(_)) => return Err(Status::unavailable("the worker is stopping")),
        }
        result.await.map_err(|_| Status::internal("a tokenizer thread failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_off_the_runtime_and_refuses_when_full() {
        let pool = TokenizerPool::start(1, 1).expect("pool");
        let name = pool.run(|| std::thread::current().name().map(str::to_string)).await.expect("ran");
        assert_eq!(name.as_deref(), Some("tokenizer-0"));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let blocker = pool.clone();
        let busy =
            tokio::spawn(async move { blocker.run(move || wait.recv_timeout(Duration::from_secs(5))).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let queued = pool.clone();
        let waiting = tokio::spawn(async move { queued.run(|| 1).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let refused = pool.run(|| 2).await;
        assert_eq!(refused.map_err(|s| s.code()), Err(tonic::Code::ResourceExhausted));
        release.send(()).expect("release");
        assert!(busy.await.expect("task").is_ok());
        assert_eq!(waiting.await.expect("task").expect("ran"), 1);
    }
}
