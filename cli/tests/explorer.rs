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
    let explorer = net.ready["explorer"].as_str().expect("explorer url").to_string();
    let base_url = net.ready["openai_base_url"].as_str().expect("router url").to_string();
    let keys: Vec<String> = net.ready["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["public_key"].as_str().expect("key").to_string())
        .collect();
    let liar = keys[2].clone();
    let shots = shots();
    let browser = Browser::start(1280, 900).await.expect("browser");
    let long = Duration::from_secs(60);

    // The overview shows the three live workers.
    browser.goto(&format!("{explorer}/#/")).await.expect("overview");
    let live = "const d = document.querySelector('[data-stat=live_workers]');
                return d && d.childNodes[0].textContent.trim() === '3';";
    browser.wait_for("three live workers on the overview", live, long).await.expect("live workers");
    browser
        .wait_for(
            "the live workers' table",
            "return document.querySelectorAll('#live tbody tr[data-worker]').length === 3",
            long,
        )
        .await
        .expect("table");
    browser.screenshot(&shots.join("overview.png")).await.expect("screenshot");

    // A chat through the router makes its worker's served tokens rise on the workers page,
    // without a reload.
    browser.goto(&format!("{explorer}/#/workers")).await.expect("workers");
    browser
        .wait_for(
            "worker rows",
            "return document.querySelectorAll('#workers tbody tr[data-worker]').length === 3",
            long,
        )
        .await
        .expect("rows");
    browser.eval("window.notReloaded = true; return true;", vec![]).await.expect("marker");
    let served = |w: &str| number_at(&format!("#workers tr[data-worker='{w}'] td[data-col=tokens_served]"));
    let mut honest = None;
    for i in 0..10 {
        let before: BTreeMap<String, Value> = {
            let mut m = BTreeMap::new();
            for k in &keys {
                m.insert(k.clone(), browser.eval(&served(k), vec![]).await.expect("served"));
            }
            m
        };
        let (header, body) = chat(&base_url, &format!("Name a fruit ({i}).")).await;
        let worker = body["wick_receipt"]["worker_public_key"].as_str().expect("worker").to_string();
        let was = before[&worker].as_u64().unwrap_or(0);
        let rose = format!(
            "const n = (() => {{ {} }})(); return window.notReloaded === true && n !== null && n > {was};",
            served(&worker)
        );
        browser
            .wait_for("the served tokens to rise without a reload", &rose, Duration::from_secs(20))
            .await
            .expect("tokens rise");
        if worker != liar {
            honest = Some((worker, header, body));
            break;
        }
    }
    let (worker, header, body) = honest.expect("an honest worker served one of ten chats");
    browser.screenshot(&shots.join("workers-served.png")).await.expect("screenshot");

    // After the epoch ends, its credited work and reward appear on its page.
    browser.goto(&format!("{explorer}/#/worker/{worker}")).await.expect("worker page");
    let credited = "for (const tr of document.querySelectorAll('#history tbody tr')) {
          const n = (col) => Number((tr.querySelector(`[data-col=${col}]`)?.textContent ?? '').replace(/[^0-9]/g, '') || 0);
          const c = n('credited_tokens'), r = n('reward');
          if (c > 0 && r > 0) return [c, r];
        } return null;";
    browser
        .wait_for("credited work and a reward on the worker's page", credited, long)
        .await
        .expect("credited");
    browser
        .wait_for("the charts", "return document.querySelectorAll('svg.chart rect').length >= 2", long)
        .await
        .expect("charts");
    browser.screenshot(&shots.join("worker.png")).await.expect("screenshot");

    // The chat's receipt verifies, as hex and as JSON; one changed character makes it invalid.
    browser.goto(&format!("{explorer}/#/receipt")).await.expect("receipt page");
    let verdicts = |w: &str, r: &str| {
        format!(
            "const w = document.querySelector('[data-check=worker] strong'), r = document.querySelector('[data-check=router] strong');
             return !!w && !!r && w.textContent === '{w}' && r.textContent === '{r}';"
        )
    };
    let check = |text: String| {
        let browser = &browser;
        async move {
            browser.eval("const r = document.getElementById('receipt-result'); if (r) r.innerHTML = ''; return true;", vec![]).await.expect("clear");
            browser.type_into("#receipt", &text).await.expect("paste");
            browser.click("#check").await.expect("check");
        }
    };
    check(header.clone()).await;
    browser
        .wait_for("both signatures verified", &verdicts("verified", "verified"), long)
        .await
        .expect("verified");
    browser.screenshot(&shots.join("receipt-verified.png")).await.expect("screenshot");
    check(body["wick_receipt"].to_string()).await;
    browser
        .wait_for("the JSON receipt verified", &verdicts("verified", "verified"), long)
        .await
        .expect("json verified");
    // One hex digit of the job hash, which both signatures cover.
    let job = body["wick_receipt"]["job_hash"].as_str().expect("job hash");
    let at = header.find(job).expect("the job hash in the protobuf") + 10;
    let mut changed = header.clone().into_bytes();
    changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
    check(String::from_utf8(changed).expect("ascii")).await;
    browser
        .wait_for("both signatures invalid", &verdicts("invalid", "invalid"), long)
        .await
        .expect("invalid");
    browser.screenshot(&shots.join("receipt-invalid.png")).await.expect("screenshot");

    // The lying worker ends up jailed, and the workers page says so.
    browser.goto(&format!("{explorer}/#/workers")).await.expect("workers");
    let jailed = format!(
        "const s = document.querySelector(\"#workers tr[data-worker='{liar}'] td[data-col=status]\"); return !!s && s.textContent.trim() === 'jailed';"
    );
    let started = Instant::now();
    let mut i = 0;
    while browser.wait_for("the liar jailed", &jailed, Duration::from_secs(2)).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(240), "the lying worker was not shown as jailed");
        chat(&base_url, &format!("Name a colour ({i}).")).await;
        i += 1;
    }
    // Keyboard: the sort buttons are buttons; Enter on one sorts the table.
    browser.keys("#workers button[data-sort=status]", "\u{E007}").await.expect("enter");
    browser
        .wait_for("sorted by status", "return !!document.querySelector('#workers th[aria-sort]')", long)
        .await
        .expect("sorted");
    browser.screenshot(&shots.join("workers.png")).await.expect("screenshot");

    // Readable on a phone: nothing wider than the screen but the tables' own scrolling.
    browser.resize(390, 844).await.expect("resize");
    browser.goto(&format!("{explorer}/#/")).await.expect("overview");
    browser.wait_for("the overview", live, long).await.expect("overview on a phone");
    let fits = "return document.documentElement.scrollWidth <= window.innerWidth + 1;";
    assert_eq!(browser.eval(fits, vec![]).await.expect("width"), true, "the page is wider than a phone");
    browser.screenshot(&shots.join("overview-phone.png")).await.expect("screenshot");
    browser.close().await;
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
    let explorer = Node::start(&["explorer", "--ledger", &w.ledger, "--http", "127.0.0.1:0"]);
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
