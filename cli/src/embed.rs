//! `wick embed`: sentence embeddings as JSON.

use anyhow::Context;
use wick_models::{DEFAULT_EMBEDDING_MODEL, Embedder};

use crate::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// Texts to embed.
    #[arg(required = true)]
    texts: Vec<String>,
    /// Model name (see `wick models list`).
    #[arg(long, default_value = DEFAULT_EMBEDDING_MODEL)]
    model: String,
}

pub fn run(global: &GlobalArgs, args: EmbedArgs) -> anyhow::Result<()> {
    let installed = crate::models::ensure(global, &args.model)?;
    let embedder = Embedder::load(&installed).with_context(|| format!("while loading {}", args.model))?;
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&texts)?;
    let out: Vec<_> = texts
        .iter()
        .zip(vectors)
        .map(|(text, embedding)| serde_json::json!({ "text": text, "embedding": embedding }))
        .collect();
    println!("{}", serde_json::json!({ "model": embedder.name(), "model_id": embedder.id(), "data": out }));
    Ok(())
}
