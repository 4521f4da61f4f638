//! Response bodies of the API: OpenAI's objects (chat completion and its chunks, text
//! completion, embedding list, model list), each with Wick's countersigned receipt where there
//! is one.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use prost::Message;
use serde::{Serialize, Serializer};
use wick_proto::json::ReceiptJson;
use wick_proto::v1::{self, FinishReason, SignedReceipt};

use super::logprobs::ChoiceLogprobs;
pub(crate) use wick_api::openai::Encoding;

/// Which OpenAI object a generation is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions`.
    Text,
}

impl Flavor {
    /// The route's label in metrics.
    pub(crate) fn route(self) -> &'static str {
        match self {
            Self::Chat => "http.chat",
            Self::Text => "http.completions",
        }
    }

    /// A new response id.
    pub(crate) fn new_id(self) -> String {
        let mut id = [0u8; 12];
        rand::fill(&mut id);
        let prefix = if self == Self::Chat { "chatcmpl" } else { "cmpl" };
        format!("{prefix}-{}", hex::encode(id))
    }

    fn object(self) -> &'static str {
        if self == Self::Chat { "chat.completion" } else { "text_completion" }
    }

    fn chunk_object(self) -> &'static str {
        if self == Self::Chat { "chat.completion.chunk" } else { "text_completion" }
    }
}

/// OpenAI's `finish_reason` for ours.
pub(crate) fn finish_reason(code: i32) -> &'static str {
    if code == FinishReason::Length as i32 { "length" } else { "stop" }
}

/// Token counts of a completion.
#[derive(Debug, Serialize)]
pub(crate) struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

impl From<v1::Usage> for Usage {
    fn from(u: v1::Usage) -> Self {
        let total_tokens = u.prompt_tokens.saturating_add(u.completion_tokens);
        Self { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens }
    }
}

/// A JSON response with the receipt also in the `x-wick-receipt` header (protobuf, hex).
pub(crate) fn with_receipt(body: impl Serialize, receipt: &SignedReceipt) -> Response {
    let mut response = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&hex::encode(receipt.encode_to_vec())) {
        response.headers_mut().insert("x-wick-receipt", v);
    }
    response
}

/// The assistant's message of a chat completion.
#[derive(Debug, Serialize)]
struct AssistantMessage {
    role: &'static str,
    content: String,
}

/// What a chat chunk adds to the message.
#[derive(Debug, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    content: &'a str,
}

/// One choice of a completion or chunk.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Choice<'a> {
    Message {
        index: u32,
        message: AssistantMessage,
        logprobs: Option<ChoiceLogprobs>,
        finish_reason: &'static str,
    },
    Delta {
        index: u32,
        delta: Delta<'a>,
        logprobs: Option<ChoiceLogprobs>,
        finish_reason: Option<&'static str>,
    },
    Text {
        index: u32,
        text: &'a str,
        logprobs: Option<ChoiceLogprobs>,
        finish_reason: Option<&'static str>,
    },
}

/// Everything one choice produced, gathered for a whole (not streamed) answer.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    /// The text.
    pub(crate) text: String,
    /// Each token's log probabilities, when asked for.
    pub(crate) logprobs: Vec<v1::TokenLogprob>,
    /// The final message.
    pub(crate) done: Option<v1::GenerateDone>,
}

/// Usage of a request: the prompt once, the completions of every choice.
pub(crate) fn total_usage<'a>(done: impl Iterator<Item = &'a v1::GenerateDone>) -> v1::Usage {
    let mut total = v1::Usage::default();
    for (i, d) in done.enumerate() {
        let u = d.usage.unwrap_or_default();
        if i == 0 {
            total.prompt_tokens = u.prompt_tokens;
        }
        total.completion_tokens = total.completion_tokens.saturating_add(u.completion_tokens);
    }
    total
}

/// A whole (not streamed) chat or text completion.
#[derive(Debug, Serialize)]
pub(crate) struct Completion<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: String,
    choices: Vec<Choice<'a>>,
    usage: Usage,
    wick_receipt: ReceiptJson,
    /// Every choice's receipt, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    wick_receipts: Vec<ReceiptJson>,
}

impl<'a> Completion<'a> {
    /// The completion of finished choices (in index order; each has its final message);
    /// `logprobs` tells whether the client asked for them.
    pub(crate) fn new(header: ChunkHeader, choices: &'a [Gathered], logprobs: bool) -> Self {
        let receipt = |g: &Gathered| {
            ReceiptJson::from(&g.done.as_ref().and_then(|d| d.receipt.clone()).unwrap_or_default())
        };
        let flavor = header.flavor;
        let out = choices
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let finish = finish_reason(g.done.as_ref().map_or(0, |d| d.finish_reason));
                let logprobs = logprobs.then(|| ChoiceLogprobs::new(flavor, &g.logprobs, 0));
                let index = i as u32;
                match flavor {
                    Flavor::Chat => Choice::Message {
                        index,
                        message: AssistantMessage { role: "assistant", content: g.text.clone() },
                        logprobs,
                        finish_reason: finish,
                    },
                    Flavor::Text => {
                        Choice::Text { index, text: &g.text, logprobs, finish_reason: Some(finish) }
                    }
                }
            })
            .collect();
        Self {
            object: flavor.object(),
            id: header.id,
            created: header.created,
            model: header.model,
            choices: out,
            usage: total_usage(choices.iter().filter_map(|g| g.done.as_ref())).into(),
            wick_receipt: choices
                .first()
                .map(receipt)
                .unwrap_or_else(|| ReceiptJson::from(&SignedReceipt::default())),
            wick_receipts: if choices.len() > 1 { choices.iter().map(receipt).collect() } else { Vec::new() },
        }
    }
}

