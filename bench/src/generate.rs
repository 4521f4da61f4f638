//! `wick bench generate`: prefill and decode speed at batch 1 beside llama.cpp's llama-bench on
//! the same GGUF.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use wick_models::generate::{LoadOptions, PREFILL_CHUNK};
use wick_models::llama::BatchItem;
use wick_models::sampling::argmax;
use wick_models::{ComputeDevice, DEFAULT_CHAT_MODEL, TextModel};

use crate::BenchEnv;
use crate::stats::median;

/// Flags of `wick bench generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateBench {
    /// Model name.
    #[arg(long, default_value = DEFAULT_CHAT_MODEL)]
    model: String,
    /// Prompt tokens for the prefill test (llama-bench's pp).
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens for the decode test (llama-bench's tg).
    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,
    /// Rounds, each running both implementations once; the medians are reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Threads for both implementations.
    #[arg(long, default_value_t = 2)]
    bench_threads: usize,
    /// Path of llama.cpp's llama-bench (scripts/bench.sh builds and passes it).
    #[arg(long, env = "WICK_LLAMA_BENCH")]
    llama_bench: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Where Wick runs the model: cpu or cuda:N (then llama-bench offloads every layer too).
    #[arg(long, default_value = "cpu")]
    device: wick_models::ComputeDevice,
    /// Instead: what a JSON schema (constrained decoding) and logprobs cost, through the engine
    /// at 1 and 8 sequences.
    #[arg(long)]
    structured: bool,
}

#[derive(Debug, serde::Serialize)]
struct Row {
    test: String,
    wick_tok_s: f64,
    llama_cpp_tok_s: Option<f64>,
    ratio: Option<f64>,
}

/// Runs `wick bench generate`.
pub fn run(env: &BenchEnv<'_>, args: GenerateBench) -> anyhow::Result<()> {
    if env.threads.is_none() {
        // SAFETY: called before any thread pool starts; no other thread exists yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", args.bench_threads.to_string()) };
    }
    let installed = (env.ensure_model)(&args.model)?;
    let gguf = installed.path(installed.entry.weights());
    let model = TextModel::load(&installed, &LoadOptions { device: args.device, ..LoadOptions::default() })?;
    if args.structured {
        crate::structured::run(std::sync::Arc::new(model), args.gen_tokens, args.reps, args.json)?;
        return Ok(());
    }
    let vocab = model.transformer().config().vocab_size as u32;
    // Arbitrary but fixed token ids, like llama-bench's synthetic prompts.
    let prompt: Vec<u32> = (0..args.prompt_tokens as u32).map(|i| 100 + (i * 7919) % (vocab - 100)).collect();

    let prefill = |tokens: &[u32]| -> anyhow::Result<f64> {
        let mut cache = model.transformer().new_cache();
        let start = Instant::now();
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            model.transformer().forward(&mut [BatchItem {
                cache: &mut cache,
                tokens: chunk,
                want_logits: true,
            }])?;
        }
        Ok(tokens.len() as f64 / start.elapsed().as_secs_f64())
    };
    let decode = |n: usize| -> anyhow::Result<f64> {
        let mut cache = model.transformer().new_cache();
        let mut token = prompt[0];
        let start = Instant::now();
        for _ in 0..n {
            let logits = model.transformer().forward(&mut [BatchItem {
                cache: &mut cache,
                tokens: &[token],
                want_logits: true,
            }])?;
            token = argmax(&logits[0]);
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    };
    prefill(&prompt[..prompt.len().min(64)])?; // warm-up
    // Rounds alternate the two implementations, so that a noisy neighbour on the machine slows
    // both alike; the medians are reported.
    let (mut pp, mut tg, mut anchor_pp, mut anchor_tg) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.reps.max(1) {
        pp.push(prefill(&prompt)?);
        tg.push(decode(args.gen_tokens)?);
        if let Some(bin) = &args.llama_bench {
            let (p, t) = llama_bench(bin, &gguf, &args)?;
            anchor_pp.push(p);
            anchor_tg.push(t);
        }
    }
    let (wick_pp, wick_tg) = (median(&pp), median(&tg));
    let anchor = args.llama_bench.as_ref().map(|_| (median(&anchor_pp), median(&anchor_tg)));
    let row = |test: String, wick: f64, reference: Option<f64>| Row {
        test,
        wick_tok_s: wick,
        llama_cpp_tok_s: reference,
        ratio: reference.map(|r| wick / r),
    };
    let rows = vec![
        row(format!("pp{}", args.prompt_tokens), wick_pp, anchor.map(|a| a.0)),
        row(format!("tg{}", args.gen_tokens), wick_tg, anchor.map(|a| a.1)),
    ];
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "model {} ({}), batch 1, {} threads, median of {} alternating rounds",
        args.model,
        gguf.display(),
        args.bench_threads,
        args.reps
    );
    println!("{:<8} {:>12} {:>16} {:>8}", "test", "wick tok/s", "llama.cpp tok/s", "ratio");
    for r in &rows {
        let reference = r.llama_cpp_tok_s.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        let ratio = r.ratio.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
        println!("{:<8} {:>12.1} {:>16} {:>8}", r.test, r.wick_tok_s, reference, ratio);
    }
    if anchor.is_none() {
        println!("(llama.cpp not measured: pass --llama-bench PATH, or run scripts/bench.sh)");
    }
    Ok(())
}

/// Runs llama-bench once and returns its (prefill, decode) tokens per second.
fn llama_bench(bin: &PathBuf, gguf: &PathBuf, args: &GenerateBench) -> anyhow::Result<(f64, f64)> {
    let out = Command::new(bin)
        .arg("-m")
        .arg(gguf)
        .args(["-p", &args.prompt_tokens.to_string(), "-n", &args.gen_tokens.to_string()])
        .args(["-t", &args.bench_threads.to_string(), "-r", "1", "-o", "json"])
        // On a GPU, llama.cpp's CUDA build offloads every layer, as Wick does.
        .args(["-ngl", if args.device == ComputeDevice::Cpu { "0" } else { "99" }])
        .output()
        .with_context(|| format!("while running {}", bin.display()))?;
    if !out.status.success() {
        bail!("{} failed: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
    }
    let results: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).context("while parsing llama-bench's JSON output")?;
    let rate = |prompt: bool| -> anyhow::Result<f64> {
        results
            .iter()
            .find(|r| {
                let n_prompt = r["n_prompt"].as_u64().unwrap_or(0);
                let n_gen = r["n_gen"].as_u64().unwrap_or(0);
                if prompt { n_prompt > 0 && n_gen == 0 } else { n_gen > 0 && n_prompt == 0 }
            })
            .and_then(|r| r["avg_ts"].as_f64())
            .context("llama-bench printed no matching result")
    };
    Ok((rate(true)?, rate(false)?))
}
