//! Wick's wire protocol, package `wick.v1`: the messages generated from
//! `proto/wick/v1/*.proto`, the canonical bytes that signatures cover ([`signing`]), the one
//! clock every node stamps wire times with ([`time`]), the numeric classes outputs are compared
//! within ([`class`]), with the `grpc` feature the tonic services, and with `json` the JSON form
//! of receipts.
//!
//! Protobuf encodings are not canonical, so nothing signs them: every signed message has a
//! hand-written byte layout that starts with a domain-separation tag.

pub mod class;
#[cfg(feature = "grpc")]
pub mod codec;
#[cfg(feature = "json")]
pub mod json;
#[cfg(feature = "grpc")]
pub mod reflection;
pub mod signing;
pub mod time;

/// Generated code of package `wick.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/wick.v1.rs"));
}

/// Encoded `FileDescriptorSet` of every wick.v1 file, for gRPC server reflection.
#[cfg(feature = "grpc")]
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("wick_descriptor");
