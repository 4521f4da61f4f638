//! Read-only ledger commands: `balance`, `params`, `epoch`, `proposal list|show`,
//! `worker show|list`, `router show`. Each prints `key: value` lines, or JSON with `--json`: the
//! serializers of `wick_ledger::json`, which the explorer's JSON uses too.

use serde::Serialize;
use serde_json::Value;
use wick_ledger::client::ClientError;
use wick_ledger::json::{AccountJson, EpochJson, ParamsJson, ProposalJson, RouterJson, WorkerJson};
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

fn print(q: &QueryOpts, v: &impl Serialize) {
    let v = serde_json::to_value(v).unwrap_or_default();
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
        print(&a.query, &AccountJson::new(&addr, &acc, &st));
        Ok(())
    })?
}

pub fn params(q: QueryOpts) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let p = c.params().await?;
        print(&q, &ParamsJson::from(&p));
        Ok(())
    })?
}

pub fn epoch(q: QueryOpts) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let e = c.epoch().await?;
        let head = c.head().await?;
        print(&q, &EpochJson::new(&e, &head));
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
        let list: Vec<ProposalJson> = ps.proposals.iter().map(ProposalJson::from).collect();
        match (id, list.first()) {
            (Some(_), Some(one)) => print(q, one),
            _ if q.json => println!("{}", serde_json::to_string(&list)?),
            _ if list.is_empty() => println!("no proposals"),
            _ => {
                for p in list {
                    println!(
                        "#{} {} = {}  [{}]  voting ends with epoch {}  yes {} / no {}",
                        p.id, p.param, p.value, p.status, p.voting_end, p.yes_power, p.no_power
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
        let mut w = c.worker(&a).await?;
        // The address of an unregistered worker is the one asked about.
        w.address = a.0.to_vec();
        print(q, &WorkerJson::from(&w));
        Ok(())
    })?
}

pub fn workers(q: &QueryOpts) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let list: Vec<WorkerJson> = c.workers().await?.iter().map(WorkerJson::from).collect();
        if q.json {
            println!("{}", serde_json::to_string(&list)?);
        } else if list.is_empty() {
            println!("no workers");
        } else {
            for w in list {
                let jailed = if w.jailed { "  jailed" } else { "" };
                println!(
                    "{}  own {}  delegated {}  commission {} bps{jailed}",
                    w.address, w.self_stake, w.delegated, w.commission_bps
                );
            }
        }
        Ok(())
    })?
}

pub fn router(q: &QueryOpts, a: Address) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let mut r = c.router(&a).await?;
        // The address of an unregistered router is the one asked about.
        r.address = a.0.to_vec();
        print(q, &RouterJson::from(&r));
        Ok(())
    })?
}
