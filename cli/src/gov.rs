//! Governance and wallet commands that send transactions to a ledger: `transfer`, `stake`,
//! `unstake`, `delegate`, `undelegate`, `rewards withdraw`, `worker register`,
//! `proposal submit|vote`, `unjail` (the router's and escrow's are in [`crate::router_ledger`]).
//! Each signs with a key from `wick keys`, takes the nonce and the required fee from the ledger,
//! and with `--dry-run` prints the signed transaction instead of sending it.

use std::future::Future;

use anyhow::{Context, bail};
use wick_ledger::client::{Client, ClientError};
use wick_staking::{Address, Amount, ParamKey, TxBody};

use crate::GlobalArgs;
use crate::keys;

/// Where the ledger is and how to print.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryOpts {
    /// Ledger gRPC endpoints (comma-separated: the first that answers is used).
    #[arg(long, env = "WICK_LEDGER", default_value = "http://127.0.0.1:7100")]
    pub ledger: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of every command that sends a transaction.
#[derive(Debug, Clone, clap::Args)]
pub struct TxOpts {
    #[command(flatten)]
    pub query: QueryOpts,
    /// Signing key: a name from `wick keys list`, or a .pem file.
    #[arg(long, env = "WICK_KEY", default_value = "default")]
    pub key: String,
    /// Fee, burned (default: the smallest the ledger accepts, `min_fee + fee_per_byte × size`;
    /// see `wick params`).
    #[arg(long)]
    pub fee: Option<u128>,
    /// Check and print the signed transaction without sending it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct TransferArgs {
    /// Recipient: an address (64 hex characters) or a key name.
    pub to: String,
    /// Amount in base units.
    pub amount: u128,
    #[command(flatten)]
    pub tx: TxOpts,
}

#[derive(Debug, clap::Args)]
pub struct AmountArgs {
    /// Amount in base units.
    pub amount: u128,
    #[command(flatten)]
    pub tx: TxOpts,
}

#[derive(Debug, clap::Args)]
pub struct DelegateArgs {
    /// Worker: an address or a key name.
    pub worker: String,
    /// Amount in base units.
    pub amount: u128,
    #[command(flatten)]
    pub tx: TxOpts,
}

#[derive(Debug, clap::Subcommand)]
pub enum RewardsCommand {
    /// Move accrued rewards to the balance.
    Withdraw(TxOptsOnly),
}

#[derive(Debug, clap::Args)]
pub struct TxOptsOnly {
    #[command(flatten)]
    pub tx: TxOpts,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProposalCommand {
    /// Propose a parameter change (applies from the epoch after voting ends, if it passes).
    Submit {
        /// Parameter, as `wick params` names it (each has bounds the ledger enforces).
        param: String,
        /// New value.
        value: u128,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Vote on a proposal.
    Vote {
        /// Proposal id.
        id: u64,
        /// yes or no.
        vote: String,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// List proposals.
    List(QueryOpts),
    /// Show one proposal.
    Show {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        query: QueryOpts,
    },
}

/// `wick worker …`: run a worker node, or (with a subcommand) act on the ledger as one.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WorkerCli {
    #[command(subcommand)]
    pub command: Option<WorkerLedgerCommand>,
    #[command(flatten)]
    pub run: crate::worker::WorkerArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum WorkerLedgerCommand {
    /// Register the key as a worker on the ledger.
    Register {
        /// Commission on delegators' rewards, basis points (0..=10000).
        #[arg(long, default_value_t = 0)]
        commission_bps: u32,
        #[command(flatten)]
        tx: TxOpts,
    },
    /// Show a worker's registration, stake and jailed flag.
    Show {
        /// Worker: an address or a key name.
        worker: String,
        #[command(flatten)]
        query: QueryOpts,
    },
    /// List every registered worker with its stake, commission and jailed flag.
    List(QueryOpts),
}

/// Runs `f` on a small runtime.
pub fn block_on<F: Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("while starting the async runtime")?;
    Ok(rt.block_on(f))
}

/// Connects to the ledger (the first of a comma-separated list that answers), saying what to
/// check when none is there.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    Client::connect_any(url).await.map_err(|e| {
        anyhow::anyhow!("{e}\nis `wick ledger` running there? point to it with --ledger URL or WICK_LEDGER")
    })
}

