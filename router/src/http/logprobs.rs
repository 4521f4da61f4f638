//! Token log probabilities in OpenAI's two shapes: a chat choice's `logprobs.content` (one object
//! per token, with its bytes and alternatives) and a text completion's `logprobs` (parallel
//! lists of tokens, log probabilities, alternatives and text offsets).

use std::collections::BTreeMap;

use serde::Serialize;
use wick_proto::v1::{TokenLogprob, TopLogprob};

use super::response::Flavor;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One alternative of a chat token.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChatTop {
    token: String,
    logprob: f32,
    bytes: Vec<u8>,
}

/// One chat token.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChatToken {
    token: String,
    logprob: f32,
    bytes: Vec<u8>,
    top_logprobs: Vec<ChatTop>,
}

/// A choice's log probabilities, in the shape of its flavour.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum ChoiceLogprobs {
    /// Chat: `{"content": [...], "refusal": null}`.
    Chat {
        /// One entry per token.
        content: Vec<ChatToken>,
        /// Always null.
        refusal: Option<()>,
    },
    /// Text completion: parallel lists.
    Text {
        /// Token texts.
        tokens: Vec<String>,
        /// Their log probabilities.
        token_logprobs: Vec<f32>,
        /// Per token, its alternatives by text.
        top_logprobs: Vec<BTreeMap<String, f32>>,
        /// Per token, where its text starts in the choice's text (bytes).
        text_offset: Vec<usize>,
    },
}

fn chat_top(t: &TopLogprob) -> ChatTop {
    ChatTop { token: text(&t.token), logprob: t.logprob, bytes: t.token.clone() }
}

impl ChoiceLogprobs {
    /// The log probabilities of `tokens`, the first of which starts at byte `offset` of the
    /// choice's text.
    pub(crate) fn new(flavor: Flavor, tokens: &[TokenLogprob], offset: usize) -> Self {
        match flavor {
            Flavor::Chat => Self::Chat {
                content: tokens
                    .iter()
                    .map(|t| ChatToken {
                        token: text(&t.token),
                        logprob: t.logprob,
                        bytes: t.token.clone(),
                        top_logprobs: t.top.iter().map(chat_top).collect(),
                    })
                    .collect(),
                refusal: None,
            },
            Flavor::Text => {
                let mut at = offset;
                let mut text_offset = Vec::with_capacity(tokens.len());
                for t in tokens {
                    text_offset.push(at);
                    at += t.token.len();
                }
                Self::Text {
                    tokens: tokens.iter().map(|t| text(&t.token)).collect(),
                    token_logprobs: tokens.iter().map(|t| t.logprob).collect(),
                    top_logprobs: tokens
                        .iter()
                        .map(|t| t.top.iter().map(|a| (text(&a.token), a.logprob)).collect())
                        .collect(),
                    text_offset,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: u32, bytes: &[u8], logprob: f32) -> TokenLogprob {
        TokenLogprob {
            token_id: id,
            token: bytes.to_vec(),
            logprob,
            top: vec![TopLogprob { token_id: id, token: bytes.to_vec(), logprob }],
        }
    }

    #[test]
    fn both_shapes_match_openai() {
        let tokens = [token(1, b"Par", -0.1), token(2, b"is", -0.2)];
        let chat = serde_json::to_value(ChoiceLogprobs::new(Flavor::Chat, &tokens, 0)).expect("json");
        assert_eq!(chat["content"][1]["token"], "is");
        assert_eq!(chat["content"][0]["bytes"], serde_json::json!([80, 97, 114]));
        assert_eq!(chat["content"][0]["top_logprobs"][0]["token"], "Par");
        assert!(chat["refusal"].is_null());
        let text = serde_json::to_value(ChoiceLogprobs::new(Flavor::Text, &tokens, 5)).expect("json");
        assert_eq!(text["tokens"], serde_json::json!(["Par", "is"]));
        assert_eq!(text["text_offset"], serde_json::json!([5, 8]));
        assert!((text["top_logprobs"][1]["is"].as_f64().expect("f") + 0.2).abs() < 1e-6);
    }
}
