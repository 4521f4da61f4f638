//! OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`) and
//! their translation into `wick.v1` requests: parsed and checked once, here.
//!
//! Every parameter OpenAI defines is either served, or refused with a 400 that names it
//! (`param`): nothing that would change the output is silently ignored. Parameters that cannot
//! change it (`user`, `metadata`, `store`, `service_tier`) are accepted, and so is any
//! parameter set to its no-op value (`null`, `false`, an empty string, list or object).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use wick_proto::v1::{self, ChatMessage, EmbedRequest, GenerateRequest, ResponseFormat};

use crate::RequestError;

/// Most choices per request (`n`).
pub const MAX_CHOICES: u32 = crate::limits::MAX_CHOICES;
/// Most stop sequences per request (OpenAI's limit).
pub const MAX_STOPS: usize = 4;
/// Most alternatives per token (`top_logprobs`, a completion's `logprobs`).
pub const MAX_TOP_LOGPROBS: u32 = 20;
/// Most messages per chat request.
pub const MAX_MESSAGES: usize = crate::limits::MAX_MESSAGES;

/// Parameters that never change the output: accepted and not used.
const HARMLESS: &[&str] = &["user", "metadata", "store", "service_tier"];

/// A string or a list of strings (`stop`, `prompt`, `input`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct InResponseFormat {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    json_schema: Option<JsonSchemaFormat>,
}

#[derive(Debug, Deserialize)]
struct JsonSchemaFormat {
    #[serde(default)]
    schema: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

/// A completion's `logprobs` is a count; a chat's is a flag (with `top_logprobs`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LogprobsParam {
    Flag(bool),
    Count(u32),
}

/// What chat and text completion requests share besides their input.
#[derive(Debug, Deserialize)]
struct Generation {
    model: String,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<u32>,
    repetition_penalty: Option<f32>,
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    seed: Option<u64>,
    stop: Option<OneOrMany>,
    n: Option<u32>,
    logprobs: Option<LogprobsParam>,
    top_logprobs: Option<u32>,
    response_format: Option<InResponseFormat>,
    /// Everything else: refused unless harmless or a no-op.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// How the client wants a generation delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// As server-sent events.
    pub stream: bool,
    /// With a final usage chunk (streams only).
    pub include_usage: bool,
    /// Choices to generate.
    pub n: u32,
    /// Log probabilities with this many alternatives per token.
    pub logprobs: Option<u32>,
}

fn is_no_op(key: &str, v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty() || (key == "tool_choice" && s == "none"),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => key == "best_of" && n.as_u64() == Some(1),
        Value::Bool(true) => false,
    }
}

/// Refuses the first parameter Wick does not serve, naming it.
fn refuse_unknown(rest: &BTreeMap<String, Value>, prefix: &str) -> Result<(), RequestError> {
    match rest.iter().find(|(k, v)| !HARMLESS.contains(&k.as_str()) && !is_no_op(k, v)) {
        None => Ok(()),
        Some((k, _)) => Err(RequestError::param(
            format!("{prefix}{k}"),
            format!("parameter `{prefix}{k}` is not supported by Wick"),
        )),
    }
}

fn in_range(name: &str, v: Option<f32>, lo: f32, hi: f32) -> Result<(), RequestError> {
    match v {
        Some(x) if !(lo..=hi).contains(&x) => {
            Err(RequestError::param(name, format!("{name} must be between {lo} and {hi}, got {x}")))
        }
        _ => Ok(()),
    }
}