fn hint(code: &str) -> &'static str {
    match code {
        "bad_nonce" => "another transaction from this key was committed meanwhile; run the command again",
        "insufficient_balance" => "check the balance with `wick balance`",
        "insufficient_stake" => "check what is bonded with `wick balance`",
        "not_worker" => "register first with `wick worker register`, or check the worker address",
        "already_worker" => "this key is already a registered worker",
        "wrong_epoch" => "the epoch has changed; check it with `wick epoch`",
        "no_voting_power" => "stake or delegate first: voting power is bonded stake",
        "voting_closed" => "see `wick proposal show ID` for the voting period",
        "already_voted" => "each key votes once per proposal",
        "no_rewards" => "rewards accrue at epoch ends to workers with credited work and their delegators",
        "wrong_chain" => "the ledger runs another chain; check --ledger",
        "fee_too_low" => "leave --fee out to pay the required fee, or see `wick params`",
        "cannot_pay_fee" => "the account cannot pay the fee; fund it first (`wick balance` shows it)",
        "not_router" => "register first with `wick router register`, or check the router address",
        "already_router" => "this key is already a registered router",
        "not_bonded" => "bond stake first (`wick stake` for a worker, `wick router bond` for a router)",
        "jailed" => "jailed keys cannot do this; wait for the jail to end, then `wick unjail`",
        "still_jailed" => "the jail has not ended yet; `wick worker show` / `wick router show` say when",
        "not_jailed" => "nothing to unjail",
        "jailed_unbonding" => "a jailed key cannot unbond until its jail ends and it unjails",
        "insufficient_escrow" => "fund the router's escrow with `wick escrow fund`",
        "bad_param" => "see `wick params` for each parameter's bounds",
        "self_report" => "a key cannot report itself",
        "evidence_too_old" => "evidence must land within the window `wick params` shows",
        _ => "",
    }
}

/// Explains a failed submission.
pub fn explain(e: ClientError) -> anyhow::Error {
    match &e {
        ClientError::Rejected { code, .. } if !hint(code).is_empty() => {
            anyhow::anyhow!("{e}\nhint: {}", hint(code))
        }
        _ => anyhow::Error::new(e),
    }
}

/// What a transaction takes from the balance besides the fee.
fn spend(body: &TxBody) -> u128 {
    match body {
        TxBody::Transfer { amount, .. }
        | TxBody::Stake { amount }
        | TxBody::Delegate { amount, .. }
        | TxBody::BondRouter { amount }
        | TxBody::FundEscrow { amount }
        | TxBody::BondValidator { amount } => amount.0,
        _ => 0,
    }
}

/// A readable description of a transaction (what `--dry-run` and `--json` print): the shared
/// serializer, so the explorer shows the same JSON for it.
pub fn describe(tx: &wick_staking::SignedTx) -> serde_json::Value {
    serde_json::to_value(wick_ledger::json::TxJson::from(tx)).unwrap_or_default()
}

