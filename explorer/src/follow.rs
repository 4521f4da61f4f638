//! Follows the chain: streams committed blocks from the ledger (`StreamBlocks`) from the next
//! height the index lacks, and moves to the next endpoint of the [`Session`] when a stream
//! fails, so the index sees every block exactly once and in order.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wick_ledger::client::Session;
use wick_proto::v1::Block;

/// Pause before reconnecting after a failure.
const RETRY: Duration = Duration::from_millis(500);

/// Streams blocks from height `next` on into `blocks` until `shutdown` or until the receiver
/// goes away.
pub async fn follow(
    mut session: Session,
    mut next: u64,
    blocks: mpsc::Sender<Block>,
    shutdown: CancellationToken,
) {
    loop {
        let stream = match session.client().await {
            Ok(c) => c.stream_blocks(next).await,
            Err(e) => Err(e),
        };
        match stream {
            Ok(mut stream) => loop {
                let msg = tokio::select! {
                    () = shutdown.cancelled() => return,
                    m = stream.message() => m,
                };
                match msg {
                    Ok(Some(b)) if b.height == next => {
                        next += 1;
                        if blocks.send(b).await.is_err() {
                            return;
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        tracing::debug!("the ledger ended the block stream; reconnecting");
                        session.failed();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "block stream failed; reconnecting");
                        session.failed();
                        break;
                    }
                }
            },
            Err(e) => {
                tracing::warn!(ledger = ?session.endpoints(), error = %e, "cannot stream blocks; retrying");
                session.failed();
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}
