//! Text generation: a loaded chat model, requests, and the per-sequence state machine that turns
//! logits into streamed text.

use std::time::{Duration, Instant};

pub use crate::chat_template::ChatMessage;
use crate::chat_template::ChatTemplate;
use crate::constrain::{Constraint, Grammars};
use crate::detokenizer::StreamDecoder;
use crate::device::ComputeDevice;
use crate::device_llama::DeviceLlama;
use crate::gguf_tokenizer::GgufTokenizer;
use crate::llama::{BatchItem, KvCache, Llama};
use crate::logprobs::{Distribution, Logprobs, MAX_TOP_LOGPROBS, apply_penalties};
use crate::sampling::{Sampler, SamplingParams};
use crate::stop::StopMatcher;
use crate::store::{InstalledModel, ModelId};
use crate::transformer::Transformer;
use crate::weights::Bytes;
use crate::{ModelError, Result};

/// Highest accepted temperature.
pub const MAX_TEMPERATURE: f32 = 2.0;

/// What a request asks of the generator.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationParams {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Sampling settings (temperature 0 is greedy).
    pub sampling: SamplingParams,
    /// Strings that end the generation; they are not part of the output.
    pub stop: Vec<String>,
    /// Keep generating past end-of-turn tokens (for benchmarks that need exact lengths).
    pub ignore_eos: bool,
    /// OpenAI's presence penalty, in [-2, 2] (see [`apply_penalties`]).
    pub presence_penalty: f32,
    /// OpenAI's frequency penalty, in [-2, 2].
    pub frequency_penalty: f32,
    /// Report each sampled token's log probability and this many alternatives.
    pub logprobs: Option<usize>,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            sampling: SamplingParams::default(),
            stop: Vec::new(),
            ignore_eos: false,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            logprobs: None,
        }
    }
}

impl GenerationParams {
    /// Checks ranges; the error names the broken limit.
    pub fn validate(&self) -> Result<()> {
        let s = &self.sampling;
        let bad = |m: String| Err(ModelError::InvalidArgument(m));
        if self.max_tokens == 0 {
            return bad("max_tokens must be at least 1".into());
        }
        if !(0.0..=MAX_TEMPERATURE).contains(&s.temperature) {
            return bad(format!(
                "temperature must be between 0 and {MAX_TEMPERATURE}, got {}",
                s.temperature
            ));
        }
        if !(s.top_p > 0.0 && s.top_p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {}", s.top_p));
        }
        if !(s.repetition_penalty > 0.0 && s.repetition_penalty.is_finite()) {
            return bad(format!("repetition_penalty must be positive, got {}", s.repetition_penalty));
        }
        for (name, v) in
            [("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)]
        {
            if !(-2.0..=2.0).contains(&v) {
                return bad(format!("{name} must be between -2 and 2, got {v}"));
            }
        }
        if self.logprobs.is_some_and(|n| n > MAX_TOP_LOGPROBS) {
            return bad(format!("top_logprobs must be at most {MAX_TOP_LOGPROBS}"));
        }
        Ok(())
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// An end-of-turn token or a stop sequence.
    Stop,
    /// `max_tokens` or the context limit.
    Length,
}

impl FinishReason {
    /// OpenAI's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// Token counts of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Tokens of the rendered prompt.
    pub prompt_tokens: usize,
    /// Tokens sampled, the final end-of-turn token included.
    pub completion_tokens: usize,
}

/// The result of a finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOutput {
    /// The text.
    pub text: String,
    /// Every sampled token id, in order.
    pub token_ids: Vec<u32>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Token counts.
    pub usage: Usage,
    /// Time spent on the prompt.
    pub prefill_time: Duration,
    /// Time spent generating after the first token.
    pub decode_time: Duration,
}

/// How to load a chat model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Longest sequence accepted (bounded by the model's own context length).
    pub max_context: usize,
    /// Where the model runs.
    pub device: ComputeDevice,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { max_context: 8192, device: ComputeDevice::Cpu }
    }
}

/// The numeric class of Wick's own CPU kernels: bit-identical on every x86-64 path (scalar,
/// AVX2, AVX-512), whatever the batch or thread count.
pub const CPU_NUMERIC_CLASS: &str = "cpu-v1";