/// Signs `body` with the options' key and sends it (or prints it with `--dry-run`).
pub fn send(global: &GlobalArgs, opts: &TxOpts, body: TxBody) -> anyhow::Result<()> {
    let key = keys::load(global, &opts.key)?;
    block_on(async move {
        let signer = keys::address(&key);
        let mut client = connect(&opts.query.ledger).await?;
        let out = spend(&body);
        let tx = client.sign(&key, opts.fee.map(Amount), body).await?;
        let fee = tx.tx.fee.0;
        let acc = client.account(&signer).await?;
        let balance: u128 = acc.balance.parse().context("the ledger sent a malformed balance")?;
        let Some(needed) = out.checked_add(fee) else {
            bail!("amount {out} + fee {fee} overflows a u128");
        };
        if balance < needed {
            bail!(
                "insufficient balance: {signer} has {balance}, this needs {needed} ({out} + fee {fee}); \
                 fund the account or lower the amount"
            );
        }
        let mut desc = describe(&tx);
        if opts.dry_run {
            desc["dry_run"] = true.into();
            println!("{}", if opts.query.json { desc.to_string() } else { pretty(&desc) });
            return Ok(());
        }
        let done = client.submit(&tx).await.map_err(explain)?;
        if opts.query.json {
            desc["height"] = done.height.into();
            println!("{desc}");
        } else {
            println!(
                "{} committed in block {} (tx {})",
                desc["kind"].as_str().unwrap_or("transaction"),
                done.height,
                hex::encode(done.hash)
            );
        }
        Ok(())
    })?
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn parse_vote(s: &str) -> anyhow::Result<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" => Ok(true),
        "no" | "n" | "false" => Ok(false),
        _ => bail!("vote must be yes or no, not {s:?}"),
    }
}

pub fn transfer(global: &GlobalArgs, a: TransferArgs) -> anyhow::Result<()> {
    let to = keys::resolve_address(global, &a.to)?;
    send(global, &a.tx, TxBody::Transfer { to, amount: Amount(a.amount) })
}

pub fn stake(global: &GlobalArgs, a: AmountArgs) -> anyhow::Result<()> {
    send(global, &a.tx, TxBody::Stake { amount: Amount(a.amount) })
}

pub fn unstake(global: &GlobalArgs, a: AmountArgs) -> anyhow::Result<()> {
    send(global, &a.tx, TxBody::Unstake { amount: Amount(a.amount) })
}

pub fn delegate(global: &GlobalArgs, a: DelegateArgs, undelegate: bool) -> anyhow::Result<()> {
    let worker: Address = keys::resolve_address(global, &a.worker)?;
    let amount = Amount(a.amount);
    let body =
        if undelegate { TxBody::Undelegate { worker, amount } } else { TxBody::Delegate { worker, amount } };
    send(global, &a.tx, body)
}

pub fn unjail(global: &GlobalArgs, a: TxOptsOnly) -> anyhow::Result<()> {
    send(global, &a.tx, TxBody::Unjail)
}

pub fn rewards(global: &GlobalArgs, cmd: RewardsCommand) -> anyhow::Result<()> {
    match cmd {
        RewardsCommand::Withdraw(a) => send(global, &a.tx, TxBody::WithdrawRewards),
    }
}

pub fn proposal(global: &GlobalArgs, cmd: ProposalCommand) -> anyhow::Result<()> {
    match cmd {
        ProposalCommand::Submit { param, value, tx } => {
            let Some(key) = ParamKey::from_name(&param) else {
                let names: Vec<&str> = ParamKey::ALL.iter().map(|k| k.name()).collect();
                bail!("unknown parameter {param:?}; one of {}", names.join(", "));
            };
            send(global, &tx, TxBody::Propose { key, value })
        }
        ProposalCommand::Vote { id, vote, tx } => {
            send(global, &tx, TxBody::Vote { proposal: id, yes: parse_vote(&vote)? })
        }
        ProposalCommand::List(q) => crate::ledger_query::proposals(&q, None),
        ProposalCommand::Show { id, query } => crate::ledger_query::proposals(&query, Some(id)),
    }
}

pub fn worker(global: &GlobalArgs, cmd: WorkerLedgerCommand) -> anyhow::Result<()> {
    match cmd {
        WorkerLedgerCommand::Register { commission_bps, tx } => {
            if commission_bps > 10_000 {
                bail!("--commission-bps {commission_bps} is above 10000 (100%)");
            }
            send(global, &tx, TxBody::RegisterWorker { commission_bps })
        }
        WorkerLedgerCommand::Show { worker, query } => {
            crate::ledger_query::worker(&query, keys::resolve_address(global, &worker)?)
        }
        WorkerLedgerCommand::List(query) => crate::ledger_query::workers(&query),
    }
}
