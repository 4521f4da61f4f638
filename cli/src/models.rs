//! `wick models list|fetch`, and the shared step that makes sure a model is installed.

use anyhow::Context;
use clap::Subcommand;
use wick_models::fetch::FetchOptions;
use wick_models::{InstalledModel, catalog};

use crate::GlobalArgs;
use crate::progress::Bar;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the catalog: which models are installed, their size and network id.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download, verify and install models (when no name is given, every catalog model that is
    /// not opt-in).
    Fetch {
        /// Model name from `wick models list`.
        name: Option<String>,
        /// Reinstall even if already installed.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(global: &GlobalArgs, cmd: ModelsCommand) -> anyhow::Result<()> {
    let store = global.store();
    match cmd {
        ModelsCommand::List { json } => {
            let list = store.list();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            println!("{:<24} {:<10} {:>9} {:<10} ID", "NAME", "KIND", "SIZE", "INSTALLED");
            for m in list {
                let kind = serde_json::to_value(m.kind)?.as_str().unwrap_or_default().to_string();
                let size = format!("{:.1} MB", m.size as f64 / 1e6);
                let installed = if m.installed { "yes" } else { "no" };
                println!("{:<24} {:<10} {:>9} {:<10} {}", m.name, kind, size, installed, m.id);
            }
            println!("\ndata directory: {}", store.home().display());
            Ok(())
        }
        ModelsCommand::Fetch { name, force } => {
            let entries: Vec<_> = match name {
                Some(name) => vec![catalog::find(&name)?],
                None => catalog::CATALOG.iter().filter(|e| !e.opt_in).collect(),
            };
            let options = FetchOptions { force, ..FetchOptions::default() };
            for entry in entries {
                if store.is_installed(entry) && !force {
                    eprintln!("{} is already installed in {}", entry.name, store.model_dir(entry).display());
                    continue;
                }
                eprintln!("fetching {} ({})", entry.name, entry.requirement());
                let path = store.fetch(entry, &options, &Bar::new())?;
                eprintln!("installed {} in {}", entry.name, path.display());
            }
            Ok(())
        }
    }
}

/// The installed model `name`, fetched first when missing.
pub fn ensure(global: &GlobalArgs, name: &str) -> anyhow::Result<InstalledModel> {
    let store = global.store();
    let entry = catalog::find(name)?;
    if !store.is_installed(entry) {
        eprintln!("model {name} is not installed; fetching it ({})", entry.requirement());
    }
    store
        .ensure(name, &FetchOptions::default(), &Bar::new())
        .with_context(|| format!("while preparing model {name}"))
}
