//! Wick's model layer: the built-in model catalog, fetching and verifying weights into the data
//! directory, GGUF text generation for the llama and qwen2 architectures (own quantized kernels
//! over the memory-mapped file, tokenizer and chat template read from the GGUF itself, seeded
//! sampling, streamed UTF-8-safe deltas) and BERT sentence embeddings on candle.
//!
//! Determinism is part of the contract: the same model, messages, parameters and seed give the
//! same token ids whatever else runs beside them. Every reduction in the forward pass has one
//! fixed order (see `attention`), and sampling draws from a per-request RNG.
//!
//! This crate knows nothing about the network, gRPC, receipts or the ledger.

pub(crate) mod attention;
pub(crate) mod bert;
pub mod catalog;
pub(crate) mod chat_template;
pub(crate) mod config;
pub mod constrain;
pub(crate) mod detokenizer;
pub mod device;
pub mod device_llama;
pub mod embed;
pub mod error;
pub mod fetch;
pub(crate) mod fetch_chunks;
pub mod generate;
pub mod gguf_tokenizer;
pub(crate) mod kernels;
pub(crate) mod kv_cache;
pub mod llama;
pub mod logprobs;
pub(crate) mod rope;
pub mod sampling;
pub(crate) mod stop;
pub mod store;
pub mod transformer;
pub(crate) mod weights;

pub use catalog::{
    CatalogEntry, DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL, ModelKind, QWEN_CODER_05B, QWEN_CODER_15B,
};
pub use device::ComputeDevice;
pub use embed::Embedder;
pub use error::{ModelError, Result};
pub use generate::{
    CPU_NUMERIC_CLASS, ChatMessage, FinishReason, GenerationOutput, GenerationParams, Sequence, TextModel,
    Usage,
};
pub use store::{InstalledModel, ModelId, ModelStore};