impl InResponseFormat {
    fn into_wire(self) -> Result<Option<ResponseFormat>, RequestError> {
        const PARAM: &str = "response_format";
        match self.kind.as_str() {
            "text" => Ok(None),
            "json_object" => Ok(Some(ResponseFormat { r#type: self.kind, ..Default::default() })),
            "json_schema" => {
                let format = self.json_schema.ok_or_else(|| {
                    RequestError::param(
                        "response_format.json_schema",
                        "json_schema needs its `json_schema` object",
                    )
                })?;
                let schema = format.schema.unwrap_or_else(|| serde_json::json!({}));
                if !schema.is_object() && !schema.is_boolean() {
                    return Err(RequestError::param(
                        "response_format.json_schema.schema",
                        "the schema must be a JSON object",
                    ));
                }
                Ok(Some(ResponseFormat {
                    r#type: self.kind,
                    schema: schema.to_string(),
                    strict: format.strict.unwrap_or(false),
                }))
            }
            other => Err(RequestError::param(
                PARAM,
                format!("response_format type `{other}` is not one of text, json_object, json_schema"),
            )),
        }
    }
}

impl Generation {
    /// The wire parameters and how to deliver; `chat` tells how to read `logprobs`.
    fn into_params(self, chat: bool) -> Result<(String, v1::SamplingParams, Delivery), RequestError> {
        refuse_unknown(&self.rest, "")?;
        in_range("temperature", self.temperature, 0.0, 2.0)?;
        in_range("top_p", self.top_p, 0.0, 1.0)?;
        in_range("presence_penalty", self.presence_penalty, -2.0, 2.0)?;
        in_range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)?;
        let n = self.n.unwrap_or(1);
        if !(1..=MAX_CHOICES).contains(&n) {
            return Err(RequestError::param("n", format!("n must be between 1 and {MAX_CHOICES}, got {n}")));
        }
        let stop = self.stop.map(OneOrMany::into_vec).unwrap_or_default();
        if stop.len() > MAX_STOPS {
            return Err(RequestError::param("stop", format!("at most {MAX_STOPS} stop sequences")));
        }
        let logprobs = match (self.logprobs, chat) {
            (None | Some(LogprobsParam::Flag(false)), _) => None,
            (Some(LogprobsParam::Flag(true)), true) => Some(self.top_logprobs.unwrap_or(0)),
            (Some(LogprobsParam::Count(k)), false) => Some(k),
            (Some(_), true) => return Err(RequestError::param("logprobs", "logprobs must be true or false")),
            (Some(_), false) => return Err(RequestError::param("logprobs", "logprobs must be a count")),
        };
        if self.top_logprobs.is_some_and(|k| k > 0) && logprobs.is_none() {
            return Err(RequestError::param("top_logprobs", "top_logprobs needs logprobs: true"));
        }
        if let Some(k) = logprobs.filter(|&k| k > MAX_TOP_LOGPROBS) {
            let name = if chat { "top_logprobs" } else { "logprobs" };
            return Err(RequestError::param(
                name,
                format!("{name} must be at most {MAX_TOP_LOGPROBS}, got {k}"),
            ));
        }
        if self.max_completion_tokens.or(self.max_tokens) == Some(0) {
            return Err(RequestError::param("max_tokens", "max_tokens must be at least 1"));
        }
        let response_format = self.response_format.map(InResponseFormat::into_wire).transpose()?.flatten();
        let stream = self.stream.unwrap_or(false);
        let include_usage = self.stream_options.unwrap_or_default().include_usage.unwrap_or(false);
        let params = v1::SamplingParams {
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(1.0),
            top_k: self.top_k.unwrap_or(0),
            repetition_penalty: self.repetition_penalty.unwrap_or(1.0),
            seed: self.seed.unwrap_or(0),
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            stop,
            ignore_eos: false,
            presence_penalty: self.presence_penalty.unwrap_or(0.0),
            frequency_penalty: self.frequency_penalty.unwrap_or(0.0),
            logprobs: logprobs.is_some(),
            top_logprobs: logprobs.unwrap_or(0),
            response_format,
            n,
        };
        Ok((self.model, params, Delivery { stream, include_usage, n, logprobs }))
    }
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    messages: Vec<InMessage>,
    #[serde(flatten)]
    generation: Generation,
}

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    prompt: OneOrMany,
    #[serde(flatten)]
    generation: Generation,
}

/// `POST /v1/embeddings`.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    model: String,
    input: OneOrMany,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

/// How embedding vectors are written in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A JSON array of numbers.
    Float,
    /// Base64 of the little-endian f32 bytes.
    Base64,
}

fn message(i: usize, m: InMessage) -> Result<ChatMessage, RequestError> {
    refuse_unknown(&m.rest, &format!("messages[{i}]."))?;
    let content = match m.content {
        None => String::new(),
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => {
            if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                return Err(RequestError::param(
                    format!("messages[{i}].content"),
                    format!("content part type `{}` is not supported (text only)", p.kind),
                ));
            }
            parts.into_iter().map(|p| p.text).collect()
        }
    };
    let role = match m.role.as_str() {
        "developer" => "system".to_string(),
        "system" | "user" | "assistant" => m.role,
        other => {
            return Err(RequestError::param(
                format!("messages[{i}].role"),
                format!("message role `{other}` is not supported (system, developer, user, assistant)"),
            ));
        }
    };
    Ok(ChatMessage { role, content })
}

fn generate(
    model: String,
    messages: Vec<ChatMessage>,
    prompt: String,
    params: v1::SamplingParams,
) -> GenerateRequest {
    GenerateRequest { model, messages, params: Some(params), ticket: None, resume_tokens: Vec::new(), prompt }
}

impl ChatRequest {
    /// The generation it asks for, and how to deliver it.
    pub fn into_generate(self) -> Result<(GenerateRequest, Delivery), RequestError> {
        if self.messages.is_empty() {
            return Err(RequestError::param("messages", "messages must not be empty"));
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(RequestError::param("messages", format!("at most {MAX_MESSAGES} messages")));
        }
        let messages =
            self.messages.into_iter().enumerate().map(|(i, m)| message(i, m)).collect::<Result<_, _>>()?;
        let (model, params, delivery) = self.generation.into_params(true)?;
        Ok((generate(model, messages, String::new(), params), delivery))
    }
}

impl CompletionRequest {
    /// The generation it asks for (one prompt), and how to deliver it.
    pub fn into_generate(self) -> Result<(GenerateRequest, Delivery), RequestError> {
        let [prompt]: [String; 1] = self
            .prompt
            .into_vec()
            .try_into()
            .map_err(|_| RequestError::param("prompt", "exactly one prompt is supported"))?;
        if prompt.is_empty() {
            return Err(RequestError::param("prompt", "the prompt must not be empty"));
        }
        let (model, params, delivery) = self.generation.into_params(false)?;
        Ok((generate(model, Vec::new(), prompt, params), delivery))
    }
}

impl EmbeddingsRequest {
    /// The embedding job it asks for, and how to write the vectors.
    pub fn into_embed(self) -> Result<(EmbedRequest, Encoding), RequestError> {
        refuse_unknown(&self.rest, "")?;
        let encoding = match self.encoding_format.as_deref() {
            None | Some("float") => Encoding::Float,
            Some("base64") => Encoding::Base64,
            Some(other) => {
                return Err(RequestError::param(
                    "encoding_format",
                    format!("encoding_format `{other}` is not supported (float or base64)"),
                ));
            }
        };
        let req = EmbedRequest { model: self.model, inputs: self.input.into_vec(), ticket: None };
        crate::limits::check_embed(&req)?;
        Ok((req, encoding))
    }
}

#[cfg(test)]
mod tests;
