//! Bounds on a `wick.v1` request, checked before any work is done: messages per request, bytes
//! per prompt, stop sequences, embedding inputs, and the client's `grpc-timeout`. Every figure
//! from outside goes through checked arithmetic.

use std::time::Duration;

use wick_proto::v1::{EmbedRequest, GenerateRequest};

use crate::RequestError;

/// Most messages in one chat request.
pub const MAX_MESSAGES: usize = 1024;
/// Most choices per request (`n`; 0 means 1 on the wire).
pub const MAX_CHOICES: u32 = 8;
/// Most stop sequences in one request.
pub const MAX_STOPS: usize = 8;
/// Longest stop sequence, in bytes.
pub const MAX_STOP_BYTES: usize = 256;
/// Most inputs in one embedding request.
pub const MAX_EMBED_INPUTS: usize = 256;
/// Longest embedding input, in bytes (the model reads at most 512 tokens of it).
pub const MAX_EMBED_INPUT_BYTES: usize = 64 << 10;
/// gRPC's limit on the digits of a `grpc-timeout` value.
pub const MAX_TIMEOUT_DIGITS: usize = 8;

/// A `grpc-timeout` value (`500m`, `10S`): 1 to 8 digits and a unit (H, M, S, m, u, n), as
/// gRPC defines it. Anything else is refused.
pub fn parse_timeout(value: &str) -> Result<Duration, RequestError> {
    let refused = || {
        RequestError::param(
            "grpc-timeout",
            format!(
                "grpc-timeout `{value}` is not 1 to {MAX_TIMEOUT_DIGITS} digits and a unit (H, M, S, m, u, n)"
            ),
        )
    };
    let unit = value.chars().last().ok_or_else(refused)?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > MAX_TIMEOUT_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused());
    }
    let n: u64 = digits.parse().map_err(|_| refused())?;
    Ok(match unit {
        // 8 digits of hours fit a u64 of seconds many times over.
        'H' => Duration::from_secs(n.checked_mul(3600).ok_or_else(refused)?),
        'M' => Duration::from_secs(n.checked_mul(60).ok_or_else(refused)?),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return Err(refused()),
    })
}

/// Checks the sizes of a generation request: message count, prompt bytes (messages and raw
/// prompt together), stop sequences, and that it has either messages or a prompt.
pub fn check_generate(req: &GenerateRequest, max_prompt_bytes: usize) -> Result<(), RequestError> {
    if req.messages.len() > MAX_MESSAGES {
        return Err(RequestError::param(
            "messages",
            format!("{} messages is above the limit of {MAX_MESSAGES}", req.messages.len()),
        ));
    }
    let bytes = req
        .messages
        .iter()
        .map(|m| m.content.len().saturating_add(m.role.len()))
        .fold(req.prompt.len(), usize::saturating_add);
    if bytes > max_prompt_bytes {
        return Err(RequestError::new(format!(
            "the prompt is {bytes} bytes, above the limit of {max_prompt_bytes}"
        )));
    }
    if req.messages.is_empty() && req.prompt.is_empty() {
        return Err(RequestError::new(
            "messages must not be empty: give messages (chat) or a prompt (completion)",
        ));
    }
    if !req.messages.is_empty() && !req.prompt.is_empty() {
        return Err(RequestError::new("messages and prompt are exclusive"));
    }
    let n = req.params.as_ref().map_or(1, |p| p.n.max(1));
    if n > MAX_CHOICES {
        return Err(RequestError::param("n", format!("n must be between 1 and {MAX_CHOICES}, got {n}")));
    }
    let stops = req.params.as_ref().map_or(&[][..], |p| &p.stop[..]);
    if stops.len() > MAX_STOPS || stops.iter().any(|s| s.len() > MAX_STOP_BYTES) {
        return Err(RequestError::param(
            "stop",
            format!("at most {MAX_STOPS} stop sequences of at most {MAX_STOP_BYTES} bytes each"),
        ));
    }
    Ok(())
}

/// Checks the sizes of an embedding request.
pub fn check_embed(req: &EmbedRequest) -> Result<(), RequestError> {
    if req.inputs.is_empty() {
        return Err(RequestError::param("input", "inputs must not be empty"));
    }
    if req.inputs.len() > MAX_EMBED_INPUTS {
        return Err(RequestError::param(
            "input",
            format!("{} inputs is above the limit of {MAX_EMBED_INPUTS}", req.inputs.len()),
        ));
    }
    if let Some(i) = req.inputs.iter().position(|s| s.len() > MAX_EMBED_INPUT_BYTES) {
        return Err(RequestError::param(
            "input",
            format!("input {i} is {} bytes, above the limit of {MAX_EMBED_INPUT_BYTES}", req.inputs[i].len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_proto::v1::{ChatMessage, SamplingParams};

    #[test]
    fn hostile_timeouts_are_refused_never_overflow() {
        for bad in
            ["9999999999999999999S", "123456789m", "S", "", "10x", "-1S", "1.5S", "１S", "99999999é", "+1S"]
        {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_timeout("99999999H").ok(), Some(Duration::from_secs(99_999_999 * 3600)));
        assert_eq!(parse_timeout("500m").ok(), Some(Duration::from_millis(500)));
        assert_eq!(parse_timeout("7n").ok(), Some(Duration::from_nanos(7)));
    }

    fn chat(messages: usize, content: &str) -> GenerateRequest {
        GenerateRequest {
            messages: vec![ChatMessage { role: "user".into(), content: content.into() }; messages],
            ..Default::default()
        }
    }

    #[test]
    fn sizes_are_bounded() {
        assert!(check_generate(&chat(1, "hi"), 100).is_ok());
        assert!(check_generate(&chat(MAX_MESSAGES + 1, ""), usize::MAX).is_err());
        assert!(check_generate(&chat(2, &"x".repeat(60)), 100).is_err(), "bytes add up over messages");
        assert!(check_generate(&GenerateRequest::default(), 100).is_err(), "neither messages nor prompt");
        let both = GenerateRequest { prompt: "p".into(), ..chat(1, "m") };
        assert!(check_generate(&both, 100).is_err());
        let stops = |n: usize, len: usize| GenerateRequest {
            params: Some(SamplingParams { stop: vec!["s".repeat(len); n], ..Default::default() }),
            ..chat(1, "hi")
        };
        assert!(check_generate(&stops(MAX_STOPS, MAX_STOP_BYTES), 100).is_ok());
        assert!(check_generate(&stops(MAX_STOPS + 1, 1), 100).is_err());
        assert!(check_generate(&stops(1, MAX_STOP_BYTES + 1), 100).is_err());
        let choices = |n: u32| GenerateRequest {
            params: Some(SamplingParams { n, ..Default::default() }),
            ..chat(1, "hi")
        };
        assert!(check_generate(&choices(0), 100).is_ok(), "0 means 1 on the wire");
        assert!(check_generate(&choices(MAX_CHOICES), 100).is_ok());
        let e = check_generate(&choices(MAX_CHOICES + 1), 100).expect_err("too many choices");
        assert_eq!(e.param.as_deref(), Some("n"));
        let embed =
            |n: usize, len: usize| EmbedRequest { inputs: vec!["e".repeat(len); n], ..Default::default() };
        assert!(check_embed(&embed(1, 10)).is_ok());
        assert!(check_embed(&embed(0, 10)).is_err());
        assert!(check_embed(&embed(MAX_EMBED_INPUTS + 1, 1)).is_err());
        assert!(check_embed(&embed(1, MAX_EMBED_INPUT_BYTES + 1)).is_err());
    }
}
