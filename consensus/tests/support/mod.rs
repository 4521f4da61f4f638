//! A small replicated application for the engine's tests: each block appends transactions to
//! a hash chain, so any divergence shows as a different root. Its chain lives behind an `Arc`
//! so a node can be "restarted" on the same storage.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_consensus::SigningKey;
use sha2::{Digest, Sha256};
use wick_consensus::{Application, Config, Equivocation, Node};

#[derive(BorshSerialize, BorshDeserialize)]
struct Block {
    height: u64,
    parent: [u8; 32],
    txs: Vec<Vec<u8>>,
    root: [u8; 32],
}

fn next_root(parent: &[u8; 32], txs: &[Vec<u8>]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(parent);
    for t in txs {
        h.update((t.len() as u64).to_be_bytes());
        h.update(t);
    }
    h.finalize().into()
}

/// What a node has committed (its "disk").
#[derive(Default)]
pub struct Chain {
    pub blocks: Vec<(Vec<u8>, Vec<u8>)>,
    pub roots: Vec<[u8; 32]>,
    pub txs: Vec<Vec<u8>>,
    pub evidence: Vec<Equivocation>,
    pub kept: std::collections::HashMap<u64, Vec<Vec<u8>>>,
}

impl Chain {
    pub fn root(&self) -> [u8; 32] {
        self.roots.last().copied().unwrap_or([0; 32])
    }
}

pub struct TestApp {
    pub chain: Arc<Mutex<Chain>>,
    pub mempool: Arc<Mutex<Vec<Vec<u8>>>>,
    pub validators: Vec<([u8; 32], u64)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Application for TestApp {
    fn committed_height(&self) -> u64 {
        lock(&self.chain).blocks.len() as u64
    }

    fn validators(&self, _height: u64) -> Vec<([u8; 32], u64)> {
        self.validators.clone()
    }

    fn has_work(&self) -> bool {
        !lock(&self.mempool).is_empty()
    }

    fn propose(&mut self, height: u64) -> Vec<u8> {
        let parent = lock(&self.chain).root();
        let txs: Vec<Vec<u8>> = lock(&self.mempool).iter().take(100).cloned().collect();
        let root = next_root(&parent, &txs);
        borsh::to_vec(&Block { height, parent, txs, root }).unwrap_or_default()
    }

    fn check(&mut self, height: u64, _proposer: [u8; 32], block: &[u8], _decided: bool) -> bool {
        let Ok(b) = borsh::from_slice::<Block>(block) else { return false };
        let chain = lock(&self.chain);
        b.height == height
            && b.height == chain.blocks.len() as u64 + 1
            && b.parent == chain.root()
            && b.root == next_root(&b.parent, &b.txs)
    }

    fn commit(
        &mut self,
        height: u64,
        _proposer: [u8; 32],
        block: &[u8],
        certificate: Vec<u8>,
    ) -> Result<(), String> {
        if !self.check(height, [0; 32], block, true) {
            return Err("the decided block does not follow this chain".into());
        }
        let b: Block = borsh::from_slice(block).map_err(|e| e.to_string())?;
        let mut chain = lock(&self.chain);
        chain.blocks.push((block.to_vec(), certificate));
        chain.roots.push(b.root);
        chain.txs.extend(b.txs.iter().cloned());
        lock(&self.mempool).retain(|t| !b.txs.contains(t));
        Ok(())
    }

    fn decided(&self, height: u64) -> Option<(Vec<u8>, Vec<u8>)> {
        let chain = lock(&self.chain);
        chain.blocks.get(usize::try_from(height).ok()?.checked_sub(1)?).cloned()
    }

    fn keep_proposal(&mut self, height: u64, _hash: [u8; 32], record: Vec<u8>) {
        lock(&self.chain).kept.entry(height).or_default().push(record);
    }

    fn kept_proposals(&self, height: u64) -> Vec<Vec<u8>> {
        lock(&self.chain).kept.get(&height).cloned().unwrap_or_default()
    }

    fn equivocation(&mut self, evidence: Equivocation) {
        lock(&self.chain).evidence.push(evidence);
    }
}

pub fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// One validator of a test network: its key, address, storage and the running node.
pub struct Member {
    pub key: SigningKey,
    pub listen: SocketAddr,
    pub home: tempfile::TempDir,
    pub chain: Arc<Mutex<Chain>>,
    pub mempool: Arc<Mutex<Vec<Vec<u8>>>>,
    pub node: Option<Node>,
}

pub struct Net {
    pub chain_id: String,
    pub members: Vec<Member>,
    pub validators: Vec<([u8; 32], u64)>,
}

/// Logs to the test's output, filtered by `RUST_LOG` (default: warnings).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

impl Net {
    pub fn new(n: usize) -> Net {
        init_logs();
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                key: SigningKey::from([i as u8 + 1; 32]),
                listen: free_port(),
                home: tempfile::tempdir().expect("tempdir"),
                chain: Arc::default(),
                mempool: Arc::default(),
                node: None,
            })
            .collect();
        let validators = members.iter().map(|m| (m.key.verification_key().to_bytes(), 10)).collect();
        Net { chain_id: "wick-test".into(), members, validators }
    }

    pub async fn start(&mut self, i: usize) {
        let peers: Vec<SocketAddr> =
            self.members.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, m)| m.listen).collect();
        let m = &mut self.members[i];
        let mut config = Config::new(&format!("v{i}"), &self.chain_id, m.listen, m.home.path().to_path_buf());
        config.peers = peers;
        config.block_interval = Duration::from_millis(50);
        let app = TestApp {
            chain: m.chain.clone(),
            mempool: m.mempool.clone(),
            validators: self.validators.clone(),
        };
        m.node = Some(wick_consensus::start(config, m.key.clone(), app).await.expect("start"));
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(node) = self.members[i].node.take() {
            node.stop().await;
        }
    }

    pub fn height(&self, i: usize) -> u64 {
        lock(&self.members[i].chain).blocks.len() as u64
    }

    /// Waits until every listed member has committed `height`; false on timeout.
    pub async fn wait_height(&self, who: &[usize], height: u64, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if who.iter().all(|&i| self.height(i) >= height) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The root each listed member had at `height` (all must have it).
    pub fn roots_at(&self, who: &[usize], height: u64) -> Vec<[u8; 32]> {
        who.iter().map(|&i| lock(&self.members[i].chain).roots[height as usize - 1]).collect()
    }

    pub fn submit(&self, i: usize, tx: Vec<u8>) {
        lock(&self.members[i].mempool).push(tx);
    }

    pub fn committed_txs(&self, i: usize) -> Vec<Vec<u8>> {
        lock(&self.members[i].chain).txs.clone()
    }
}
