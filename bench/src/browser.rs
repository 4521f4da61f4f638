//! Headless Chromium driven over WebDriver: chromedriver's HTTP API spoken with `reqwest`, the
//! smallest client that the explorer's browser test and its benchmark need (open a page, run a
//! script, type, click, take a screenshot). Debian's `chromium` and `chromium-driver` provide
//! the two programs (`scripts/setup.sh` installs them); `WICK_CHROMIUM` and `WICK_CHROMEDRIVER`
//! name others.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// Chromium's flags: headless, and nothing that reaches beyond this machine.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// The key WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What went wrong driving the browser.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// A program is not installed.
    #[error("{0} not found: run scripts/setup.sh (it installs Debian's chromium and chromium-driver)")]
    Missing(&'static str),
    /// chromedriver could not be started.
    #[error("cannot start chromedriver: {0}")]
    Start(#[from] std::io::Error),
    /// The HTTP exchange with chromedriver failed.
    #[error("chromedriver: {0}")]
    Http(#[from] reqwest::Error),
    /// chromedriver answered with an error.
    #[error("webdriver {error}: {message}")]
    WebDriver {
        /// WebDriver error code.
        error: String,
        /// Its message.
        message: String,
    },
    /// A condition did not hold in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// A screenshot could not be decoded or saved.
    #[error("screenshot: {0}")]
    Screenshot(String),
}

fn find(env: &str, names: &[&str], what: &'static str) -> Result<PathBuf, BrowserError> {
    if let Some(p) = std::env::var_os(env) {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .ok_or(BrowserError::Missing(what))
}

/// A browser session; [`Browser::close`] ends it (dropping it kills the processes).
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    /// Chromium's profile, fresh for each browser.
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height` window.
    pub async fn start(width: u32, height: u32) -> Result<Browser, BrowserError> {
        let chromium = find("WICK_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"], "chromium")?;
        let chromedriver = find("WICK_CHROMEDRIVER", &["chromedriver"], "chromedriver")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = Command::new(chromedriver);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so that the browser it starts goes down with it.
        command.process_group(0);
        let driver = command.spawn()?;
        let profile = tempfile::tempdir()?;
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            profile,
        };
        browser.wait_ready().await?;
        let mut args: Vec<String> = FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", browser.profile.path().display()));
        args.push(format!("--window-size={width},{height}"));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}}}});
        let session = browser.call(reqwest::Method::POST, "/session", Some(caps)).await?;
        let id = session["sessionId"].as_str().unwrap_or_default().to_string();
        browser.base = format!("{}/session/{id}", browser.base);
        Ok(browser)
    }

    async fn wait_ready(&mut self) -> Result<(), BrowserError> {
        let started = Instant::now();
        loop {
            if let Ok(r) = self.http.get(format!("{}/status", self.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(BrowserError::Timeout("chromedriver to start".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, BrowserError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await?;
        if !ok {
            let e = &v["value"];
            return Err(BrowserError::WebDriver {
                error: e["error"].as_str().unwrap_or("unknown").into(),
                message: e["message"].as_str().unwrap_or_default().chars().take(500).collect(),
            });
        }
        Ok(v["value"].clone())
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await.map(drop)
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns what it returns.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Result<Value, BrowserError> {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Runs `script` until it returns something other than `null`, `false` or `""`, at most
    /// `timeout`; `what` names the wait in the error.
    pub async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Result<Value, BrowserError> {
        let started = Instant::now();
        loop {
            let v = self.eval(script, Vec::new()).await?;
            if !(v.is_null() || v == false || v == "") {
                return Ok(v);
            }
            if started.elapsed() > timeout {
                return Err(BrowserError::Timeout(what.to_string()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn element(&self, css: &str) -> Result<String, BrowserError> {
        let v = self
            .call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await?;
        Ok(v[ELEMENT].as_str().unwrap_or_default().to_string())
    }

    /// Clears the element matching `css` and types `text` into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<(), BrowserError> {
        let id = self.element(css).await?;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await?;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text})))
            .await
            .map(drop)
    }

    /// Sends `keys` (text, or WebDriver key codes such as `\u{E007}` for Enter) to the element
    /// matching `css`, which gets the focus.
    pub async fn keys(&self, css: &str, keys: &str) -> Result<(), BrowserError> {
        self.on_element(css, "value", json!({"text": keys})).await
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) -> Result<(), BrowserError> {
        self.on_element(css, "click", json!({})).await
    }

    /// Finds the element matching `css` and posts `body` to its `action`. A live page may
    /// re-render between the two (a table refreshed by its event stream): the element is then
    /// stale, and is found again, a few times.
    async fn on_element(&self, css: &str, action: &str, body: serde_json::Value) -> Result<(), BrowserError> {
        let mut attempts = 0;
        loop {
            let id = self.element(css).await?;
            let path = format!("/element/{id}/{action}");
            match self.call(reqwest::Method::POST, &path, Some(body.clone())).await {
                Err(BrowserError::WebDriver { error, .. })
                    if error == "stale element reference" && attempts < 5 =>
                {
                    attempts += 1;
                }
                result => return result.map(drop),
            }
        }
    }

    /// Resizes the window.
    pub async fn resize(&self, width: u32, height: u32) -> Result<(), BrowserError> {
        let body = json!({"width": width, "height": height});
        self.call(reqwest::Method::POST, "/window/rect", Some(body)).await.map(drop)
    }

    /// Saves a PNG of the window to `path` (creating its folder).
    pub async fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| BrowserError::Screenshot(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BrowserError::Screenshot(e.to_string()))?;
        }
        std::fs::write(path, png).map_err(|e| BrowserError::Screenshot(format!("{}: {e}", path.display())))
    }

    /// Ends the session (Chromium quits) and stops chromedriver.
    pub async fn close(self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            // SAFETY: signals the process group of our own child, made with `process_group(0)`.
            unsafe { libc::killpg(pid, libc::SIGKILL) };
        }
        let _ = self.driver.wait();
    }
}
