//! The worker's bounds on what a client asks, as gRPC statuses: the shared checks of
//! [`wick_api::limits`]. (A client's `grpc-timeout` is read by [`crate::grpc_timeout`].)

use tonic::Status;
use wick_api::RequestError;
pub use wick_api::limits::MAX_EMBED_INPUTS;
use wick_proto::v1::{EmbedRequest, GenerateRequest};

fn invalid(e: RequestError) -> Status {
    Status::invalid_argument(e.message)
}

/// Message count, prompt bytes and stop sequences of a generation.
pub fn check_generate(req: &GenerateRequest, max_prompt_bytes: usize) -> Result<(), Status> {
    wick_api::limits::check_generate(req, max_prompt_bytes).map_err(invalid)
}

/// Input count and sizes of an embedding request.
pub fn check_embed(req: &EmbedRequest) -> Result<(), Status> {
    wick_api::limits::check_embed(req).map_err(invalid)
}
