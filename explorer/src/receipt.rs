//! The receipt check: a pasted receipt (the `x-wick-receipt` header's hex, or the JSON of
//! `wick_receipt`, alone or inside a whole chat answer) is parsed, and the worker's signature
//! and the router's countersignature are checked with `wick_proto::signing`, the code every
//! router and the ledger use.

use prost::Message;
use serde::Serialize;
use wick_proto::json::ReceiptJson;
use wick_proto::signing;
use wick_proto::v1::SignedReceipt;

/// Whether one signature holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureCheck {
    /// `verified` or `invalid`.
    pub status: &'static str,
    /// Why it is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SignatureCheck {
    fn of(r: Result<(), signing::SignatureError>) -> Self {
        match r {
            Ok(()) => Self { status: "verified", reason: None },
            Err(e) => Self::invalid(e.to_string()),
        }
    }

    fn invalid(reason: String) -> Self {
        Self { status: "invalid", reason: Some(reason) }
    }
}

/// The answer of a receipt check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptCheck {
    /// `protobuf` (hex) or `json`; absent when the text is neither.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<&'static str>,
    /// Why the text is not a receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The receipt's fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptJson>,
    /// The worker's signature over the receipt.
    pub worker_signature: SignatureCheck,
    /// The router's countersignature over the receipt and the worker's signature.
    pub router_countersignature: SignatureCheck,
}

/// Parses `text` and checks both signatures. Text that is not a receipt gives "invalid" for
/// both with the reason.
pub fn check(text: &str) -> ReceiptCheck {
    match parse(text) {
        Ok((format, signed)) => {
            let worker = signing::verify_receipt(&signed);
            let router = countersignature(&signed);
            ReceiptCheck {
                format: Some(format),
                error: None,
                receipt: Some(ReceiptJson::from(&signed)),
                worker_signature: SignatureCheck::of(worker),
                router_countersignature: SignatureCheck::of(router),
            }
        }
        Err(e) => ReceiptCheck {
            format: None,
            error: Some(e.clone()),
            receipt: None,
            worker_signature: SignatureCheck::invalid(e.clone()),
            router_countersignature: SignatureCheck::invalid(e),
        },
    }
}

/// The router's countersignature alone (the worker's is reported beside it).
fn countersignature(s: &SignedReceipt) -> Result<(), signing::SignatureError> {
    let r = s.receipt.as_ref().ok_or(signing::SignatureError::Missing("receipt"))?;
    if s.router_public_key.is_empty() {
        return Err(signing::SignatureError::Missing("router_public_key"));
    }
    signing::verify(
        &s.router_public_key,
        &signing::countersign_bytes(r, &s.worker_signature),
        &s.router_signature,
        "countersignature",
    )
}

fn parse(text: &str) -> Result<(&'static str, SignedReceipt), String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("nothing pasted".into());
    }
    if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        // A whole chat answer carries the receipt as `wick_receipt`.
        let v = v.get("wick_receipt").cloned().unwrap_or(v);
        let json: ReceiptJson =
            serde_json::from_value(v).map_err(|e| format!("not a receipt's JSON: {e}"))?;
        return json.to_signed().map(|s| ("json", s)).map_err(|e| e.to_string());
    }
    let hex_text: String = text.trim_start_matches("0x").split_whitespace().collect();
    let bytes = hex::decode(&hex_text).map_err(|e| format!("neither JSON nor hex: {e}"))?;
    let signed =
        SignedReceipt::decode(bytes.as_slice()).map_err(|e| format!("not a protobuf receipt: {e}"))?;
    if signed.receipt.is_none() {
        return Err("the protobuf holds no receipt".into());
    }
    Ok(("protobuf", signed))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use wick_proto::v1::Receipt;

    use super::*;

    fn signed() -> SignedReceipt {
        let receipt = Receipt { job_hash: vec![7; 32], tokens_in: 12, tokens_out: 5, ..Default::default() };
        let mut s = signing::sign_receipt(&SigningKey::from_bytes(&[1; 32]), receipt);
        signing::countersign(&SigningKey::from_bytes(&[2; 32]), &mut s).expect("countersign");
        s
    }

    fn statuses(c: &ReceiptCheck) -> (&str, &str) {
        (c.worker_signature.status, c.router_countersignature.status)
    }

    #[test]
    fn hex_and_json_verify_and_any_changed_character_does_not() {
        let s = signed();
        let hex_text = hex::encode(s.encode_to_vec());
        let ok = check(&hex_text);
        assert_eq!((ok.format, statuses(&ok)), (Some("protobuf"), ("verified", "verified")));
        assert_eq!(ok.receipt.as_ref().map(|r| r.tokens_out), Some(5));
        for i in 0..hex_text.len() {
            let mut changed = hex_text.clone().into_bytes();
            changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
            let c = check(&String::from_utf8(changed).expect("ascii"));
            assert_ne!(statuses(&c), ("verified", "verified"), "character {i} changed and still verified");
        }
        let json = serde_json::to_string(&ReceiptJson::from(&s)).expect("json");
        assert_eq!(statuses(&check(&json)), ("verified", "verified"));
        let answer = format!("{{\"id\":\"chatcmpl-1\",\"wick_receipt\":{json}}}");
        assert_eq!(statuses(&check(&answer)), ("verified", "verified"));
        let tampered = json.replace("\"tokens_out\":5", "\"tokens_out\":6");
        assert_eq!(
            statuses(&check(&tampered)),
            ("invalid", "invalid"),
            "the countersignature covers the receipt"
        );
    }

    #[test]
    fn a_missing_countersignature_and_garbage_are_invalid() {
        let mut s = signed();
        s.router_public_key.clear();
        s.router_signature.clear();
        let c = check(&hex::encode(s.encode_to_vec()));
        assert_eq!(statuses(&c), ("verified", "invalid"));
        for junk in ["", "zz", "{}", "{\"a\":1}", "00ff"] {
            let c = check(junk);
            assert_eq!(statuses(&c), ("invalid", "invalid"), "{junk}");
            assert!(c.error.is_some());
        }
    }
}
