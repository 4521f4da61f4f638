//! Wick's wire protocol, package `wick.v1`: the gRPC services and messages generated from
//! `proto/wick/v1/*.proto`, and the canonical bytes that signatures cover ([`signing`]).
//!
//! Protobuf encodings are not canonical, so nothing signs them: every signed message has a
//! hand-written byte layout that starts with a domain-separation tag.

pub mod codec;
pub mod signing;

/// Generated code of package `wick.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("wick.v1");
}

/// Encoded `FileDescriptorSet` of every wick.v1 file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("wick_descriptor");
