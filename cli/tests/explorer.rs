//! The explorer, tested the way people use it. A real devnet (`wick devnet`: ledger, router,
//! three workers of which one lies, and the explorer, as processes on loopback) is driven by
//! chat requests through the router while headless Chromium reads the explorer's pages; a
//! second, lighter test holds the CLI's `--json` against the explorer's JSON. Screenshots land
//! in `<target>/explorer-screenshots/`.

#[path = "support/ledger.rs"]
mod ledger_support;
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ledger_support::{Wallet, start_ledger, write_genesis};
use serde_json::{Value, json};
use support::Node;
use wick_bench::browser::Browser;

/// Where screenshots go: `$WICK_SCREENSHOTS`, or `explorer-screenshots/` in the target folder.
fn shots() -> PathBuf {
    if let Some(dir) = std::env::var_os("WICK_SCREENSHOTS") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
    target.join("explorer-screenshots")
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.expect("GET").json().await.expect("JSON")
}

/// Digits of the text of the first element matching `css` (`null` when absent or empty).
fn number_at(css: &str) -> String {
    format!(
        "const e = document.querySelector({css:?}); if (!e) return null;
         const d = e.textContent.replace(/[^0-9]/g, ''); return d === '' ? null : Number(d);"
    )
}

/// One chat request through the router: the receipt header's hex and the body's JSON.
async fn chat(base_url: &str, prompt: &str) -> (String, Value) {
    let body = json!({"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": prompt}],
                      "temperature": 0, "max_tokens": 16});
    let resp = reqwest::Client::new()
        .post(format!("{base_url}/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("chat");
    assert!(resp.status().is_success(), "chat: {}", resp.status());
    let header = resp.headers()["x-wick-receipt"].to_str().expect("ascii").to_string();
    (header, resp.json().await.expect("chat JSON"))
}

/// The devnet's endpoints, the browser on its explorer, and where screenshots go.
struct Scene {
    browser: Browser,
    explorer: String,
    base_url: String,
    keys: Vec<String>,
    liar: String,
    shots: PathBuf,
}

/// A chat one worker answered: its key, the receipt header and the JSON answer.
struct Served {
    worker: String,
    header: String,
    body: Value,
}

const LONG: Duration = Duration::from_secs(60);
const LIVE: &str = "const d = document.querySelector('[data-stat=live_workers]');
                    return d && d.childNodes[0].textContent.trim() === '3';";

impl Scene {
    async fn wait(&self, what: &str, script: &str) {
        self.browser.wait_for(what, script, LONG).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    }

    async fn open(&self, page: &str) {
        self.browser.goto(&format!("{}/#/{page}", self.explorer)).await.expect("navigate");
    }

    async fn shot(&self, name: &str) {
        self.browser.screenshot(&self.shots.join(name)).await.expect("screenshot");
    }

    /// The devnet's router is on the ledger: the routers page shows its stake and escrow.
    async fn the_router_shows_its_stake_and_escrow(&self) {
        let page = get(&format!("{}/api/routers", self.explorer)).await;
        let router = &page["routers"][0]["ledger"];
        assert_eq!(router["registered"], true, "{page}");
        assert_ne!(router["stake"], "0", "{page}");
        assert_eq!(page["role"]["on_ledger"], true);
        self.open("routers").await;
        self.wait(
            "the router's escrow on the page",
            "return document.querySelector('td[data-col=\"escrow\"]')?.textContent.trim().length > 1",
        )
        .await;
        self.shot("routers.png").await;
    }

    /// The overview shows the three live workers.
    async fn overview_shows_live_workers(&self) {
        self.open("").await;
        self.wait("three live workers on the overview", LIVE).await;
        self.wait(
            "the live workers' table",
            "return document.querySelectorAll('#live tbody tr[data-worker]').length === 3",
        )
        .await;
        self.shot("overview.png").await;
    }

    /// Chats through the router until an honest worker answers one; each chat makes its
    /// worker's served tokens rise on the workers page, without a reload.
    async fn chats_raise_served_tokens(&self) -> Served {
        self.open("workers").await;
        self.wait(
            "worker rows",
            "return document.querySelectorAll('#workers tbody tr[data-worker]').length === 3",
        )
        .await;
        self.browser.eval("window.notReloaded = true; return true;", vec![]).await.expect("marker");
        let served =
            |w: &str| number_at(&format!("#workers tr[data-worker='{w}'] td[data-col=tokens_served]"));
        for i in 0..10 {
            let mut before = BTreeMap::new();
            for k in &self.keys {
                before.insert(k.clone(), self.browser.eval(&served(k), vec![]).await.expect("served"));
            }
            let (header, body) = chat(&self.base_url, &format!("Name a fruit ({i}).")).await;
            let worker = body["wick_receipt"]["worker_public_key"].as_str().expect("worker").to_string();
            let was = before[&worker].as_u64().unwrap_or(0);
            let rose = format!(
                "const n = (() => {{ {} }})(); return window.notReloaded === true && n !== null && n > {was};",
                served(&worker)
            );
            self.browser
                .wait_for("the served tokens to rise without a reload", &rose, Duration::from_secs(20))
                .await
                .expect("tokens rise");
            if worker != self.liar {
                self.shot("workers-served.png").await;
                return Served { worker, header, body };
            }
        }
        panic!("no honest worker served one of ten chats");
    }

    /// After the epoch ends, the worker's credited work and reward appear on its page.
    async fn credited_work_appears(&self, worker: &str) {
        self.open(&format!("worker/{worker}")).await;
        let credited = "for (const tr of document.querySelectorAll('#history tbody tr')) {
              const n = (col) => Number((tr.querySelector(`[data-col=${col}]`)?.textContent ?? '').replace(/[^0-9]/g, '') || 0);
              if (n('credited_tokens') > 0 && n('reward') > 0) return true;
            } return null;";
        self.wait("credited work and a reward on the worker's page", credited).await;
        self.wait("the charts", "return document.querySelectorAll('svg.chart rect').length >= 2").await;
        self.shot("worker.png").await;
    }

    /// Pastes `text` into the receipt check and waits for the two verdicts.
    async fn check_receipt(&self, text: &str, worker: &str, router: &str) {
        let clear =
            "const r = document.getElementById('receipt-result'); if (r) r.innerHTML = ''; return true;";
        self.browser.eval(clear, vec![]).await.expect("clear");
        self.browser.type_into("#receipt", text).await.expect("paste");
        self.browser.click("#check").await.expect("check");
        let verdicts = format!(
            "const w = document.querySelector('[data-check=worker] strong'), r = document.querySelector('[data-check=router] strong');
             return !!w && !!r && w.textContent === '{worker}' && r.textContent === '{router}';"
        );
        self.wait(&format!("worker {worker}, router {router}"), &verdicts).await;
    }

    /// The chat's receipt verifies, as hex and as JSON; one changed character makes it invalid.
    async fn receipts_verify_until_changed(&self, s: &Served) {
        self.open("receipt").await;
        self.check_receipt(&s.header, "verified", "verified").await;
        self.shot("receipt-verified.png").await;
        self.check_receipt(&s.body["wick_receipt"].to_string(), "verified", "verified").await;
        // One hex digit of the job hash, which both signatures cover.
        let job = s.body["wick_receipt"]["job_hash"].as_str().expect("job hash");
        let at = s.header.find(job).expect("the job hash in the protobuf") + 10;
        let mut changed = s.header.clone().into_bytes();
        changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
        self.check_receipt(&String::from_utf8(changed).expect("ascii"), "invalid", "invalid").await;
        self.shot("receipt-invalid.png").await;
    }

    /// The lying worker ends up jailed and the workers page says so; Enter on a column's
    /// button sorts the table (keyboard use).
    async fn the_liar_shows_as_jailed(&self) {
        self.open("workers").await;
        let jailed = format!(
            "const s = document.querySelector(\"#workers tr[data-worker='{}'] td[data-col=status]\"); return !!s && s.textContent.trim() === 'jailed';",
            self.liar
        );
        let started = Instant::now();
        let mut i = 0;
        while self.browser.wait_for("the liar jailed", &jailed, Duration::from_secs(2)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(240), "the lying worker was not shown as jailed");
            chat(&self.base_url, &format!("Name a colour ({i}).")).await;
            i += 1;
        }
        self.browser.keys("#workers button[data-sort=status]", "\u{E007}").await.expect("enter");
        self.wait("sorted by status", "return !!document.querySelector('#workers th[aria-sort]')").await;
        self.shot("workers.png").await;
    }

    /// Readable on a phone: nothing wider than the screen but the tables' own scrolling.
    async fn fits_a_phone(&self) {
        self.browser.resize(390, 844).await.expect("resize");
        self.open("").await;
        self.wait("the overview on a phone", LIVE).await;
        let fits = "return document.documentElement.scrollWidth <= window.innerWidth + 1;";
        assert_eq!(
            self.browser.eval(fits, vec![]).await.expect("width"),
            true,
            "the page is wider than a phone"
        );
        self.shot("overview-phone.png").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs `--features fault-injection` (scripts/test.sh passes it)"
)]
async fn the_explorer_shows_live_work_rewards_receipts_and_a_jailed_worker() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path().to_string_lossy().into_owned();
    let mut args = support::devnet_args(&d);
    args.extend(["--workers", "3", "--corrupt-worker", "2", "--audit-fraction", "1", "--epoch-seconds", "4"]);
    let net = Node::start(&args);
    let keys: Vec<String> = net.ready["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["public_key"].as_str().expect("key").to_string())
        .collect();
    let scene = Scene {
        browser: Browser::start(1280, 900).await.expect("browser"),
        explorer: net.ready["explorer"].as_str().expect("explorer url").to_string(),
        base_url: net.ready["openai_base_url"].as_str().expect("router url").to_string(),
        liar: keys[2].clone(),
        keys,
        shots: shots(),
    };
    scene.overview_shows_live_workers().await;
    let served = scene.chats_raise_served_tokens().await;
    scene.credited_work_appears(&served.worker).await;
    scene.receipts_verify_until_changed(&served).await;
    scene.the_liar_shows_as_jailed().await;
    scene.fits_a_phone().await;
    scene.the_router_shows_its_stake_and_escrow().await;
    scene.browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_json_and_the_explorer_json_agree() {
    let mut w = Wallet::fresh();
    let alice = w.new_key("alice");
    let worker = w.new_key("worker1");
    let bob = w.new_key("bob");
    let dir = tempfile::tempdir().expect("dir");
    let genesis = dir.path().join("genesis.toml");
    write_genesis(&genesis, "wick-json", 3600, &[(alice.clone(), 1_000_000), (worker.clone(), 1_000_000)]);
    let ledger = start_ledger(&genesis, &dir.path().join("ledger"), &[]);
    w.ledger = ledger.grpc();
    w.ok(&["worker", "register", "--commission-bps", "500", "--key", "worker1"]);
    w.ok(&["stake", "1000", "--key", "worker1"]);
    w.ok(&["delegate", "worker1", "300", "--key", "alice"]);
    w.ok(&["proposal", "submit", "epoch_reward", "5", "--key", "worker1"]);
    let sent = w.json(&["transfer", &bob, "5", "--key", "alice"]);
    // The first endpoint refuses connections: the explorer fails over to the second.
    let ledgers = format!("http://127.0.0.1:9,{}", w.ledger);
    let explorer = Node::start(&["explorer", "--ledger", &ledgers, "--http", "127.0.0.1:0"]);
    let url = explorer.ready["http"].as_str().expect("http").to_string();

    let deadline = Instant::now() + Duration::from_secs(30);
    let head = sent["height"].as_u64().expect("height");
    while get(&format!("{url}/api/overview")).await["indexed_height"].as_u64() < Some(head) {
        assert!(Instant::now() < deadline, "the explorer did not index the ledger");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = get(&format!("{url}/api/accounts/{alice}")).await;
    assert_eq!(page["account"], w.json(&["balance", "alice"]));
    let wp = get(&format!("{url}/api/workers/{worker}")).await;
    assert_eq!(wp["worker"]["ledger"], w.json(&["worker", "show", "worker1"]));
    let rows = get(&format!("{url}/api/workers")).await;
    let ledger_rows: Vec<Value> =
        rows["workers"].as_array().expect("rows").iter().map(|r| r["ledger"].clone()).collect();
    assert_eq!(Value::Array(ledger_rows), w.json(&["worker", "list"]));
    let gov = get(&format!("{url}/api/governance")).await;
    assert_eq!(gov["params"], w.json(&["params"]));
    assert_eq!(gov["proposals"], w.json(&["proposal", "list"]));
    let hash = sent["hash"].as_str().expect("hash");
    let mut tx = get(&format!("{url}/api/txs/{hash}")).await["tx"].clone();
    tx["height"] = sent["height"].clone();
    assert_eq!(tx, sent, "the transaction as the CLI sent it and as the explorer decoded it");
}

/// `wick bench explorer`'s harness at a small scale (the figures are the bench's business; this
/// checks that it runs and measures what it says).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_bench_runs() {
    let args = wick_bench::explorer::ExplorerBench { accounts: 300, workers: 5, rounds: 2, json: true };
    let report = wick_bench::explorer::measure(&args, |_| {}).await.expect("bench");
    assert_eq!((report.accounts, report.workers), (300, 5));
    assert_eq!(report.paid_accounts, 300, "every worker and delegator was paid");
    assert!(report.overview_render.median_ms > 0.0 && report.overview_json.median_ms > 0.0);
}
