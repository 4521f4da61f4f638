//! The trust review's attacks, replayed against real processes on loopback: a `wick ledger` and
//! a `wick worker` that follows it. Each must be refused with its precise reason, the honest
//! worker keeps its stake, and its honest work in the same epoch is paid by the formula.

#[path = "support/ledger.rs"]
mod ledger_support;
mod support;

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ledger_support::start_ledger;
use support::Node;
use tonic::Code;
use tonic::transport::Channel;
use wick_ledger::client::{Client, ClientError};
use wick_proto::signing;
use wick_proto::time::now_unix_ms;
use wick_proto::v1::inference_client::InferenceClient;
use wick_proto::v1::{EmbedRequest, JobTicket, ListModelsRequest, SignedReceipt};
use wick_staking::genesis::{
    Genesis, GenesisAccount, GenesisAmount, GenesisParams, GenesisRouter, GenesisWorker,
};
use wick_staking::{Address, TxBody, WorkReport};

const MODEL: &str = "minilm-l6-v2";
/// Long enough for the whole scene to fit in one epoch's receipt window.
const EPOCH_SECONDS: u64 = 12;

fn addr(k: &SigningKey) -> Address {
    Address(k.verifying_key().to_bytes())
}

/// The keys of the scene: the honest worker's (written where the worker reads it), a router
/// and a second worker registered on the ledger, and keys that hold nothing.
struct Keys {
    worker: SigningKey,
    router: SigningKey,
    bonded: SigningKey,
    funded_stranger: SigningKey,
    stranger: SigningKey,
}

fn genesis(k: &Keys) -> Genesis {
    let hex = |s: &SigningKey| addr(s).to_string();
    let funded = [&k.worker, &k.router, &k.bonded, &k.funded_stranger];
    Genesis {
        chain_id: "wick-attacks".into(),
        epoch_seconds: EPOCH_SECONDS,
        params: GenesisParams::default(),
        accounts: funded
            .iter()
            .map(|s| GenesisAccount { address: hex(s), balance: GenesisAmount(1_000_000) })
            .collect(),
        workers: [&k.worker, &k.bonded]
            .iter()
            .map(|s| GenesisWorker { address: hex(s), commission_bps: 0, stake: GenesisAmount(10_000) })
            .collect(),
        delegations: Vec::new(),
        routers: vec![GenesisRouter {
            address: hex(&k.router),
            stake: GenesisAmount(10_000),
            escrow: GenesisAmount(100_000),
        }],
        validators: Vec::new(),
    }
}

/// An embedding ticket of `router` for `inputs`, job id `id`.
fn ticket(router: &SigningKey, model_id: &str, inputs: &[String], id: u8, epoch: u64) -> JobTicket {
    let mut t = JobTicket {
        job_id: vec![id; 16],
        request_hash: signing::embed_request_hash(model_id, inputs).to_vec(),
        model_id: hex::decode(model_id).expect("model id"),
        params: Some(Default::default()),
        deadline_unix_ms: now_unix_ms() + 60_000,
        price_per_1k_tokens: 1_000,
        epoch,
        ..Default::default()
    };
    signing::sign_ticket(router, &mut t);
    t
}

fn embed(inputs: &[String], ticket: Option<JobTicket>) -> EmbedRequest {
    EmbedRequest { model: MODEL.into(), inputs: inputs.to_vec(), ticket }
}

