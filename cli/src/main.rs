//! `wick`: the one binary. It parses flags and calls into the library crates.

mod bench;
mod bench_worker;
mod embed;
mod generate;
mod models;
mod progress;
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
    /// Run a worker node: serve models over gRPC to routers.
    Worker(worker::WorkerArgs),

    /// Measure performance against reference implementations.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

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
        Command::Worker(args) => worker::run(&cli.global, args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