/// What every object of one response shares.
#[derive(Debug, Clone)]
pub(crate) struct ChunkHeader {
    /// `chatcmpl-…` or `cmpl-…`.
    pub(crate) id: String,
    /// The model the client asked for.
    pub(crate) model: String,
    /// Unix seconds.
    pub(crate) created: u64,
    /// Chat or text.
    pub(crate) flavor: Flavor,
}

/// One streamed chunk.
#[derive(Debug, Serialize)]
pub(crate) struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wick_receipt: Option<ReceiptJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

impl ChunkHeader {
    fn chunk<'a>(&'a self, choices: Vec<Choice<'a>>) -> Chunk<'a> {
        Chunk {
            id: &self.id,
            object: self.flavor.chunk_object(),
            created: self.created,
            model: &self.model,
            choices,
            wick_receipt: None,
            usage: None,
        }
    }

    /// The first chunk of a chat stream: the assistant's role, for each of `n` choices.
    pub(crate) fn role(&self, n: u32) -> Chunk<'_> {
        let choice = |index| Choice::Delta {
            index,
            delta: Delta { role: Some("assistant"), content: "" },
            logprobs: None,
            finish_reason: None,
        };
        self.chunk((0..n).map(choice).collect())
    }

    /// New text of choice `index` (with its tokens' log probabilities), and the finish reason
    /// on the last chunk.
    pub(crate) fn delta<'a>(
        &'a self,
        index: u32,
        text: &'a str,
        logprobs: Option<ChoiceLogprobs>,
        finish_reason: Option<&'static str>,
    ) -> Chunk<'a> {
        let choice = match self.flavor {
            Flavor::Chat => {
                Choice::Delta { index, delta: Delta { role: None, content: text }, logprobs, finish_reason }
            }
            Flavor::Text => Choice::Text { index, text, logprobs, finish_reason },
        };
        self.chunk(vec![choice])
    }

    /// The last chunk of a choice: its finish reason and receipt.
    pub(crate) fn last(&self, done: &v1::GenerateDone) -> Chunk<'_> {
        let mut chunk = self.delta(done.index, "", None, Some(finish_reason(done.finish_reason)));
        chunk.wick_receipt = Some(ReceiptJson::from(&done.receipt.clone().unwrap_or_default()));
        chunk
    }

    /// The usage chunk (no choices), sent when the client asked for it.
    pub(crate) fn usage(&self, usage: v1::Usage) -> Chunk<'_> {
        let mut chunk = self.chunk(Vec::new());
        chunk.usage = Some(usage.into());
        chunk
    }
}

/// One vector of an embedding list.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Vector {
    /// Numbers, each written as the f64 of the f32 (its exact value).
    Float(#[serde(serialize_with = "exact_f32s")] Vec<f32>),
    /// Base64 of the little-endian f32 bytes.
    Base64(String),
}

fn exact_f32s<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().map(|&x| f64::from(x)))
}

impl Vector {
    /// `values` in the requested encoding.
    pub(crate) fn new(values: Vec<f32>, encoding: Encoding) -> Self {
        match encoding {
            Encoding::Float => Self::Float(values),
            Encoding::Base64 => {
                let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
                Self::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }
    }
}

/// One entry of an embedding list.
#[derive(Debug, Serialize)]
pub(crate) struct EmbeddingData {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

/// Prompt tokens of an embedding job.
#[derive(Debug, Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u32,
    total_tokens: u32,
}

/// The answer of `/v1/embeddings`.
#[derive(Debug, Serialize)]
pub(crate) struct EmbeddingList {
    object: &'static str,
    data: Vec<EmbeddingData>,
    model: String,
    usage: EmbeddingUsage,
    wick_receipt: ReceiptJson,
}

impl EmbeddingList {
    /// The list of `vectors` for `model`, with the job's prompt tokens and receipt.
    pub(crate) fn new(model: String, vectors: Vec<Vector>, tokens: u32, receipt: &SignedReceipt) -> Self {
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(index, embedding)| EmbeddingData { object: "embedding", index, embedding })
            .collect();
        let usage = EmbeddingUsage { prompt_tokens: tokens, total_tokens: tokens };
        Self { object: "list", data, model, usage, wick_receipt: ReceiptJson::from(receipt) }
    }
}

/// One model of `/v1/models`.
#[derive(Debug, Serialize)]
pub(crate) struct ModelCard {
    /// The catalog name, which requests use.
    pub(crate) id: String,
    /// Always `model`.
    pub(crate) object: &'static str,
    /// Always 0: models have no creation date on the network.
    pub(crate) created: u64,
    /// Always `wick`.
    pub(crate) owned_by: &'static str,
    /// sha256 of the weights.
    pub(crate) wick_id: String,
    /// `chat` or `embedding`.
    pub(crate) kind: String,
}

/// The answer of `/v1/models`.
#[derive(Debug, Serialize)]
pub(crate) struct ModelList {
    /// Always `list`.
    pub(crate) object: &'static str,
    /// The models live workers serve.
    pub(crate) data: Vec<ModelCard>,
}

/// The answer of `/health`.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    /// Always `ok`: the router answers.
    pub(crate) status: &'static str,
    /// Live workers that may get traffic.
    pub(crate) workers: usize,
}
