//! Wick's request boundary. Everything a client sends is parsed and checked here, once, into
//! typed values: OpenAI request bodies into `wick.v1` requests ([`openai`]), and the size of
//! `wick.v1` requests and client deadlines ([`limits`]). The router's HTTP front and the worker's
//! gRPC service call it; the fuzz targets (`api/fuzz`) drive it with arbitrary bytes.
//!
//! It does no I/O and knows nothing about models, networks or the ledger.

pub mod error;
pub mod limits;
pub mod openai;

pub use error::RequestError;
