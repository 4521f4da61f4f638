//! Request bodies of the API, and their translation into `wick.v1` requests: parsed and checked
//! once, here.

use serde::Deserialize;
use wick_proto::v1::{self, ChatMessage, EmbedRequest, GenerateRequest};

use super::error::ApiError;

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
}

#[derive(Debug, Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The sampling fields shared by chat and text completions.
#[derive(Debug, Deserialize)]
struct Sampling {
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<u32>,
    repetition_penalty: Option<f32>,
    seed: Option<u64>,
    stop: Option<OneOrMany>,
    n: Option<u32>,
}

impl Sampling {
    fn into_params(self) -> Result<v1::SamplingParams, ApiError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ApiError::invalid_request("only n = 1 is supported"));
        }
        Ok(v1::SamplingParams {
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(1.0),
            top_k: self.top_k.unwrap_or(0),
            repetition_penalty: self.repetition_penalty.unwrap_or(1.0),
            seed: self.seed.unwrap_or(0),
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            stop: self.stop.map(OneOrMany::into_vec).unwrap_or_default(),
            ignore_eos: false,
        })
    }
}

/// How the client wants a generation delivered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    /// As server-sent events.
    pub(crate) stream: bool,
    /// With a final usage chunk (streams only).
    pub(crate) include_usage: bool,
}

/// What chat and text completion requests share besides their input.
#[derive(Debug, Deserialize)]
struct Generation {
    model: String,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    sampling: Sampling,
}

impl Generation {
    /// The generation of `messages` or `prompt`, and how to deliver it.
    fn into_generate(
        self,
        messages: Vec<ChatMessage>,
        prompt: String,
    ) -> Result<(GenerateRequest, Delivery), ApiError> {
        let params = self.sampling.into_params()?;
        let include_usage = self.stream_options.unwrap_or_default().include_usage;
        let req = GenerateRequest {
            model: self.model,
            messages,
            params: Some(params),
            ticket: None,
            resume_tokens: Vec::new(),
            prompt,
        };
        Ok((req, Delivery { stream: self.stream, include_usage }))
    }
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    messages: Vec<InMessage>,
    #[serde(flatten)]
    generation: Generation,
}

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionRequest {
    prompt: OneOrMany,
    #[serde(flatten)]
    generation: Generation,
}

/// `POST /v1/embeddings`.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingsRequest {
    model: String,
    input: OneOrMany,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// How embedding vectors are written in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// A JSON array of numbers.
    Float,
    /// Base64 of the little-endian f32 bytes.
    Base64,
}

fn message(m: InMessage) -> Result<ChatMessage, ApiError> {
    let content = match m.content {
        None => String::new(),
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => {
            if let Some(p) = parts.iter().find(|p| p.kind != "text") {
                return Err(ApiError::invalid_request(format!(
                    "content part type `{}` is not supported (text only)",
                    p.kind
                )));
            }
            parts.into_iter().map(|p| p.text).collect()
        }
    };
    let role = if m.role == "developer" { "system".to_string() } else { m.role };
    Ok(ChatMessage { role, content })
}

impl ChatRequest {
    /// The generation it asks for, and how to deliver it.
    pub(crate) fn into_generate(self) -> Result<(GenerateRequest, Delivery), ApiError> {
        let messages = self.messages.into_iter().map(message).collect::<Result<_, _>>()?;
        self.generation.into_generate(messages, String::new())
    }
}

impl CompletionRequest {
    /// The generation it asks for (one prompt), and how to deliver it.
    pub(crate) fn into_generate(self) -> Result<(GenerateRequest, Delivery), ApiError> {
        let [prompt]: [String; 1] = self
            .prompt
            .into_vec()
            .try_into()
            .map_err(|_| ApiError::invalid_request("exactly one prompt is supported"))?;
        self.generation.into_generate(Vec::new(), prompt)
    }
}

impl EmbeddingsRequest {
    /// The embedding job it asks for, and how to write the vectors.
    pub(crate) fn into_embed(self) -> Result<(EmbedRequest, Encoding), ApiError> {
        let encoding = match self.encoding_format.as_deref() {
            None | Some("float") => Encoding::Float,
            Some("base64") => Encoding::Base64,
            Some(other) => {
                return Err(ApiError::invalid_request(format!(
                    "encoding_format `{other}` is not supported (float or base64)"
                )));
            }
        };
        Ok((EmbedRequest { model: self.model, inputs: self.input.into_vec(), ticket: None }, encoding))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_bodies_become_generate_requests() {
        let body = r#"{"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"a"},
            {"type":"text","text":"b"}]},{"role":"user"}],"stop":"x","max_tokens":3,"max_completion_tokens":5,
            "stream":true,"stream_options":{"include_usage":true}}"#;
        let req: ChatRequest = serde_json::from_str(body).expect("parses");
        let (grpc, delivery) = req.into_generate().expect("valid");
        assert_eq!(grpc.messages[0], ChatMessage { role: "system".into(), content: "ab".into() });
        assert_eq!(grpc.messages[1].content, "");
        let params = grpc.params.expect("params");
        assert_eq!(
            (params.max_tokens, params.stop, params.temperature),
            (Some(5), vec!["x".to_string()], 1.0)
        );
        assert!(delivery.stream && delivery.include_usage);
    }

    #[test]
    fn unsupported_requests_are_refused() {
        let parse = |body: &str| serde_json::from_str::<ChatRequest>(body).expect("parses").into_generate();
        assert!(parse(r#"{"model":"m","messages":[],"n":2}"#).is_err());
        assert!(
            parse(r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#).is_err()
        );
        let two: CompletionRequest =
            serde_json::from_str(r#"{"model":"m","prompt":["a","b"]}"#).expect("parses");
        assert!(two.into_generate().is_err());
        let e: EmbeddingsRequest =
            serde_json::from_str(r#"{"model":"m","input":"a","encoding_format":"int8"}"#).expect("parses");
        assert!(e.into_embed().is_err());
    }
}
