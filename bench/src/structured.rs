//! `wick bench generate --structured`: what constrained decoding (a JSON schema) and log
//! probabilities cost. The worker's engine runs in-process, as in a worker: unconstrained
//! decoding beside the same requests with `response_format` json_schema, and with logprobs
//! (top 5), at batch 1 and with 8 concurrent sequences. Rounds interleave the modes, each
//! starting with another one, so that a noisy neighbour slows all of them alike and none always
//! runs first; medians are reported.

use std::sync::Arc;
use std::time::Instant;

use wick_models::constrain::ResponseFormat;
use wick_models::sampling::SamplingParams;
use wick_models::{ChatMessage, GenerationParams, TextModel};
use wick_worker::engine::{EngineConfig, EngineHandle, Event, Job};
use wick_worker::metrics::Metrics;

use crate::stats::median;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Schema,
    Logprobs,
}

/// A schema an answer can fill for a long time: a list of short records.
const SCHEMA: &str = r#"{"type":"object","properties":{"cities":{"type":"array","items":{"type":"object",
"properties":{"name":{"type":"string","maxLength":16},"country":{"type":"string","maxLength":16},
"population":{"type":"integer","minimum":0}},"required":["name","country","population"],
"additionalProperties":false}}},"required":["cities"],"additionalProperties":false}"#;

/// One row of the table.
#[derive(Debug, serde::Serialize)]
pub struct StructuredRow {
    /// Concurrent sequences.
    pub streams: usize,
    /// Unconstrained decode tok/s (all sequences together).
    pub plain_tok_s: f64,
    /// With the JSON schema.
    pub schema_tok_s: f64,
    /// With logprobs and 5 alternatives.
    pub logprobs_tok_s: f64,
}

/// Decode tokens per second of `streams` sequences of `tokens` tokens each, in `mode`: tokens
/// after each sequence's first, over the time from the first sequence's first token to the last
/// token.
fn run_round(
    engine: &EngineHandle,
    model: &TextModel,
    mode: Mode,
    streams: usize,
    tokens: usize,
) -> anyhow::Result<f64> {
    let mut receivers = Vec::new();
    for i in 0..streams {
        let messages = [ChatMessage::user(format!(
            "List {} European cities with their country and population, as JSON.",
            20 + i
        ))];
        let prompt = model.encode_chat(&messages)?;
        let params = GenerationParams {
            max_tokens: tokens,
            // Greedy: sampling at a temperature sorts the vocabulary per token, which would hide
            // what the schema and logprobs cost.
            sampling: SamplingParams { temperature: 0.0, seed: i as u64, ..SamplingParams::default() },
            ignore_eos: mode != Mode::Schema,
            logprobs: (mode == Mode::Logprobs).then_some(5),
            ..GenerationParams::default()
        };
        let constraint = match mode {
            Mode::Schema => {
                model.grammars()?.compile(&ResponseFormat::JsonSchema(serde_json::from_str(SCHEMA)?))?
            }
            _ => None,
        };
        let (events, rx) = tokio::sync::mpsc::unbounded_channel();
        let job = Job {
            prompt,
            params,
            resume: Vec::new(),
            deadline: None,
            constraint,
            events,
            span: tracing::Span::none(),
        };
        engine.submit(job).map_err(|e| anyhow::anyhow!("{e}"))?;
        receivers.push(rx);
    }
    let mut first: Option<Instant> = None;
    let mut decoded = 0usize;
    for mut rx in receivers {
        let mut seen_first = false;
        while let Some(event) = rx.blocking_recv() {
            match event {
                Event::Delta { .. } => {
                    first.get_or_insert_with(Instant::now);
                    if seen_first {
                        decoded += 1;
                    }
                    seen_first = true;
                }
                Event::Done(_) => break,
                Event::Failed(e) => anyhow::bail!("bench job failed: {e}"),
            }
        }
    }
    let elapsed = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    Ok(decoded as f64 / elapsed.max(1e-9))
}

/// Runs the comparison at 1 and 8 sequences and prints (or returns) the table.
pub fn run(
    model: Arc<TextModel>,
    tokens: usize,
    reps: usize,
    json: bool,
) -> anyhow::Result<Vec<StructuredRow>> {
    let config = EngineConfig { max_batch: 8, ..EngineConfig::default() };
    let engine = EngineHandle::start(model.clone(), config, Metrics::new())?;
    model.grammars()?;
    run_round(&engine, &model, Mode::Schema, 1, 8)?; // warm-up, and the grammar compiler
    let mut rows = Vec::new();
    for streams in [1, 8] {
        let (mut plain, mut schema, mut logprobs) = (Vec::new(), Vec::new(), Vec::new());
        let modes = [Mode::Plain, Mode::Schema, Mode::Logprobs];
        for rep in 0..reps.max(1) {
            // Each round starts with another mode, so that no mode always runs first.
            for i in 0..modes.len() {
                let mode = modes[(rep + i) % modes.len()];
                let tok_s = run_round(&engine, &model, mode, streams, tokens)?;
                match mode {
                    Mode::Plain => plain.push(tok_s),
                    Mode::Schema => schema.push(tok_s),
                    Mode::Logprobs => logprobs.push(tok_s),
                }
            }
        }
        rows.push(StructuredRow {
            streams,
            plain_tok_s: median(&plain),
            schema_tok_s: median(&schema),
            logprobs_tok_s: median(&logprobs),
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "decode through the engine, {tokens} tokens per sequence, median of {reps} rounds, the first mode rotating"
        );
        println!(
            "{:<8} {:>11} {:>12} {:>8} {:>14} {:>8}",
            "streams", "plain tok/s", "schema tok/s", "ratio", "logprobs tok/s", "ratio"
        );
        for r in &rows {
            println!(
                "{:<8} {:>11.1} {:>12.1} {:>8.2} {:>14.1} {:>8.2}",
                r.streams,
                r.plain_tok_s,
                r.schema_tok_s,
                r.schema_tok_s / r.plain_tok_s,
                r.logprobs_tok_s,
                r.logprobs_tok_s / r.plain_tok_s
            );
        }
    }
    Ok(rows)
}