fn texts(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The processes and keys of the scene, at the start of a fresh epoch.
struct Scene {
    keys: Keys,
    worker: InferenceClient<Channel>,
    ledger: Client,
    model_id: String,
    epoch: u64,
    inputs: Vec<String>,
    _processes: (Node, Node, tempfile::TempDir),
}

/// The `code` of a refused submission (its message is printed for the log).
fn code(r: Result<wick_ledger::node::Committed, ClientError>) -> Option<String> {
    let e = r.expect_err("refused");
    eprintln!("refused: {e}");
    e.code().map(str::to_string)
}

fn proof(t: &JobTicket, a: SignedReceipt, b: SignedReceipt) -> TxBody {
    TxBody::FraudProof { ticket: Box::new(t.clone()), a: Box::new(a), b: Box::new(b) }
}

/// `worker`'s receipt for `t` with output `out`.
fn receipt_of(worker: &SigningKey, t: &JobTicket, out: u8) -> SignedReceipt {
    let mut r = signing::receipt_for(Some(t), [0; 32]);
    r.output_hash = vec![out; 32];
    r.numeric_class = wick_models::CPU_NUMERIC_CLASS.into();
    signing::sign_receipt(worker, r)
}

impl Scene {
    async fn start() -> Scene {
        let dir = tempfile::tempdir().expect("dir");
        let worker_pem = dir.path().join("worker.pem");
        let keys = Keys {
            worker: wick_net::identity::load_or_create(&worker_pem).expect("worker key"),
            router: SigningKey::from_bytes(&[21; 32]),
            bonded: SigningKey::from_bytes(&[22; 32]),
            funded_stranger: SigningKey::from_bytes(&[23; 32]),
            stranger: SigningKey::from_bytes(&[24; 32]),
        };
        let genesis_path = dir.path().join("genesis.toml");
        std::fs::write(&genesis_path, genesis(&keys).to_toml()).expect("genesis");
        let ledger_node = start_ledger(&genesis_path, &dir.path().join("db"), &["--block-ms", "10"]);
        let url = ledger_node.grpc();
        let pem = worker_pem.to_string_lossy().into_owned();
        let worker_node = Node::start(&[
            "worker",
            "--grpc",
            "127.0.0.1:0",
            "--key",
            &pem,
            "--model",
            MODEL,
            "--ledger",
            &url,
        ]);
        let mut worker = worker_node.client().await;
        let models = worker.list_models(ListModelsRequest {}).await.expect("models").into_inner().models;
        let mut ledger = Client::connect(&url).await.expect("ledger");
        // Start at a fresh epoch, so every job and transaction lands in one epoch.
        let first = ledger.epoch().await.expect("epoch").epoch;
        let epoch = wait_for_epoch_after(&mut ledger, first).await;
        Scene {
            keys,
            worker,
            ledger,
            model_id: models[0].id.clone(),
            epoch,
            inputs: texts(&["the cat sat", "on the mat", "a dog barked", "then it rained"]),
            _processes: (ledger_node, worker_node, dir),
        }
    }

    fn ticket(&self, router: &SigningKey, id: u8) -> JobTicket {
        ticket(router, &self.model_id, &self.inputs, id, self.epoch)
    }

    /// Direct calls and strangers' tickets are refused; a staked router's ticket is served once,
    /// for the request it names. Returns the honest receipt.
    async fn worker_serves_only_staked_tickets(&mut self) -> SignedReceipt {
        let e = self.worker.embed(embed(&self.inputs, None)).await.expect_err("unticketed");
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        let forged = self.ticket(&self.keys.stranger, 1);
        let e = self.worker.embed(embed(&self.inputs, Some(forged))).await.expect_err("stranger's ticket");
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        // Served once the worker has read the ledger's routers.
        let honest = self.ticket(&self.keys.router, 2);
        let started = Instant::now();
        let served = loop {
            match self.worker.embed(embed(&self.inputs, Some(honest.clone()))).await {
                Ok(r) => break r.into_inner(),
                Err(e)
                    if e.code() == Code::PermissionDenied && started.elapsed() < Duration::from_secs(20) =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("the staked router's ticket was refused: {e:?}"),
            }
        };
        let receipt = served.receipt.expect("receipt");
        let r = receipt.receipt.as_ref().expect("receipt body");
        assert_eq!((&r.router_public_key, &r.job_id), (&honest.router_public_key, &honest.job_id));
        assert_eq!(r.price_per_1k_tokens, 1_000);
        // Embeddings count input tokens, not output floats (4 short inputs, 384 floats each).
        assert_eq!(r.tokens_out, 0);
        assert!(r.tokens_in > 4 && r.tokens_in < 40, "tokens_in {}", r.tokens_in);
        // The framing attack: the same ticket for other inputs, or twice. No second receipt.
        let other = texts(&["something", "else", "entirely", "here"]);
        let e = self.worker.embed(embed(&other, Some(honest.clone()))).await.expect_err("other inputs");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        let e = self.worker.embed(embed(&self.inputs, Some(honest))).await.expect_err("served twice");
        assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
        receipt
    }

    /// Fraud proofs from keys without stake, from the accused, with edited, agreeing or
    /// stranger-ticketed receipts: each refused with its reason.
    async fn only_deserved_fraud_proofs_count(&mut self, honest: &SignedReceipt) {
        let k = &self.keys;
        // Conflicting receipts the worker's key signed for a staked router's ticket: valid
        // evidence (this test holds the worker's key), so only who sends it decides.
        let t = self.ticket(&k.router, 4);
        let (a, b) = (receipt_of(&k.worker, &t, 1), receipt_of(&k.worker, &t, 2));
        let valid = proof(&t, a.clone(), b.clone());
        assert_eq!(
            code(self.ledger.send(&k.stranger, valid.clone()).await).as_deref(),
            Some("cannot_pay_fee")
        );
        assert_eq!(
            code(self.ledger.send(&k.funded_stranger, valid.clone()).await).as_deref(),
            Some("not_bonded")
        );
        assert_eq!(code(self.ledger.send(&k.worker, valid).await).as_deref(), Some("self_report"));
        // From a bonded reporter: an edited receipt, agreeing receipts, a ticket of no router.
        let honest_ticket = self.ticket(&k.router, 2);
        let mut edited = honest.clone();
        if let Some(x) = edited.receipt.as_mut() {
            x.output_hash = vec![9; 32];
        }
        let edited = proof(&honest_ticket, honest.clone(), edited);
        assert_eq!(code(self.ledger.send(&k.bonded, edited).await).as_deref(), Some("bad_fraud_proof"));
        let own = self.ticket(&k.stranger, 3);
        let agreeing = proof(&own, receipt_of(&k.worker, &own, 9), receipt_of(&k.worker, &own, 9));
        assert_eq!(code(self.ledger.send(&k.bonded, agreeing).await).as_deref(), Some("bad_fraud_proof"));
        let mut no_router = t.clone();
        signing::sign_ticket(&k.funded_stranger, &mut no_router);
        let framed =
            proof(&no_router, receipt_of(&k.worker, &no_router, 1), receipt_of(&k.worker, &no_router, 2));
        assert_eq!(code(self.ledger.send(&k.bonded, framed).await).as_deref(), Some("not_bonded"));
    }

    /// Attestations only from bonded routers, only for registered workers.
    async fn only_routers_attest(&mut self) {
        let k = &self.keys;
        let work =
            WorkReport { epoch: self.epoch, receipts_root: [7; 32], count: 1, tokens: 1 << 40, amount: 1 };
        let att = |worker: &SigningKey| TxBody::Attestation { worker: addr(worker), work };
        assert_eq!(
            code(self.ledger.send(&k.stranger, att(&k.worker)).await).as_deref(),
            Some("cannot_pay_fee")
        );
        assert_eq!(
            code(self.ledger.send(&k.funded_stranger, att(&k.worker)).await).as_deref(),
            Some("not_router")
        );
        assert_eq!(code(self.ledger.send(&k.router, att(&k.stranger)).await).as_deref(), Some("not_worker"));
        let nobody = self.ledger.worker(&addr(&k.stranger)).await.expect("worker query");
        assert!(!nobody.registered, "no worker record was created for a stranger");
    }

    /// The worker claims its honest receipt on its own (settlement), the router (this test)
    /// attests it, and the epoch end pays the pair from the escrow by the formula.
    async fn honest_work_is_paid(&mut self, honest: &SignedReceipt) {
        let r = honest.receipt.as_ref().expect("receipt body");
        let amount = wick_settle::work::amount_of(std::iter::once(r));
        assert!(amount > 0);
        let root = wick_settle::merkle::receipts_root(std::slice::from_ref(honest));
        let work = WorkReport {
            epoch: self.epoch,
            receipts_root: root,
            count: 1,
            tokens: u64::from(r.tokens_in),
            amount,
        };
        let att = TxBody::Attestation { worker: addr(&self.keys.worker), work };
        self.ledger.send(&self.keys.router, att).await.expect("attest");
        let now = self.ledger.epoch().await.expect("epoch").epoch;
        assert_eq!(now, self.epoch, "the scene took longer than an epoch");
        wait_for_epoch_after(&mut self.ledger, self.epoch).await;
        let ep = self.ledger.epoch().await.expect("epoch");
        assert_eq!((ep.last_epoch_paid, ep.last_epoch_credited_workers), (amount.to_string(), 1));
        // One paid worker, no commission, no delegators: X = P − F + min(R·P/ΣP, F) = P.
        let rewards = self.ledger.account(&addr(&self.keys.worker)).await.expect("account").rewards;
        assert_eq!(rewards, amount.to_string());
        let escrow = self.ledger.router(&addr(&self.keys.router)).await.expect("router").escrow;
        assert_eq!(escrow, (100_000 - amount).to_string(), "paid from the router's escrow");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_cannot_use_frame_or_drain_an_honest_worker() {
    let mut scene = Scene::start().await;
    let honest = scene.worker_serves_only_staked_tickets().await;
    scene.only_deserved_fraud_proofs_count(&honest).await;
    scene.only_routers_attest().await;
    scene.honest_work_is_paid(&honest).await;
    let w = scene.ledger.worker(&addr(&scene.keys.worker)).await.expect("worker");
    assert_eq!((w.jailed, w.self_stake.as_str()), (false, "10000"), "the honest worker was never touched");
}

/// Waits (bounded) until the ledger's epoch is past `epoch`; returns the new one.
async fn wait_for_epoch_after(ledger: &mut Client, epoch: u64) -> u64 {
    let started = Instant::now();
    loop {
        let now = ledger.epoch().await.expect("epoch").epoch;
        if now > epoch {
            return now;
        }
        assert!(started.elapsed() < Duration::from_secs(3 * EPOCH_SECONDS), "epoch {epoch} did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
