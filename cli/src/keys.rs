//! `wick keys`: account keys, kept as PKCS#8 PEM files (mode 0600) in `<home>/keys/<name>.pem`.
//! An account's address is its ed25519 public key, in hex. The worker's node key lives in the
//! same folder (`worker.pem`), so a worker's address is `wick keys show worker`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use wick_staking::Address;

use crate::GlobalArgs;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a new key.
    New {
        /// Key name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a key's address.
    Show {
        /// Key name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import a key from a PKCS#8 PEM file or a hex secret read from standard input.
    Import {
        /// Name to store it under.
        name: String,
        /// PKCS#8 PEM file.
        #[arg(long, conflicts_with = "secret_hex_stdin", required_unless_present_any = ["secret_hex_stdin", "secret_hex"])]
        pem: Option<PathBuf>,
        /// Read the 32-byte secret key, hex, from standard input.
        #[arg(long)]
        secret_hex_stdin: bool,
        /// Refused: a secret on the command line is visible to every user of the machine.
        #[arg(long, hide = true)]
        secret_hex: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List keys.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The folder that holds keys.
pub fn keys_dir(global: &GlobalArgs) -> PathBuf {
    global.store().home().join("keys")
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("key name {name:?} may hold only letters, digits, '-' and '_'");
    }
    Ok(())
}

/// The address of a key.
pub fn address(key: &SigningKey) -> Address {
    Address(key.verifying_key().to_bytes())
}

/// Loads a key by name, or from a path if `name_or_path` names an existing `.pem` file.
pub fn load(global: &GlobalArgs, name_or_path: &str) -> anyhow::Result<SigningKey> {
    let as_path = Path::new(name_or_path);
    let path = if name_or_path.ends_with(".pem") && as_path.exists() {
        as_path.to_path_buf()
    } else {
        keys_dir(global).join(format!("{name_or_path}.pem"))
    };
    if !path.exists() {
        bail!(
            "no key {name_or_path:?} (looked for {}); create one with `wick keys new {name_or_path}`",
            path.display()
        );
    }
    Ok(wick_net::identity::load(&path)?)
}

/// Parses an address: 64 hex characters, or the name of a key in the key folder.
pub fn resolve_address(global: &GlobalArgs, s: &str) -> anyhow::Result<Address> {
    if let Some(a) = wick_staking::genesis::parse_address(s) {
        return Ok(a);
    }
    if s.len() == 64 {
        bail!("{s:?} is not a hex address");
    }
    load(global, s)
        .map(|k| address(&k))
        .with_context(|| format!("{s:?} is neither a 64-hex-character address nor a key name"))
}

fn save(dir: &Path, name: &str, key: &SigningKey) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    wick_net::identity::create_private_dir(dir)
        .with_context(|| format!("while creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.pem"));
    let pem = key.to_pkcs8_pem(Default::default()).map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("key {name:?} already exists ({}); pick another name", path.display())
        } else {
            anyhow::anyhow!("while creating {}: {e}", path.display())
        }
    })?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    Ok(path)
}

fn print_key(name: &str, key: &SigningKey, path: &Path, json: bool) {
    let a = address(key).to_string();
    if json {
        let v = serde_json::json!({ "name": name, "address": a, "public_key": a, "path": path.display().to_string() });
        println!("{v}");
    } else {
        println!("{name}\taddress {a}\t{}", path.display());
    }
}

pub fn run(global: &GlobalArgs, cmd: KeysCommand) -> anyhow::Result<()> {
    let dir = keys_dir(global);
    match cmd {
        KeysCommand::New { name, json } => {
            let mut secret = [0u8; 32];
            rand::fill(&mut secret);
            let key = SigningKey::from_bytes(&secret);
            let path = save(&dir, &name, &key)?;
            print_key(&name, &key, &path, json);
        }
        KeysCommand::Show { name, json } => {
            let key = load(global, &name)?;
            print_key(&name, &key, &dir.join(format!("{name}.pem")), json);
        }
        KeysCommand::Import { name, pem, secret_hex_stdin, secret_hex, json } => {
            if secret_hex.is_some() {
                bail!(
                    "a secret on the command line is visible to every user of this machine (ps, shell \
                     history); pipe it instead: `wick keys import {name} --secret-hex-stdin < secret.hex`"
                );
            }
            let key = match (pem, secret_hex_stdin) {
                (Some(p), _) => {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("while reading {}", p.display()))?;
                    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
                        anyhow::anyhow!("{} is not a PKCS#8 PEM ed25519 key: {e}", p.display())
                    })?
                }
                (None, true) => {
                    let mut h = String::new();
                    std::io::stdin()
                        .read_line(&mut h)
                        .context("while reading the secret from standard input")?;
                    let mut s = [0u8; 32];
                    hex::decode_to_slice(h.trim(), &mut s).map_err(|_| {
                        anyhow::anyhow!("the secret on standard input must be 64 hex characters (32 bytes)")
                    })?;
                    SigningKey::from_bytes(&s)
                }
                (None, false) => bail!("give --pem FILE or --secret-hex-stdin"),
            };
            let path = save(&dir, &name, &key)?;
            print_key(&name, &key, &path, json);
        }
        KeysCommand::List { json } => {
            let mut names: Vec<String> = match std::fs::read_dir(&dir) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str()?.strip_suffix(".pem").map(str::to_string))
                    .collect(),
                Err(_) => Vec::new(),
            };
            names.sort();
            let mut out = Vec::new();
            for n in &names {
                match load(global, n) {
                    Ok(k) => out.push((n.clone(), address(&k).to_string())),
                    Err(e) => eprintln!("skipping {n}: {e:#}"),
                }
            }
            if json {
                let v: Vec<_> =
                    out.iter().map(|(n, a)| serde_json::json!({"name": n, "address": a})).collect();
                println!("{}", serde_json::Value::Array(v));
            } else if out.is_empty() {
                println!("no keys in {}; create one with `wick keys new NAME`", dir.display());
            } else {
                for (n, a) in out {
                    println!("{n}\t{a}");
                }
            }
        }
    }
    Ok(())
}