/// Prompt tokens per forward pass while prefilling, so long prompts do not stall a batch.
pub const PREFILL_CHUNK: usize = 256;

/// A chat model ready to generate.
pub struct TextModel {
    id: ModelId,
    name: String,
    transformer: Transformer,
    tokenizer: GgufTokenizer,
    template: ChatTemplate,
    grammars: std::sync::OnceLock<std::result::Result<Grammars, String>>,
}

impl TextModel {
    /// Loads an installed GGUF model, verifying its checksum first; the weights stay in the
    /// file's memory map.
    pub fn load(model: &InstalledModel, options: &LoadOptions) -> Result<Self> {
        let bytes = model.map_verified(model.entry.weights().file_name)?;
        Self::from_gguf(&bytes, model.id(), model.entry.name, options)
    }

    /// Loads any GGUF file (no catalog, no expected checksum); its id is its sha256.
    pub fn from_gguf_file(path: &std::path::Path, options: &LoadOptions) -> Result<Self> {
        let id = ModelId::from_sha256(crate::store::sha256_file(path)?);
        Self::from_gguf(&Bytes::map(path)?, id, "", options)
    }

    fn from_gguf(bytes: &Bytes, id: ModelId, name: &str, options: &LoadOptions) -> Result<Self> {
        let (transformer, ct) = match options.device.open()? {
            None => {
                let (m, ct) = Llama::from_gguf(bytes, options.max_context)?;
                (Transformer::Cpu(m), ct)
            }
            Some((device, class)) => {
                let (m, ct) = DeviceLlama::from_gguf(bytes, options.max_context, device, class)?;
                (Transformer::Device(m), ct)
            }
        };
        let tokenizer = GgufTokenizer::from_gguf(&ct)?;
        let source = ct
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .ok_or_else(|| ModelError::Format("GGUF has no tokenizer.chat_template".into()))?;
        let template = ChatTemplate::new(source)?;
        Ok(Self {
            id,
            name: name.to_string(),
            transformer,
            tokenizer,
            template,
            grammars: Default::default(),
        })
    }

    /// The network id (sha256 of the GGUF).
    pub fn id(&self) -> &ModelId {
        &self.id
    }

    /// The catalog name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The numeric class of this model's outputs: workers whose outputs are compared (audits,
    /// fraud proofs, failover resume) must share it, because another device's float order
    /// gives other bits. Wick's deterministic CPU kernels are [`CPU_NUMERIC_CLASS`].
    pub fn numeric_class(&self) -> &str {
        self.transformer.numeric_class()
    }

    /// The transformer.
    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// The conversation as the model sees it, ending where the assistant's answer begins.
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        if messages.is_empty() {
            return Err(ModelError::InvalidArgument("messages must not be empty".into()));
        }
        self.template.render(messages, self.tokenizer.bos_token(), self.tokenizer.eos_token(), true)
    }

    /// The grammar compiler of this model's vocabulary (built on first use).
    pub fn grammars(&self) -> Result<&Grammars> {
        self.grammars
            .get_or_init(|| Grammars::new(&self.tokenizer).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| ModelError::Tokenizer(e.clone()))
    }

    /// Prompt token ids of a raw prompt, used as is (no chat template; OpenAI's completions).
    pub fn encode_prompt(&self, prompt: &str) -> Result<Vec<u32>> {
        if prompt.is_empty() {
            return Err(ModelError::InvalidArgument("the prompt is empty".into()));
        }
        self.tokenizer.encode(prompt)
    }

    /// Prompt token ids of a conversation.
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        self.tokenizer.encode(&self.render_chat(messages)?)
    }

    /// A new sequence for `prompt`, checked against the limits.
    pub fn new_sequence(&self, prompt: Vec<u32>, params: GenerationParams) -> Result<Sequence> {
        params.validate()?;
        let limit = self.transformer.max_context();
        if prompt.is_empty() {
            return Err(ModelError::InvalidArgument("the prompt is empty".into()));
        }
        if prompt.len() >= limit {
            return Err(ModelError::InvalidArgument(format!(
                "prompt of {} tokens does not fit the context of {limit} tokens",
                prompt.len()
            )));
        }
        Ok(Sequence {
            sampler: Sampler::new(params.sampling.clone()),
            stop: StopMatcher::new(&params.stop),
            cache: self.transformer.new_cache(),
            prompt_len: prompt.len(),
            tokens: prompt,
            params,
            decoder: StreamDecoder::default(),
            text: String::new(),
            finish: None,
            constraint: None,
        })
    }

    /// Generates an answer to `messages`, calling `on_delta` with each piece of text.
    pub fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        mut on_delta: impl FnMut(&str),
    ) -> Result<GenerationOutput> {
        let prompt = self.encode_chat(messages)?;
        let mut seq = self.new_sequence(prompt, params.clone())?;
        let started = Instant::now();
        let mut first_token_at = None;
        while seq.finish_reason().is_none() {
            let logits = {
                let (cache, tokens, want_logits) = seq.next_batch_item();
                self.transformer.forward(&mut [BatchItem { cache, tokens, want_logits }])?
            };
            if let Some(mut logits) = logits.into_iter().next() {
                let step = seq.accept_logits(self, &mut logits)?;
                first_token_at.get_or_insert_with(Instant::now);
                if !step.delta.is_empty() {
                    on_delta(&step.delta);
                }
            }
        }
        let first = first_token_at.unwrap_or(started);
        Ok(seq.into_output(first - started, first.elapsed()))
    }
}

