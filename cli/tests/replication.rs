//! The ledger replicated by BFT consensus, as real `wick ledger` processes on loopback: four
//! validators keep deciding with one SIGKILLed, every acknowledged transaction is in every
//! live validator's chain, the killed one catches up to the same root; with two of four down
//! nothing is decided and nothing forks, and one back resumes progress.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use wick_ledger::client::Client;
use wick_staking::genesis::{Genesis, GenesisAccount, GenesisAmount, GenesisParams, GenesisValidator};
use wick_staking::{Address, Amount, TxBody};

use support::Node;

const SENDERS: usize = 6;
const TXS_PER_PHASE: usize = 4;

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port")
}

fn sender(i: usize) -> SigningKey {
    SigningKey::from_bytes(&[100 + i as u8; 32])
}

/// Four validators with fixed addresses and their own folders, started and stopped at will.
struct Chain {
    dir: tempfile::TempDir,
    genesis: PathBuf,
    grpc: Vec<SocketAddr>,
    p2p: Vec<SocketAddr>,
    nodes: Vec<Option<Node>>,
}

impl Chain {
    fn new(n: usize) -> Chain {
        let dir = tempfile::tempdir().expect("dir");
        let keys: Vec<SigningKey> = (0..n)
            .map(|i| wick_net::identity::load_or_create(&key_path(dir.path(), i)).expect("validator key"))
            .collect();
        let hex_of = |k: &SigningKey| hex::encode(k.verifying_key().to_bytes());
        let mut accounts: Vec<GenesisAccount> = (0..SENDERS)
            .map(|i| GenesisAccount { address: hex_of(&sender(i)), balance: GenesisAmount(1_000_000_000) })
            .collect();
        accounts.extend(
            keys.iter().map(|k| GenesisAccount { address: hex_of(k), balance: GenesisAmount(1_000_000) }),
        );
        let genesis = Genesis {
            chain_id: "wick-replicated".into(),
            epoch_seconds: 5,
            params: GenesisParams::default(),
            accounts,
            workers: Vec::new(),
            delegations: Vec::new(),
            routers: Vec::new(),
            validators: keys
                .iter()
                .map(|k| GenesisValidator { address: hex_of(k), stake: GenesisAmount(100_000) })
                .collect(),
        };
        let path = dir.path().join("genesis.toml");
        std::fs::write(&path, genesis.to_toml()).expect("genesis");
        Chain {
            dir,
            genesis: path,
            grpc: (0..n).map(|_| free_addr()).collect(),
            p2p: (0..n).map(|_| free_addr()).collect(),
            nodes: (0..n).map(|_| None).collect(),
        }
    }

    fn url(&self, i: usize) -> String {
        format!("http://{}", self.grpc[i])
    }

    fn start(&mut self, i: usize) {
        self.start_with(i, &[]);
    }

    /// A full node with its own key (not a validator) that follows validator 0 without voting.
    fn follower(&self) -> Node {
        let key = self.dir.path().join("keys").join("follower.pem");
        let args: Vec<String> = vec![
            "ledger".into(),
            "--genesis".into(),
            self.genesis.to_string_lossy().into_owned(),
            "--dir".into(),
            self.dir.path().join("follower").to_string_lossy().into_owned(),
            "--grpc".into(),
            "127.0.0.1:0".into(),
            "--validator-key".into(),
            key.to_string_lossy().into_owned(),
            "--follow".into(),
            "--p2p".into(),
            free_addr().to_string(),
            "--peer".into(),
            self.p2p.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        ];
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Node::start(&refs)
    }

