//! A validator's ledger stake: `wick validator bond|unbond|list`. Voting power is bonded
//! validator stake; the set changes at epoch ends (the staking module's docs).

use wick_staking::{Amount, TxBody};

use crate::GlobalArgs;
use crate::gov::{AmountArgs, QueryOpts, block_on, connect, send};

#[derive(Debug, clap::Subcommand)]
pub enum ValidatorCommand {
    /// Bond your own tokens as validator stake (registers the key as a validator on first bond;
    /// it joins the set at the next epoch end, if its stake is among the largest).
    Bond(AmountArgs),
    /// Start unbonding validator stake (slashable for equivocation until released).
    Unbond(AmountArgs),
    /// List the registered validators: stake, jail, and power in the current set.
    List {
        #[command(flatten)]
        query: QueryOpts,
    },
}

pub fn run(global: &GlobalArgs, cmd: ValidatorCommand) -> anyhow::Result<()> {
    match cmd {
        ValidatorCommand::Bond(a) => send(global, &a.tx, TxBody::BondValidator { amount: Amount(a.amount) }),
        ValidatorCommand::Unbond(a) => {
            send(global, &a.tx, TxBody::UnbondValidator { amount: Amount(a.amount) })
        }
        ValidatorCommand::List { query } => list(&query),
    }
}

fn list(q: &QueryOpts) -> anyhow::Result<()> {
    block_on(async move {
        let mut c = connect(&q.ledger).await?;
        let validators = c.validators().await?;
        let rows: Vec<serde_json::Value> = validators
            .iter()
            .map(|v| {
                serde_json::json!({
                    "address": hex::encode(&v.address),
                    "stake": v.stake,
                    "power": v.power,
                    "jailed": v.jailed,
                    "jailed_until": v.jailed.then_some(v.jailed_until),
                })
            })
            .collect();
        if q.json {
            println!("{}", serde_json::Value::Array(rows));
        } else {
            println!("{:<64} {:>14} {:>14} {:>8}", "validator", "stake", "power", "jailed");
            for v in &validators {
                println!("{:<64} {:>14} {:>14} {:>8}", hex::encode(&v.address), v.stake, v.power, v.jailed);
            }
        }
        anyhow::Ok(())
    })?
}