/// The result of sampling one token.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The token.
    pub token: u32,
    /// New text that may be shown (possibly empty: held for UTF-8 or a stop sequence).
    pub delta: String,
    /// Set when the sequence is finished.
    pub finished: Option<FinishReason>,
    /// The token's log probability and alternatives, when the request asked for them.
    pub logprobs: Option<Logprobs>,
}

/// One request's state: tokens so far, KV cache, sampler, and the text pipeline.
pub struct Sequence {
    tokens: Vec<u32>,
    prompt_len: usize,
    cache: KvCache,
    params: GenerationParams,
    sampler: Sampler,
    decoder: StreamDecoder,
    stop: StopMatcher,
    text: String,
    finish: Option<FinishReason>,
    constraint: Option<Constraint>,
}

impl Sequence {
    /// Constrains the output to a response format (before any token is generated or replayed).
    pub fn constrain(&mut self, constraint: Constraint) {
        self.constraint = Some(constraint);
    }

    /// Takes the grammar state out (put it back with [`Sequence::constrain`]), so that its next
    /// mask can be computed while the forward pass borrows the cache.
    pub fn take_constraint(&mut self) -> Option<Constraint> {
        self.constraint.take()
    }

    /// What the next forward pass needs from this sequence: its cache, the tokens not yet in it
    /// (at most [`PREFILL_CHUNK`] prompt tokens, or the last sampled token), and whether those
    /// reach the end of the sequence so that their logits are wanted.
    pub fn next_batch_item(&mut self) -> (&mut KvCache, &[u32], bool) {
        let start = self.cache.len();
        let end = self.tokens.len().min(start + PREFILL_CHUNK);
        (&mut self.cache, &self.tokens[start..end], end == self.tokens.len())
    }

    /// Prompt and generated tokens so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The sequence's keys and values so far.
    pub fn cache(&self) -> &KvCache {
        &self.cache
    }

    /// Tokens whose keys and values are in the cache.
    pub fn computed_tokens(&self) -> &[u32] {
        &self.tokens[..self.cache.len()]
    }

    /// Starts a sequence that has not run yet from the cached keys and values of the tokens it
    /// shares with `source` (see [`KvCache::prefix`]); at least one token is left to compute,
    /// for the logits. Returns the positions adopted.
    pub fn adopt_prefix(&mut self, source: &Sequence) -> usize {
        if !self.cache.is_empty() {
            return 0;
        }
        let shared = common_prefix(&self.tokens, source.computed_tokens()).min(self.tokens.len() - 1);
        if shared == 0 {
            return 0;
        }
        match source.cache.prefix(shared) {
            Ok(cache) => {
                self.cache = cache;
                shared
            }
            // Out of device memory for the copy: compute the prefix instead.
            Err(_) => 0,
        }
    }

