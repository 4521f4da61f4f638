//! The continuous-batching engine: one OS thread per chat model that owns every running
//! sequence and runs the model's forward passes.
//!
//! Each step it admits waiting jobs up to the batch limit, drops sequences whose client went
//! away or whose deadline passed, and runs one forward pass over every running sequence: a
//! decode token for each sequence that is generating and a prefill chunk for sequences still
//! reading their prompt (at most [`EngineConfig::prefill_budget`] prompt tokens per step, so long
//! prompts never stall running decodes). Sequences join and leave between steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Instant, SystemTime};

use tokio::sync::mpsc::UnboundedSender;

use crate::metrics::Metrics;
use wick_models::constrain::Constraint;
use wick_models::generate::common_prefix;
use wick_models::llama::BatchItem;
use wick_models::logprobs::Logprobs;
use wick_models::{FinishReason, GenerationParams, Sequence, TextModel, Usage};

/// Limits of one engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Sequences decoded together.
    pub max_batch: usize,
    /// Jobs waiting for a slot before new ones are refused.
    pub max_queue: usize,
    /// Prompt tokens prefilled per step across all sequences.
    pub prefill_budget: usize,
    /// Whether new sequences copy a prompt prefix another sequence already computed.
    pub share_prefixes: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_batch: 8,
            max_queue: 64,
            prefill_budget: 2 * wick_models::generate::PREFILL_CHUNK,
            share_prefixes: true,
        }
    }
}

/// A generation to run.
pub struct Job {
    /// Prompt token ids (rendered chat).
    pub prompt: Vec<u32>,
    /// Request parameters (already validated).
    pub params: GenerationParams,
    /// Tokens an earlier worker produced for this job (failover), not streamed again.
    pub resume: Vec<u32>,
    /// Time after which the job is abandoned.
    pub deadline: Option<Instant>,
    /// The response format's grammar state, when the output is constrained.
    pub constraint: Option<Constraint>,
    /// Where the engine reports progress; a closed channel cancels the job.
    pub events: UnboundedSender<Event>,
    /// The job's tracing span (its `job` id), entered by the engine thread when it logs about
    /// the job.
    pub span: tracing::Span,
}

/// What the engine reports about a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// New text and the tokens that produced it.
    Delta {
        /// Text safe to show (may be empty).
        text: String,
        /// Sampled token ids.
        token_ids: Vec<u32>,
        /// The token's log probabilities, when the request asked for them.
        logprobs: Option<Logprobs>,
    },
    /// The job finished.
    Done(Completion),
    /// The job failed.
    Failed(JobError),
}

/// A finished job.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Token counts (resume tokens included in the completion).
    pub usage: Usage,
    /// All generated token ids, resume tokens included.
    pub output_tokens: Vec<u32>,
    /// Their text, as streamed from the start (resumed tokens' text included): what the client
    /// was sent in all, which the receipt's output hash covers.
    pub text: String,
    /// When the engine admitted the job.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
}

/// Why a job failed inside the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The deadline passed.
    #[error("deadline exceeded after {0} generated tokens")]
    DeadlineExceeded(usize),
    /// The request was invalid in a way only the model could tell.
    #[error("{0}")]
    InvalidArgument(String),
    /// The engine is shutting down.
    #[error("the worker is shutting down")]
    ShuttingDown,
    /// The forward pass failed.
    #[error("inference failed: {0}")]
    Internal(String),
}

/// Why a job was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full.
    #[error("the queue is full ({queued} waiting, limit {limit}); retry later")]
    QueueFull {
        /// Jobs waiting.
        queued: usize,
        /// The limit.
        limit: usize,
    },
    /// The engine has stopped.
    #[error("the engine has stopped")]
    Stopped,
}

/// Live counters of an engine, read by metrics and the capability record.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Jobs waiting for a slot.
    pub queued: AtomicUsize,
    /// Sequences in the running batch.
    pub running: AtomicUsize,
    /// Tokens generated since start.
    pub tokens_generated: AtomicUsize,
    /// Forward passes run since start.
    pub steps: AtomicUsize,
}

/// A cloneable handle to an engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    tx: SyncSender<Job>,
    stats: Arc<EngineStats>,
    model: Arc<TextModel>,
    config: EngineConfig,
}

impl EngineHandle {
    /// Starts the engine thread for `model`. The thread ends when every handle is dropped and
    /// running jobs have finished.
    pub fn start(
        model: Arc<TextModel>,
        config: EngineConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(config.max_queue);
        let stats = Arc::new(EngineStats::default());
        let engine = Engine {
            model: model.clone(),
            config: config.clone(),
            stats: stats.clone(),
            metrics,
            running: Vec::new(),
        };
        std::thread::Builder::new().name(format!("engine-{}", model.name())).spawn(move || engine.run(rx))?;
        Ok(Self { tx, stats, model, config })
    }

