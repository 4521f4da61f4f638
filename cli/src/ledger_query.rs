//! Read-only ledger commands: `balance`, `params`, `epoch`, `proposal list|show`,
//! `worker show`, `router show`. Each prints `key: value` lines, or one JSON object with `--json`.

use serde_json::{Value, json};
use wick_ledger::client::ClientError;
use wick_staking::Address;

use crate::GlobalArgs;
use crate::gov::{QueryOpts, block_on, connect};
use crate::keys;

#[derive(Debug, clap::Args)]
pub struct BalanceArgs {
    /// Address or key name (default: --key).
    pub account: Option<String>,
    /// Key whose account to show when no account is given.
    #[arg(long, env = "WICK_KEY", default_value = "default")]
    pub key: String,
    #[command(flatten)]
    pub query: QueryOpts,
}

fn hex_addr(b: &[u8]) -> String {
    hex::encode(b)
}

fn print(q: &QueryOpts, v: &Value) {
    if q.json {
        println!("{v}");
        return;
    }
    if let Value::Object(m) = v {
        for (k, val) in m {
            match val {
                Value::String(s) => println!("{k}: {s}"),
                Value::Array(a) if a.is_empty() => println!("{k}: none"),
                Value::Array(a) => {
                    println!("{k}:");
                    for item in a {
                        println!("  {item}");
                    }
                }
                other => println!("{k}: {other}"),
            }
        }
    }
}

pub fn balance(global: &GlobalArgs, a: BalanceArgs) -> anyhow::Result<()> {
    let who = a.account.as_deref().unwrap_or(&a.key);
    let addr = keys::resolve_address(global, who)?;
    block_on(async move {
        let mut c = connect(&a.query.ledger).await?;
        let acc = c.account(&addr).await?;
        let st = c.stake(&addr).await?;
        let unb: Vec<Value> = acc
            .unbonding
            .iter()
            .map(|u| {
                json!({"release_epoch": u.release_epoch, "amount": u.amount, "kind": u.kind,
                       "bonded_to": hex_addr(&u.bonded_to), "started_epoch": u.started_epoch})
            })
            .collect();
        let dels: Vec<Value> = st
            .delegations
            .iter()
            .map(|d| json!({"worker": hex_addr(&d.worker), "amount": d.amount}))
            .collect();
        let mut v = json!({
            "address": addr.to_string(),
            "balance": acc.balance,
            "nonce": acc.nonce,
            "rewards": acc.rewards,
            "delegations": dels,
            "unbonding": unb,
        });
        if st.is_worker {
            v["self_stake"] = st.self_stake.into();
            v["delegated_to_me"] = st.delegated_to.into();
        }
        print(&a.query, &v);
        Ok(())
    })?
}

pub fn params(q: QueryOpts) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let p = c.params().await?;
        let mut v = json!({"chain_id": p.chain_id, "epoch_seconds": p.epoch_seconds});
        for b in &p.bounds {
            v[b.param.as_str()] = b.value.clone().into();
        }
        if q.json {
            v["bounds"] = p
                .bounds
                .iter()
                .map(|b| json!({"param": b.param, "min": b.min, "max": b.max}))
                .collect::<Vec<_>>()
                .into();
            println!("{v}");
        } else {
            println!("chain_id: {}\nepoch_seconds: {}", p.chain_id, p.epoch_seconds);
            for b in &p.bounds {
                println!("{}: {}  (governance may set {} ..= {})", b.param, b.value, b.min, b.max);
            }
        }
        Ok(())
    })?
}

pub fn epoch(q: QueryOpts) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let e = c.epoch().await?;
        let head = c.head().await?;
        let v = json!({
            "epoch": e.epoch,
            "seconds_left": e.seconds_left,
            "ends_unix_ms": e.ends_unix_ms,
            "epoch_seconds": e.epoch_seconds,
            "height": e.height,
            "state_root": hex::encode(&head.state_root),
            "last_epoch_minted": e.last_epoch_minted,
            "last_epoch_paid": e.last_epoch_paid,
            "last_epoch_burned": e.last_epoch_burned,
            "last_epoch_credited_workers": e.last_epoch_credited_workers,
            "supply": head.supply,
        });
        print(&q, &v);
        Ok(())
    })?
}

pub fn proposals(q: &QueryOpts, id: Option<u64>) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let ps = c.proposals(id).await.map_err(|e| match e {
            ClientError::Status(s) => anyhow::anyhow!("{}", s.message()),
            e => e.into(),
        })?;
        let list: Vec<Value> = ps
            .proposals
            .iter()
            .map(|p| {
                json!({"id": p.id, "param": p.param, "value": p.value, "voting_start": p.voting_start,
                       "voting_end": p.voting_end, "effective_epoch": p.effective_epoch, "status": p.status,
                       "yes_power": p.yes_power, "no_power": p.no_power, "voters": p.voters,
                       "proposer": hex_addr(&p.proposer)})
            })
            .collect();
        match (id, list.first()) {
            (Some(_), Some(one)) => print(q, one),
            _ if q.json => println!("{}", Value::Array(list)),
            _ if list.is_empty() => println!("no proposals"),
            _ => {
                for p in list {
                    println!(
                        "#{} {} = {}  [{}]  voting ends with epoch {}  yes {} / no {}",
                        p["id"],
                        p["param"].as_str().unwrap_or(""),
                        p["value"].as_str().unwrap_or(""),
                        p["status"].as_str().unwrap_or(""),
                        p["voting_end"],
                        p["yes_power"].as_str().unwrap_or(""),
                        p["no_power"].as_str().unwrap_or("")
                    );
                }
            }
        }
        Ok(())
    })?
}

pub fn worker(q: &QueryOpts, a: Address) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let w = c.worker(&a).await?;
        let v = json!({
            "address": a.to_string(),
            "registered": w.registered,
            "commission_bps": w.commission_bps,
            "self_stake": w.self_stake,
            "delegated": w.delegated,
            "bonded": w.bonded,
            "jailed": w.jailed,
            "jailed_until": w.jailed_until,
            "claimed_this_epoch": w.claimed_this_epoch,
            "epoch": w.epoch,
        });
        print(q, &v);
        Ok(())
    })?
}

pub fn router(q: &QueryOpts, a: Address) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let r = c.router(&a).await?;
        let v = json!({
            "address": a.to_string(),
            "registered": r.registered,
            "stake": r.stake,
            "escrow": r.escrow,
            "jailed": r.jailed,
            "jailed_until": r.jailed_until,
            "epoch": r.epoch,
        });
        print(q, &v);
        Ok(())
    })?
}
