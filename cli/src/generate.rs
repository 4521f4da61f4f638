//! `wick generate`: one chat answer from a local model, streamed to stdout.

use std::io::Write;

use anyhow::Context;
use wick_models::generate::LoadOptions;
use wick_models::sampling::SamplingParams;
use wick_models::{ChatMessage, DEFAULT_CHAT_MODEL, GenerationParams, TextModel};

use crate::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The user's message.
    prompt: String,
    /// Model name (see `wick models list`).
    #[arg(long, default_value = DEFAULT_CHAT_MODEL)]
    model: String,
    /// System message (default: the model template's own).
    #[arg(long)]
    system: Option<String>,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Keep only the k most likely tokens (0 = off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Penalty for recently used tokens (1 = off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Stop when this text appears (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print the token ids after the answer (stderr).
    #[arg(long)]
    show_tokens: bool,
    /// Where the model runs: cpu (Wick's kernels) or cuda:N (a GPU; needs `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: wick_models::ComputeDevice,
}

pub fn run(global: &GlobalArgs, args: GenerateArgs) -> anyhow::Result<()> {
    let installed = crate::models::ensure(global, &args.model)?;
    let options = LoadOptions { device: args.device, ..LoadOptions::default() };
    let model = TextModel::load(&installed, &options)
        .with_context(|| format!("while loading {} on {}", args.model, args.device))?;
    let mut messages = Vec::new();
    if let Some(system) = args.system {
        messages.push(ChatMessage::system(system));
    }
    messages.push(ChatMessage::user(args.prompt));
    let params = GenerationParams {
        max_tokens: args.max_tokens,
        sampling: SamplingParams {
            temperature: args.temperature,
            top_p: args.top_p,
            top_k: args.top_k,
            repetition_penalty: args.repetition_penalty,
            seed: args.seed,
            ..SamplingParams::default()
        },
        stop: args.stop,
        ..GenerationParams::default()
    };
    let mut stdout = std::io::stdout().lock();
    let out = model.generate(&messages, &params, |delta| {
        let _ = stdout.write_all(delta.as_bytes());
        let _ = stdout.flush();
    })?;
    writeln!(stdout)?;
    let decode_tps = if out.usage.completion_tokens > 1 {
        (out.usage.completion_tokens - 1) as f64 / out.decode_time.as_secs_f64()
    } else {
        0.0
    };
    eprintln!(
        "[{} prompt tokens in {:.0} ms, {} completion tokens at {:.1} tok/s, finish: {}]",
        out.usage.prompt_tokens,
        out.prefill_time.as_secs_f64() * 1e3,
        out.usage.completion_tokens,
        decode_tps,
        out.finish_reason.as_str()
    );
    if args.show_tokens {
        eprintln!("tokens: {:?}", out.token_ids);
    }
    Ok(())
}
