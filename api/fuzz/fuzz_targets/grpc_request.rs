//! Arbitrary bytes as the `wick.v1` request messages a worker or router decodes: decoding,
//! the size checks, the request hash and the `grpc-timeout` parser never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use wick_proto::v1::{EmbedRequest, GenerateRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = GenerateRequest::decode(data) {
        let _ = wick_api::limits::check_generate(&req, 4 << 20);
        let _ = wick_proto::signing::request_hash(&req.model, &req.messages, &req.prompt, req.params.as_ref());
        if let Some(t) = &req.ticket {
            let _ = wick_proto::signing::verify_ticket(t);
        }
    }
    if let Ok(req) = EmbedRequest::decode(data) {
        let _ = wick_api::limits::check_embed(&req);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wick_api::limits::parse_timeout(text);
    }
});
