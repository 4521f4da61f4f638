//! A generation request as the engine needs it, parsed from the wire once: the prompt (chat
//! messages or a raw prompt), validated generation parameters with the worker's limits applied,
//! and the response format; then, on a tokenizer thread ([`crate::tokenize`]), the prompt's
//! token ids and the format's compiled constraint.

use tonic::Status;
use wick_models::constrain::{Constraint, ResponseFormat};
use wick_models::sampling::SamplingParams as ModelSampling;
use wick_models::{ChatMessage, GenerationParams, TextModel};
use wick_proto::v1::{self, GenerateRequest};

use crate::config::WorkerConfig;

/// What is to be tokenized.
#[derive(Debug, Clone)]
pub enum Input {
    /// A conversation, rendered with the model's chat template.
    Chat(Vec<ChatMessage>),
    /// A raw prompt, tokenized as is (OpenAI's completions).
    Prompt(String),
}

impl Input {
    /// The request's messages (roles checked) or its raw prompt.
    pub fn of(req: &GenerateRequest) -> Result<Self, Status> {
        if req.messages.is_empty() {
            if req.prompt.is_empty() {
                return Err(Status::invalid_argument(
                    "messages must not be empty: give messages (chat) or a prompt (completion)",
                ));
            }
            return Ok(Self::Prompt(req.prompt.clone()));
        }
        let messages = req
            .messages
            .iter()
            .map(|m| match m.role.as_str() {
                "system" | "user" | "assistant" => {
                    Ok(ChatMessage { role: m.role.clone(), content: m.content.clone() })
                }
                other => Err(Status::invalid_argument(format!(
                    "message role `{other}` is not one of system, user, assistant"
                ))),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::Chat(messages))
    }
}

/// Turns wire parameters into validated model parameters, applying the worker's limits.
pub fn generation_params(
    p: Option<&v1::SamplingParams>,
    config: &WorkerConfig,
) -> Result<GenerationParams, Status> {
    let d = v1::SamplingParams::default();
    let p = p.unwrap_or(&d);
    let max_tokens = p.max_tokens.map_or(config.default_max_tokens, |m| m as usize);
    if max_tokens > config.max_tokens_limit {
        return Err(Status::invalid_argument(format!(
            "max_tokens {max_tokens} is above this worker's limit of {}",
            config.max_tokens_limit
        )));
    }
    if p.n > 1 {
        return Err(Status::invalid_argument(
            "n > 1 is served by routers (each choice is a job of its own); ask a worker for one choice",
        ));
    }
    if !p.logprobs && p.top_logprobs > 0 {
        return Err(Status::invalid_argument("top_logprobs needs logprobs"));
    }
    let params = GenerationParams {
        max_tokens,
        sampling: ModelSampling {
            temperature: p.temperature,
            top_p: if p.top_p == 0.0 { 1.0 } else { p.top_p },
            top_k: p.top_k as usize,
            repetition_penalty: if p.repetition_penalty == 0.0 { 1.0 } else { p.repetition_penalty },
            seed: p.seed,
            ..ModelSampling::default()
        },
        stop: p.stop.clone(),
        ignore_eos: p.ignore_eos,
        presence_penalty: p.presence_penalty,
        frequency_penalty: p.frequency_penalty,
        logprobs: p.logprobs.then_some(p.top_logprobs as usize),
    };
    params.validate().map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(params)
}

/// The response format a request asks for.
pub fn response_format(p: Option<&v1::SamplingParams>) -> Result<ResponseFormat, Status> {
    let format = p.and_then(|p| p.response_format.clone()).unwrap_or_default();
    ResponseFormat::parse(&format.r#type, &format.schema).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// A request ready for the engine.
pub struct Tokenized {
    /// Prompt token ids.
    pub prompt: Vec<u32>,
    /// The response format's grammar state, if the output is constrained.
    pub constraint: Option<Constraint>,
}

/// Renders and tokenizes the prompt and compiles the format (CPU work: run it on a tokenizer
/// thread). `resumed` tokens must fit the context beside the prompt.
pub fn tokenize(
    model: &TextModel,
    input: &Input,
    format: &ResponseFormat,
    resumed: usize,
) -> Result<Tokenized, Status> {
    let invalid = |e: wick_models::ModelError| Status::invalid_argument(e.to_string());
    let prompt = match input {
        Input::Chat(messages) => model.encode_chat(messages),
        Input::Prompt(text) => model.encode_prompt(text),
    }
    .map_err(invalid)?;
    let limit = model.transformer().max_context();
    if prompt.len().saturating_add(resumed) >= limit {
        return Err(Status::invalid_argument(format!(
            "prompt of {} tokens does not fit the context of {limit} tokens",
            prompt.len().saturating_add(resumed)
        )));
    }
    let constraint = match format {
        ResponseFormat::Text => None,
        _ => {
            model.grammars().map_err(|e| Status::internal(e.to_string()))?.compile(format).map_err(invalid)?
        }
    };
    Ok(Tokenized { prompt, constraint })
}
