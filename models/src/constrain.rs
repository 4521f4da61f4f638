//! Constrained decoding (OpenAI's `response_format`) with `llguidance`: a [`Grammars`] per
//! model compiles a request's format into a [`Constraint`], which masks, before each draw, every
//! token that would make the output stop being a prefix of a text the format accepts.
//!
//! The mask of the next token depends only on the tokens already accepted, so it can be computed
//! while the forward pass that produces the logits runs ([`Constraint::prepare_mask`]); the
//! engine does that on a thread of its own.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{ApproximateTokEnv, SimpleVob, TokEnv, TokRxInfo, TokTrie};
use llguidance::{Matcher, ParserFactory};

use crate::gguf_tokenizer::GgufTokenizer;
use crate::{ModelError, Result};

/// What a request's output must be.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// Any text.
    Text,
    /// One JSON object.
    JsonObject,
    /// A JSON value that validates against this JSON Schema.
    JsonSchema(serde_json::Value),
}

impl ResponseFormat {
    /// OpenAI's `type` plus, for `json_schema`, the schema as JSON text; the error names the
    /// problem.
    pub fn parse(kind: &str, schema: &str) -> Result<Self> {
        match kind {
            "" | "text" => Ok(Self::Text),
            "json_object" => Ok(Self::JsonObject),
            "json_schema" => serde_json::from_str(schema)
                .map(Self::JsonSchema)
                .map_err(|e| ModelError::InvalidArgument(format!("response_format.json_schema: {e}"))),
            other => Err(ModelError::InvalidArgument(format!(
                "response_format type `{other}` is not one of text, json_object, json_schema"
            ))),
        }
    }

    /// The JSON Schema the output must satisfy (none for text). JSON is written without
    /// optional whitespace unless the schema's `x-guidance` options say otherwise: the same
    /// values, in fewer tokens, and no way to spend a whole answer on blanks.
    fn schema(&self) -> Option<serde_json::Value> {
        let mut schema = match self {
            Self::Text => return None,
            Self::JsonObject => serde_json::json!({"type": "object"}),
            Self::JsonSchema(s) => s.clone(),
        };
        if let Some(map) = schema.as_object_mut() {
            map.entry("x-guidance").or_insert_with(|| serde_json::json!({"whitespace_flexible": false}));
        }
        Some(schema)
    }
}

/// A model's grammar compiler: its vocabulary as a token trie, built once.
#[derive(Clone)]
pub struct Grammars {
    factory: Arc<ParserFactory>,
    vocab_size: usize,
}

impl Grammars {
    /// The compiler for `tokenizer`'s vocabulary. Control tokens are named `<|ID|>` after the
    /// special-token marker, so no grammar text can produce them; the first end-of-generation
    /// token ends a finished format.
    pub fn new(tokenizer: &GgufTokenizer) -> Result<Self> {
        let n = tokenizer.vocab_size();
        let words: Vec<Vec<u8>> = (0..n as u32)
            .map(|id| match tokenizer.token_bytes(id) {
                [] => {
                    let mut w = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    w.extend_from_slice(format!("<|{id}|>").as_bytes());
                    w
                }
                bytes => bytes.to_vec(),
            })
            .collect();
        let eos = (0..n as u32).find(|&id| tokenizer.is_end_of_generation(id)).unwrap_or(0);
        let info = TokRxInfo::new(n as u32, eos);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(TokTrie::from(&info, &words)));
        let mut factory = ParserFactory::new_simple(&env)
            .map_err(|e| ModelError::Tokenizer(format!("grammar compiler: {e}")))?;
        factory.quiet();
        Ok(Self { factory: Arc::new(factory), vocab_size: n })
    }

    /// The constraint of `format` (`None` for text); a schema that does not compile is an
    /// [`ModelError::InvalidArgument`] that names the problem.
    pub fn compile(&self, format: &ResponseFormat) -> Result<Option<Constraint>> {
        let Some(schema) = format.schema() else { return Ok(None) };
        let parser = self.factory.create_parser(TopLevelGrammar::from_json_schema(schema));
        let matcher = Matcher::new(parser);
        if let Some(e) = matcher.get_error() {
            return Err(ModelError::InvalidArgument(format!(
                "response_format: the schema does not compile: {e}"
            )));
        }
        Ok(Some(Constraint { matcher, mask: None, vocab_size: self.vocab_size }))
    }
}

/// One sequence's grammar state.
pub struct Constraint {
    matcher: Matcher,
    mask: Option<SimpleVob>,
    vocab_size: usize,
}

impl std::fmt::Debug for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Constraint").field("stopped", &self.matcher.is_stopped()).finish()
    }
}

fn grammar_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::InvalidArgument(format!("constrained decoding: {e}"))
}

impl Constraint {
    /// Computes the mask of the next token now, unless it is ready.
    pub fn prepare_mask(&mut self) -> Result<()> {
        if self.mask.is_none() {
            self.mask = Some(self.matcher.compute_mask_or_eos().map_err(grammar_error)?);
        }
        Ok(())
    }

    /// Sets the logit of every token the format forbids next to minus infinity (tokens past the
    /// vocabulary too).
    pub fn apply(&mut self, logits: &mut [f32]) -> Result<()> {
        self.prepare_mask()?;
        let mask = self.mask.as_ref().ok_or_else(|| grammar_error("no mask"))?;
        for (id, l) in logits.iter_mut().enumerate() {
            if id >= self.vocab_size || !mask.is_allowed(id as u32) {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(())
    }

    /// Advances past `token`, which the format must allow.
    pub fn accept(&mut self, token: u32) -> Result<()> {
        self.mask = None;
        if self.matcher.is_stopped() {
            return Ok(());
        }
        self.matcher.consume_token(token).map_err(grammar_error)
    }

    /// True once the output is complete and the format allows nothing more.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped()
    }
}