    /// Queues a job, or refuses it at once when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), SubmitError> {
        // Counted before sending so the engine's decrement on admission never runs first.
        self.stats.queued.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                let queued = self.stats.queued.fetch_sub(1, Ordering::SeqCst) - 1;
                match e {
                    TrySendError::Full(_) => {
                        Err(SubmitError::QueueFull { queued, limit: self.config.max_queue })
                    }
                    TrySendError::Disconnected(_) => Err(SubmitError::Stopped),
                }
            }
        }
    }

    /// The engine's counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// The model it runs.
    pub fn model(&self) -> &Arc<TextModel> {
        &self.model
    }

    /// Its limits.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Batch slots not in use.
    pub fn free_slots(&self) -> usize {
        self.config.max_batch.saturating_sub(self.stats.running.load(Ordering::SeqCst))
    }
}

/// `(&mut v[i], &v[j])`, for `i != j`.
fn with_other<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &T) {
    if i < j {
        let (head, tail) = v.split_at_mut(j);
        (&mut head[i], &tail[0])
    } else {
        let (head, tail) = v.split_at_mut(i);
        (&mut tail[0], &head[j])
    }
}

/// Shortest common prompt prefix worth copying instead of computing.
const MIN_SHARED_PREFIX: usize = 16;

struct Running {
    seq: Sequence,
    events: UnboundedSender<Event>,
    deadline: Option<Instant>,
    started: SystemTime,
    prompt_len: usize,
    last_token: Option<Instant>,
}

struct Engine {
    model: Arc<TextModel>,
    config: EngineConfig,
    stats: Arc<EngineStats>,
    metrics: Arc<Metrics>,
    running: Vec<Running>,
}

