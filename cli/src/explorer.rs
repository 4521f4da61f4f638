//! `wick explorer`: follow a ledger and listen on the peer network, and serve the web explorer
//! (the `wick-explorer` crate) with the JSON it is built from.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use wick_explorer::{Explorer, ExplorerConfig};
use wick_net::Multiaddr;

#[derive(Debug, clap::Args)]
pub struct ExplorerArgs {
    /// Ledger gRPC endpoints, tried in order, failing over to the next (several values, repeat
    /// the flag, or separate with commas).
    #[arg(long, env = "WICK_LEDGER", num_args = 1.., value_delimiter = ',', default_value = "http://127.0.0.1:7100")]
    ledger: Vec<String>,
    /// A peer to join the network through, e.g. a worker's p2p address (repeatable). Without
    /// one, the explorer shows the chain and waits for peers to dial it.
    #[arg(long, env = "WICK_EXPLORER_BOOTSTRAP", value_delimiter = ',')]
    bootstrap: Vec<Multiaddr>,
    /// HTTP listen address of the web UI and its JSON (port 0 picks a free port).
    #[arg(long, env = "WICK_EXPLORER_HTTP", default_value = "127.0.0.1:8090")]
    http: SocketAddr,
    /// libp2p listen multiaddr (repeatable).
    #[arg(long, env = "WICK_EXPLORER_P2P", value_delimiter = ',', default_value = "/ip4/127.0.0.1/tcp/0")]
    p2p: Vec<Multiaddr>,
}

pub fn run(args: ExplorerArgs) -> anyhow::Result<()> {
    let config = ExplorerConfig {
        ledger: args.ledger.clone(),
        http: args.http,
        network: true,
        p2p: args.p2p,
        bootstrap: args.bootstrap,
    };
    crate::node_runtime()?.block_on(async move {
        let shutdown = CancellationToken::new();
        let explorer =
            Explorer::start(config, shutdown.clone()).await.context("while starting the explorer")?;
        let (peer_id, p2p) = match &explorer.net {
            Some(net) => {
                let addrs = net.wait_listening(Duration::from_secs(5)).await?;
                (net.peer_id().to_string(), addrs.iter().map(|a| a.to_string()).collect())
            }
            None => (String::new(), Vec::new()),
        };
        let ready = serde_json::json!({
            "event": "ready",
            "role": "explorer",
            "http": explorer.url,
            "ledger": args.ledger,
            "peer_id": peer_id,
            "p2p": p2p,
        });
        println!("{ready}");
        eprintln!("explorer: {}", explorer.url);
        let stopped = tokio::select! {
            () = crate::worker::wait_for_signal() => None,
            r = explorer.wait() => Some(r),
        };
        shutdown.cancel();
        match stopped {
            Some(r) => r.context("the explorer stopped"),
            None => Ok(()),
        }
    })
}