    /// Why the sequence finished, if it has.
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }

    /// The text of the tokens generated so far, as streamed (resumed tokens' text included).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Tokens generated so far.
    pub fn generated(&self) -> &[u32] {
        &self.tokens[self.prompt_len..]
    }

    /// Samples the next token from the logits of the last position and advances the text:
    /// penalties, then the response format's mask, then the sampler. Fails only when the
    /// constraint does.
    pub fn accept_logits(&mut self, model: &TextModel, logits: &mut [f32]) -> Result<Step> {
        let distribution = self.params.logprobs.map(|top| Distribution::new(logits, top));
        let p = &self.params;
        apply_penalties(logits, &self.tokens[self.prompt_len..], p.presence_penalty, p.frequency_penalty);
        if let Some(c) = &mut self.constraint {
            c.apply(logits)?;
        }
        let token = self.sampler.sample(logits, &self.tokens);
        let mut step = self.push_token(model, token)?;
        step.logprobs = distribution.map(|d| d.chosen(token));
        Ok(step)
    }

    /// Replays tokens that an earlier run of this same request already produced (failover): they
    /// advance the RNG, the text pipeline and the token list exactly as sampling them did, so the
    /// continuation is the one the earlier run would have produced. Their text is not returned:
    /// whoever asked already has it.
    pub fn replay(&mut self, model: &TextModel, tokens: &[u32]) -> Result<()> {
        for (i, &token) in tokens.iter().enumerate() {
            if token as usize >= model.tokenizer().vocab_size() {
                return Err(ModelError::InvalidArgument(format!(
                    "resume token {token} is outside the vocabulary"
                )));
            }
            self.sampler.skip_draw();
            if self.push_token(model, token)?.finished.is_some() && i + 1 < tokens.len() {
                return Err(ModelError::InvalidArgument(format!(
                    "the generation already ends after {} of the {} resume tokens",
                    i + 1,
                    tokens.len()
                )));
            }
        }
        if self.finish.is_some() {
            return Err(ModelError::InvalidArgument(
                "the resume tokens already complete the generation".into(),
            ));
        }
        Ok(())
    }

    fn push_token(&mut self, model: &TextModel, token: u32) -> Result<Step> {
        if let Some(c) = &mut self.constraint {
            c.accept(token)?;
        }
        self.tokens.push(token);
        let generated = self.tokens.len() - self.prompt_len;
        let tokenizer = model.tokenizer();
        let mut delta = String::new();
        let mut stopped_on_sequence = false;
        if tokenizer.is_end_of_generation(token) && !self.params.ignore_eos {
            self.finish = Some(FinishReason::Stop);
        } else {
            let piece = self.decoder.push(tokenizer.token_bytes(token));
            let out = self.stop.push(&piece);
            delta = out.emit;
            if out.stopped {
                stopped_on_sequence = true;
                self.finish = Some(FinishReason::Stop);
            }
        }
        // A finished format ends the answer, as an end-of-turn token would.
        if self.finish.is_none() && self.constraint.as_ref().is_some_and(Constraint::is_finished) {
            self.finish = Some(FinishReason::Stop);
        }
        if self.finish.is_none()
            && (generated >= self.params.max_tokens || self.tokens.len() >= model.transformer().max_context())
        {
            self.finish = Some(FinishReason::Length);
        }
        // At the end, release text held back for UTF-8 or a possible stop sequence, unless a
        // stop sequence matched: what follows it is not part of the answer.
        if self.finish.is_some() && !stopped_on_sequence {
            let out = self.stop.push(&self.decoder.flush());
            delta.push_str(&out.emit);
            if out.stopped {
                self.finish = Some(FinishReason::Stop);
            } else {
                delta.push_str(&self.stop.flush());
            }
        }
        self.text.push_str(&delta);
        Ok(Step { token, delta, finished: self.finish, logprobs: None })
    }

    /// The finished output.
    pub fn into_output(self, prefill_time: Duration, decode_time: Duration) -> GenerationOutput {
        let completion = self.tokens.len() - self.prompt_len;
        GenerationOutput {
            text: self.text,
            token_ids: self.tokens[self.prompt_len..].to_vec(),
            finish_reason: self.finish.unwrap_or(FinishReason::Length),
            usage: Usage { prompt_tokens: self.prompt_len, completion_tokens: completion },
            prefill_time,
            decode_time,
        }
    }
}

/// Length of the common prefix of two token lists.
pub fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