impl Engine {
    fn run(mut self, rx: Receiver<Job>) {
        let mut open = true;
        loop {
            if self.running.is_empty() {
                if !open {
                    break;
                }
                match rx.recv() {
                    Ok(job) => self.admit(job),
                    Err(_) => break,
                }
            }
            while open && self.running.len() < self.config.max_batch {
                match rx.try_recv() {
                    Ok(job) => self.admit(job),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            self.drop_abandoned();
            if !self.running.is_empty() {
                self.step();
            }
            self.stats.running.store(self.running.len(), Ordering::SeqCst);
            self.metrics.running.set(self.running.len() as i64);
            self.metrics.waiting.set(self.stats.queued.load(Ordering::SeqCst) as i64);
        }
        tracing::debug!(model = self.model.name(), "engine stopped");
    }

    fn admit(&mut self, job: Job) {
        self.stats.queued.fetch_sub(1, Ordering::SeqCst);
        if job.events.is_closed() {
            return;
        }
        let prompt_len = job.prompt.len();
        job.span.in_scope(|| {
            tracing::info!(prompt_tokens = prompt_len, running = self.running.len(), "admitted to the batch")
        });
        let constraint = job.constraint;
        let seq = self.model.new_sequence(job.prompt, job.params).and_then(|mut seq| {
            if let Some(c) = constraint {
                seq.constrain(c);
            }
            seq.replay(&self.model, &job.resume)?;
            Ok(seq)
        });
        match seq {
            Ok(seq) => {
                self.running.push(Running {
                    seq,
                    events: job.events,
                    deadline: job.deadline,
                    started: SystemTime::now(),
                    prompt_len,
                    last_token: None,
                });
                self.metrics.prompt_tokens.inc_by(prompt_len as u64);
                self.stats.running.store(self.running.len(), Ordering::SeqCst);
            }
            Err(e) => {
                let _ = job.events.send(Event::Failed(JobError::InvalidArgument(e.to_string())));
            }
        }
    }

    /// Frees the slots of cancelled and expired sequences before the next step.
    fn drop_abandoned(&mut self) {
        let now = Instant::now();
        self.running.retain(|r| {
            if r.events.is_closed() {
                tracing::debug!("client went away; slot freed");
                return false;
            }
            if r.deadline.is_some_and(|d| now >= d) {
                let _ = r.events.send(Event::Failed(JobError::DeadlineExceeded(r.seq.generated().len())));
                return false;
            }
            true
        });
    }

    /// New sequences start from the keys and values of the longest prefix another running
    /// sequence has already computed (chat prompts share the template's system text). Of new
    /// sequences sharing a prefix nobody has computed yet, the first prefills alone and the
    /// others wait one step to copy it. Returns which sequences wait.
    fn share_prefixes(&mut self) -> Vec<bool> {
        let mut waits = vec![false; self.running.len()];
        if !self.config.share_prefixes {
            return waits;
        }
        for i in 0..self.running.len() {
            if !self.running[i].seq.cache().is_empty() {
                continue;
            }
            let tokens = self.running[i].seq.tokens();
            let best = (0..self.running.len())
                .filter(|&j| j != i)
                .map(|j| (common_prefix(tokens, self.running[j].seq.computed_tokens()), j))
                .max();
            if let Some((_, j)) = best.filter(|(shared, _)| *shared >= MIN_SHARED_PREFIX) {
                let (new, source) = with_other(&mut self.running, i, j);
                let adopted = new.seq.adopt_prefix(&source.seq);
                self.metrics.prompt_tokens_reused.inc_by(adopted as u64);
                continue;
            }
            let leader = (0..i).find(|&j| {
                let other = &self.running[j].seq;
                !waits[j]
                    && other.cache().is_empty()
                    && common_prefix(tokens, other.tokens()) >= MIN_SHARED_PREFIX
            });
            waits[i] = leader.is_some();
        }
        waits
    }

    fn step(&mut self) {
        let waits = self.share_prefixes();
        let mut budget = self.config.prefill_budget;
        // Which running sequences take part, and whether each wants logits.
        let mut chosen = Vec::with_capacity(self.running.len());
        let mut items = Vec::with_capacity(self.running.len());
        // Grammar states whose next mask is computed while the forward pass runs.
        let mut masks = Vec::new();
        for (i, r) in self.running.iter_mut().enumerate() {
            if waits[i] {
                continue;
            }
            if let Some(c) = r.seq.take_constraint() {
                masks.push((i, c));
            }
            let (cache, tokens, want_logits) = r.seq.next_batch_item();
            let is_prefill = tokens.len() > 1 || cache.is_empty();
            if is_prefill {
                if budget == 0 {
                    continue;
                }
                let take = tokens.len().min(budget);
                budget -= take;
                let want = want_logits && take == tokens.len();
                chosen.push((i, want));
                items.push(BatchItem { cache, tokens: &tokens[..take], want_logits: want });
            } else {
                chosen.push((i, want_logits));
                items.push(BatchItem { cache, tokens, want_logits });
            }
        }
        self.metrics.batch_size.observe(items.len() as f64);
        let result = forward_beside_masks(&self.model, &mut items, &mut masks);
        drop(items);
        for (i, c) in masks {
            self.running[i].seq.constrain(c);
        }
        self.stats.steps.fetch_add(1, Ordering::Relaxed);
        let logits = match result {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "forward pass failed; failing the batch");
                for r in self.running.drain(..) {
                    let _ = r.events.send(Event::Failed(JobError::Internal(e.to_string())));
                }
                return;
            }
        };
        let mut logits = logits.into_iter();
        let mut finished = Vec::new();
        for (i, want) in chosen {
            if !want {
                continue;
            }
            let Some(mut l) = logits.next() else { break };
            let r = &mut self.running[i];
            let step = match r.seq.accept_logits(&self.model, &mut l) {
                Ok(step) => step,
                Err(e) => {
                    let _ = r.events.send(Event::Failed(JobError::InvalidArgument(e.to_string())));
                    finished.push(i);
                    continue;
                }
            };
            self.stats.tokens_generated.fetch_add(1, Ordering::Relaxed);
            self.metrics.generation_tokens.inc();
            let now = Instant::now();
            if let Some(last) = r.last_token.replace(now) {
                self.metrics.tpot.observe((now - last).as_secs_f64());
            }
            let delta =
                Event::Delta { text: step.delta, token_ids: vec![step.token], logprobs: step.logprobs };
            let _ = r.events.send(delta);
            if let Some(reason) = step.finished {
                let output_tokens = r.seq.generated().to_vec();
                let usage = Usage { prompt_tokens: r.prompt_len, completion_tokens: output_tokens.len() };
                let _ = r.events.send(Event::Done(Completion {
                    finish_reason: reason,
                    usage,
                    output_tokens,
                    text: r.seq.text().to_string(),
                    started: r.started,
                    finished: SystemTime::now(),
                }));
                finished.push(i);
            }
        }
        for i in finished.into_iter().rev() {
            self.running.swap_remove(i);
        }
    }
}

/// Runs the forward pass while another thread computes the next-token masks of constrained
/// sequences: a mask depends only on the tokens already accepted, not on the logits.
fn forward_beside_masks(
    model: &TextModel,
    items: &mut [BatchItem<'_>],
    masks: &mut [(usize, Constraint)],
) -> wick_models::Result<Vec<Vec<f32>>> {
    if masks.is_empty() {
        return model.transformer().forward(items);
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            for (_, c) in masks.iter_mut() {
                // An error is kept in the matcher and reported when the mask is applied.
                let _ = c.prepare_mask();
            }
        });
        model.transformer().forward(items)
    })
}
