//! Ledger test support: a genesis file, a real `wick ledger` process on a loopback port, and a
//! wallet (its own WICK_HOME) that runs `wick` governance commands against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wick_staking::genesis::{Genesis, GenesisAccount, GenesisAmount, GenesisParams};

use crate::support::Node;

/// Starts `wick ledger` on `genesis` with its data in `dir`.
pub fn start_ledger(genesis: &Path, dir: &Path, extra: &[&str]) -> Node {
    let (g, d) = (genesis.to_string_lossy().into_owned(), dir.to_string_lossy().into_owned());
    let mut args = vec!["ledger", "--genesis", &g, "--dir", &d, "--grpc", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Node::start(&args)
}

/// A genesis with `accounts` funded, written to `path`.
pub fn write_genesis(
    path: &Path,
    chain_id: &str,
    epoch_seconds: u64,
    accounts: &[(String, u128)],
) -> Genesis {
    let g = Genesis {
        chain_id: chain_id.into(),
        epoch_seconds,
        params: GenesisParams::default(),
        accounts: accounts
            .iter()
            .map(|(a, b)| GenesisAccount { address: a.clone(), balance: GenesisAmount(*b) })
            .collect(),
        workers: Vec::new(),
        delegations: Vec::new(),
        routers: Vec::new(),
        validators: Vec::new(),
    };
    std::fs::write(path, g.to_toml()).expect("write genesis");
    g
}

/// A `wick` user with its own home (keys) talking to one ledger.
pub struct Wallet {
    pub home: tempfile::TempDir,
    pub ledger: String,
}

impl Wallet {
    pub fn fresh() -> Wallet {
        Wallet { home: tempfile::tempdir().expect("home"), ledger: String::new() }
    }

    pub fn home(&self) -> PathBuf {
        self.home.path().to_path_buf()
    }

    /// Runs `wick ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wick"))
            .args(args)
            .env("WICK_HOME", self.home.path())
            .env("WICK_LEDGER", &self.ledger)
            .env_remove("WICK_KEY")
            .output()
            .expect("run wick")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "wick {args:?} failed:\nstdout: {so}\nstderr: {se}");
        so.into_owned()
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a);
        serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("wick {a:?} printed non-JSON ({e}): {out}"))
    }

    /// Runs and expects failure; returns stderr.
    pub fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let se = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "wick {args:?} succeeded, expected failure:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        se
    }

    /// `wick keys new NAME`; returns the address.
    pub fn new_key(&self, name: &str) -> String {
        self.json(&["keys", "new", name])["address"].as_str().expect("address").to_string()
    }

    /// The key file of `name`.
    pub fn key_path(&self, name: &str) -> PathBuf {
        self.home.path().join("keys").join(format!("{name}.pem"))
    }
}

/// Amount field of a JSON value (amounts are decimal strings).
pub fn amount(v: &serde_json::Value) -> u128 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not an amount: {v}"))
}