    fn start_with(&mut self, i: usize, extra: &[&str]) {
        let others = |all: &[SocketAddr], http: bool| {
            let list = all.iter().enumerate().filter(|(j, _)| *j != i);
            list.map(|(_, a)| if http { format!("http://{a}") } else { a.to_string() })
                .collect::<Vec<_>>()
                .join(",")
        };
        let args: Vec<String> = vec![
            "ledger".into(),
            "--genesis".into(),
            self.genesis.to_string_lossy().into_owned(),
            "--dir".into(),
            self.dir.path().join(format!("ledger-{i}")).to_string_lossy().into_owned(),
            "--grpc".into(),
            self.grpc[i].to_string(),
            "--validator-key".into(),
            key_path(self.dir.path(), i).to_string_lossy().into_owned(),
            "--p2p".into(),
            self.p2p[i].to_string(),
        ];
        let mut args = args;
        if self.p2p.len() > 1 {
            args.extend([
                "--peer".into(),
                others(&self.p2p, false),
                "--relay".into(),
                others(&self.grpc, true),
            ]);
        }
        let mut refs: Vec<&str> = args.iter().map(String::as_str).collect();
        refs.extend_from_slice(extra);
        self.nodes[i] = Some(Node::start(&refs));
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(&mut self, i: usize) {
        if let Some(mut node) = self.nodes[i].take() {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

fn key_path(dir: &Path, i: usize) -> PathBuf {
    dir.join("keys").join(format!("validator-{i}.pem"))
}

async fn head(url: &str) -> Option<(u64, Vec<u8>)> {
    let mut c = Client::connect(url).await.ok()?;
    let h = c.head().await.ok()?;
    Some((h.height, h.state_root))
}

async fn wait_height(url: &str, height: u64, limit: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let h = head(url).await.map_or(0, |(h, _)| h);
        if h >= height || start.elapsed() > limit {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every transaction hash in `url`'s chain up to `height`, and the root at `height`.
async fn chain_until(url: &str, height: u64) -> (Vec<[u8; 32]>, Vec<u8>) {
    let mut c = Client::connect(url).await.expect("connect");
    let mut blocks = c.stream_blocks(1).await.expect("stream");
    let (mut hashes, mut root) = (Vec::new(), Vec::new());
    while let Ok(Some(b)) = blocks.message().await {
        hashes.extend(b.txs.iter().map(|t| wick_staking::wire::tx_hash(t)));
        if b.height == height {
            root = b.state_root;
            break;
        }
    }
    (hashes, root)
}

/// Each sender sends `n` transfers in turn to the listed nodes; returns the acknowledged hashes.
async fn send_phase(urls: &[String], n: usize, tag: u8) -> Vec<[u8; 32]> {
    let tasks: Vec<_> = (0..SENDERS)
        .map(|s| {
            let urls = urls.to_vec();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for k in 0..n {
                    let url = &urls[(s + k) % urls.len()];
                    let mut c = Client::connect(url).await.expect("connect");
                    let to = Address([tag; 32]);
                    let done =
                        c.send(&sender(s), TxBody::Transfer { to, amount: Amount(1 + k as u128) }).await;
                    acked.push(done.expect("an acknowledged transfer").hash);
                }
                acked
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("sender"));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_validator_stops_nothing_loses_nothing_and_catches_up() {
    let mut chain = Chain::new(4);
    for i in 0..4 {
        chain.start(i);
    }
    let all: Vec<String> = (0..4).map(|i| chain.url(i)).collect();
    let mut acked = send_phase(&all, TXS_PER_PHASE, 1).await;

    chain.kill(3);
    let live: Vec<String> = (0..3).map(|i| chain.url(i)).collect();
    acked.extend(send_phase(&live, TXS_PER_PHASE, 2).await);
    let h = head(&live[0]).await.expect("head").0;
    for url in &live {
        assert!(wait_height(url, h, Duration::from_secs(30)).await >= h, "{url} keeps deciding");
    }
    let mut roots = Vec::new();
    for url in &live {
        let (hashes, root) = chain_until(url, h).await;
        for a in &acked {
            assert!(hashes.contains(a), "an acknowledged transaction is missing from {url}");
        }
        roots.push(root);
    }
    assert!(roots.windows(2).all(|w| w[0] == w[1]), "the live validators agree on the root at {h}");

    // Restarted on its own folder, the killed validator syncs the heights it missed.
    chain.start(3);
    let target = head(&live[0]).await.expect("head").0;
    assert!(wait_height(&chain.url(3), target, Duration::from_secs(60)).await >= target, "it catches up");
    let (_, caught_up) = chain_until(&chain.url(3), target).await;
    let (_, reference) = chain_until(&live[0], target).await;
    assert_eq!(caught_up, reference, "to the same state root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_follows_the_chain_without_voting() {
    let mut chain = Chain::new(4);
    for i in 0..4 {
        chain.start(i);
    }
    let acked = send_phase(&[chain.url(0), chain.url(1)], 2, 3).await;
    let follower = chain.follower();
    let url = follower.grpc();
    let h = head(&chain.url(0)).await.expect("head").0;
    assert!(wait_height(&url, h, Duration::from_secs(60)).await >= h, "the full node syncs");
    let (hashes, root) = chain_until(&url, h).await;
    assert_eq!(root, chain_until(&chain.url(0), h).await.1, "to the validators' root");
    assert!(acked.iter().all(|a| hashes.contains(a)), "with every acknowledged transaction");
    // It holds no voting power: the set is still the four validators.
    let mut c = Client::connect(&url).await.expect("connect");
    assert_eq!(c.validators().await.expect("validators").iter().filter(|v| v.power > 0).count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_four_down_decide_nothing_fork_nothing_and_one_back_resumes() {
    let mut chain = Chain::new(4);
    for i in 0..4 {
        chain.start(i);
    }
    let (a, b) = (chain.url(0), chain.url(1));
    assert!(wait_height(&a, 3, Duration::from_secs(60)).await >= 3);
    chain.kill(2);
    chain.kill(3);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = (head(&a).await.expect("a").0, head(&b).await.expect("b").0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = (head(&a).await.expect("a").0, head(&b).await.expect("b").0);
    assert_eq!(before, after, "half the voting power decides nothing");
    let common = after.0.min(after.1);
    assert_eq!(chain_until(&a, common).await.1, chain_until(&b, common).await.1, "and nothing forked");

    chain.start(2);
    let resumed = wait_height(&a, after.0 + 2, Duration::from_secs(60)).await;
    assert!(resumed >= after.0 + 2, "three of four decide again (height {resumed})");
}

/// A validator that signs two different votes for every height and round is caught by the
/// others' vote keepers; the evidence goes into a block, every validator checks it again, and
/// the state slashes and jails it once; it leaves the set at the next epoch end and the other
/// three go on deciding.
#[cfg(feature = "fault-injection")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_validator_is_slashed_jailed_and_dropped_from_the_set() {
    let mut chain = Chain::new(4);
    for i in 0..3 {
        chain.start(i);
    }
    chain.start_with(3, &["--fault-equivocate"]);
    let url = chain.url(0);
    let liar =
        wick_net::identity::load(&key_path(chain.dir.path(), 3)).expect("key").verifying_key().to_bytes();
    let start = Instant::now();
    let mut seen = None;
    while start.elapsed() < Duration::from_secs(90) {
        let mut c = Client::connect(&url).await.expect("connect");
        let vs = c.validators().await.expect("validators");
        let v = vs.iter().find(|v| v.address == liar).expect("the liar is registered").clone();
        if v.jailed && v.power == 0 {
            seen = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let v = seen.expect("the equivocating validator was jailed and left the set");
    assert_eq!(v.stake, "90000", "slashed once, by slash_bps (10 %) of 100 000");
    let (h, _) = head(&url).await.expect("head");
    assert!(wait_height(&url, h + 3, Duration::from_secs(30)).await >= h + 3, "the honest three go on");
    // Every live validator agrees on it.
    for i in 1..3 {
        let mut c = Client::connect(&chain.url(i)).await.expect("connect");
        let vs = c.validators().await.expect("validators");
        assert!(vs.iter().any(|x| x.address == liar && x.jailed && x.stake == "90000"));
    }
}

/// Peers with a genesis that names no validators would each take themselves for the one
/// validator and decide chains of their own: the node refuses to start and says why.
#[test]
fn peers_without_genesis_validators_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let genesis = dir.path().join("genesis.toml");
    let g = Genesis {
        chain_id: "wick-no-validators".into(),
        epoch_seconds: 5,
        params: GenesisParams::default(),
        accounts: Vec::new(),
        workers: Vec::new(),
        delegations: Vec::new(),
        routers: Vec::new(),
        validators: Vec::new(),
    };
    std::fs::write(&genesis, g.to_toml()).expect("genesis");
    let key = dir.path().join("v.pem");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wick"))
        .args([
            "ledger",
            "--genesis",
            &genesis.to_string_lossy(),
            "--dir",
            &dir.path().join("db").to_string_lossy(),
        ])
        .args(["--grpc", "127.0.0.1:0", "--validator-key", &key.to_string_lossy()])
        .args(["--p2p", &free_addr().to_string(), "--peer", &free_addr().to_string()])
        .output()
        .expect("run wick ledger");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started anyway: {stderr}");
    assert!(stderr.contains("names no validators"), "{stderr}");
}

/// Bonding validator stake registers the key at once, but the set (and so consensus) changes
/// only at the next epoch end; `wick validator list` shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bonded_validator_joins_the_set_only_at_an_epoch_end() {
    let mut chain = Chain::new(1);
    chain.start(0);
    let url = chain.url(0);
    let mut c = Client::connect(&url).await.expect("connect");
    let epoch = c.epoch().await.expect("epoch").epoch;
    c.send(&sender(0), TxBody::BondValidator { amount: Amount(40_000) }).await.expect("bond");
    let newcomer = sender(0).verifying_key().to_bytes().to_vec();
    let list = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wick"))
            .args(["validator", "list", "--json", "--ledger", &url])
            .output()
            .expect("wick validator list");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v.as_array().expect("array").clone()
    };
    let me = hex::encode(&newcomer);
    let row = |rows: &[serde_json::Value]| rows.iter().find(|r| r["address"] == me.as_str()).cloned();
    let rows = list();
    let now = c.epoch().await.expect("epoch").epoch;
    if now == epoch {
        // Bonded and listed within one epoch: registered, but not in that epoch's set.
        let r = row(&rows).expect("registered at once");
        assert_eq!(
            (r["stake"].as_str(), r["power"].as_u64()),
            (Some("40000"), Some(0)),
            "not in the set yet"
        );
    }
    let start = Instant::now();
    while c.epoch().await.expect("epoch").epoch == now && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = row(&list()).expect("listed");
    assert_eq!(r["power"].as_u64(), Some(40_000), "in the set from the epoch end on");
    // 100 000 of 140 000 is still more than two thirds: the one running validator decides alone.
    let h = head(&url).await.expect("head").0;
    assert!(wait_height(&url, h + 2, Duration::from_secs(30)).await >= h + 2, "the chain goes on");
}

/// A relay client whose connections come from `source` (any 127.0.0.0/8 address is local).
async fn relay_client(
    url: &str,
    source: [u8; 4],
) -> wick_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string())
        .expect("url")
        .local_address(Some(std::net::IpAddr::from(source)));
    wick_proto::v1::ledger_client::LedgerClient::new(endpoint.connect().await.expect("connect"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_flooder_is_refused_past_its_rate_and_nobody_else_is() {
    let mut chain = Chain::new(1);
    chain.start_with(0, &["--relay-rate", "1"]);
    wait_height(&chain.url(0), 1, Duration::from_secs(30)).await;
    let junk =
        || wick_proto::v1::RelayTxsRequest { txs: vec![vec![0xff; 8]; wick_ledger::replica::MAX_RELAY_TXS] };
    let mut flooder = relay_client(&chain.url(0), [127, 0, 0, 3]).await;
    let burst = wick_ledger::replica::RELAY_BURST as usize / wick_ledger::replica::MAX_RELAY_TXS;
    for i in 0..burst {
        let accepted = flooder.relay_txs(junk()).await.unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(accepted.into_inner().accepted, 0, "junk is not queued");
    }
    for _ in 0..3 {
        let refused = flooder.relay_txs(junk()).await.expect_err("past the burst");
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("relay rate bound"), "{}", refused.message());
    }
    // A reconnection from the same address keeps its empty bucket.
    let mut again = relay_client(&chain.url(0), [127, 0, 0, 3]).await;
    assert_eq!(
        again.relay_txs(junk()).await.expect_err("same source").code(),
        tonic::Code::ResourceExhausted
    );
    // Another source relays, and submissions still commit.
    let mut other = relay_client(&chain.url(0), [127, 0, 0, 4]).await;
    other.relay_txs(junk()).await.expect("another source has its own bucket");
    let acked = send_phase(&[chain.url(0)], 1, 7).await;
    assert_eq!(acked.len(), SENDERS);
}
