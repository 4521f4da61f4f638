//! `wick`: the one binary. It parses flags and calls into the library crates.

mod bench;
mod config_file;
mod devnet;
mod devnet_process;
mod embed;
mod explorer;
mod generate;
mod gov;
mod keys;
mod ledger;
mod ledger_query;
mod models;
mod progress;
mod router;
mod router_ledger;
mod validator;
mod worker;

use clap::{Parser, Subcommand};

/// Wick: a decentralized AI inference network.
#[derive(Debug, Parser)]
#[command(name = "wick", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command understands.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Data directory (models, keys, node state). Default: $XDG_DATA_HOME/wick or ~/.local/share/wick.
    #[arg(long, env = "WICK_HOME", global = true)]
    pub home: Option<std::path::PathBuf>,
    /// Compute threads (default: all cores).
    #[arg(long, env = "WICK_THREADS", global = true)]
    pub threads: Option<usize>,
}

impl GlobalArgs {
    /// The model store these flags point at.
    pub fn store(&self) -> wick_models::ModelStore {
        match &self.home {
            Some(home) => wick_models::ModelStore::new(home),
            None => wick_models::ModelStore::from_env(),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a chat answer with a local model, streamed to stdout.
    Generate(generate::GenerateArgs),
    /// Print sentence embeddings as JSON.
    Embed(embed::EmbedArgs),
    /// List and fetch models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Run a worker node: serve models over gRPC to routers (`wick worker register|show`: the
    /// worker's ledger account).
    Worker(gov::WorkerCli),
    /// Run a router: serve applications (gRPC and an OpenAI-compatible API) over the workers
    /// found on the peer network (`wick router register|bond|unbond|show`: the router's ledger
    /// identity).
    Router(router_ledger::RouterCli),
    /// Run a ledger node: stores blocks in rocksdb and serves wick.v1.Ledger over gRPC, alone or
    /// as one validator (or a following full node) of a chain replicated by BFT consensus.
    Ledger(ledger::LedgerArgs),
    /// Run a whole network on this machine: ledger validators, a router, workers and an explorer
    /// on loopback.
    Devnet(devnet::DevnetArgs),
    /// Serve the web explorer of a network: live workers, blocks, accounts, governance and a
    /// receipt check, with the JSON they are built from.
    Explorer(explorer::ExplorerArgs),

    /// Manage account keys (<home>/keys/NAME.pem).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Show an account: balance, nonce, rewards, stake, delegations, unbonding.
    Balance(ledger_query::BalanceArgs),
    /// Send tokens to another account.
    Transfer(gov::TransferArgs),
    /// Bond your own tokens to your worker.
    Stake(gov::AmountArgs),
    /// Start unbonding your worker's own stake.
    Unstake(gov::AmountArgs),
    /// Bond tokens to a worker.
    Delegate(gov::DelegateArgs),
    /// Start unbonding a delegation.
    Undelegate(gov::DelegateArgs),
    /// Fund or withdraw your router's escrow (it pays for the work the router attests).
    #[command(subcommand)]
    Escrow(router_ledger::EscrowCommand),
    /// Leave jail once its term has ended (worker, router or validator).
    Unjail(gov::TxOptsOnly),
    /// A ledger validator's stake: bond, unbond, list the validators.
    #[command(subcommand)]
    Validator(validator::ValidatorCommand),
    /// Withdraw accrued rewards.
    #[command(subcommand)]
    Rewards(gov::RewardsCommand),
    /// Governance proposals: submit, vote, list, show.
    #[command(subcommand)]
    Proposal(gov::ProposalCommand),
    /// Show the ledger's parameters.
    Params(gov::QueryOpts),
    /// Show the current epoch and when it ends.
    Epoch(gov::QueryOpts),

    /// Measure performance against reference implementations.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// The async runtime of a node command (worker, router, ledger): two I/O threads, since compute
/// runs on the nodes' own threads.
pub fn node_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("while starting the async runtime")
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(threads) = cli.global.threads {
        // Candle's and rayon's pools read this when they start, which is after this point.
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
    let result = match cli.command {
        Command::Generate(args) => generate::run(&cli.global, args),
        Command::Embed(args) => embed::run(&cli.global, args),
        Command::Models(cmd) => models::run(&cli.global, cmd),
        Command::Bench(cmd) => bench::run(&cli.global, cmd),
        Command::Worker(w) => match w.command {
            Some(cmd) => gov::worker(&cli.global, cmd),
            None => worker::run(&cli.global, w.run),
        },
        Command::Router(r) => match r.command {
            Some(cmd) => router_ledger::router(&cli.global, cmd),
            None => router::run(&cli.global, r.run),
        },
        Command::Escrow(cmd) => router_ledger::escrow(&cli.global, cmd),
        Command::Unjail(a) => gov::unjail(&cli.global, a),
        Command::Validator(cmd) => validator::run(&cli.global, cmd),
        Command::Ledger(args) => ledger::run(&cli.global, args),
        Command::Devnet(args) => devnet::run(&cli.global, args),
        Command::Explorer(args) => explorer::run(args),
        Command::Keys(cmd) => keys::run(&cli.global, cmd),
        Command::Balance(args) => ledger_query::balance(&cli.global, args),
        Command::Transfer(args) => gov::transfer(&cli.global, args),
        Command::Stake(args) => gov::stake(&cli.global, args),
        Command::Unstake(args) => gov::unstake(&cli.global, args),
        Command::Delegate(args) => gov::delegate(&cli.global, args, false),
        Command::Undelegate(args) => gov::delegate(&cli.global, args, true),
        Command::Rewards(cmd) => gov::rewards(&cli.global, cmd),
        Command::Proposal(cmd) => gov::proposal(&cli.global, cmd),
        Command::Params(q) => ledger_query::params(q),
        Command::Epoch(q) => ledger_query::epoch(q),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
