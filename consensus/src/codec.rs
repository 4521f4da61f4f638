//! The wire codec of every message the engine sends, gossips or logs: borsh, which each of
//! Malachite's message types implements. Decoding is total over untrusted bytes: a short,
//! long or malformed message is an error, never a panic, and borsh never preallocates from a
//! length prefix beyond a small bound (the transport bounds message size before that).

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_core_consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_core_types::{
    CommitCertificate, ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round,
    SignedExtension, ValidatorProof,
};
use malachitebft_engine::util::streaming::StreamMessage;
use malachitebft_sync::{RawDecidedValue, Request, Response, Status, ValueResponse};

use crate::context::{Address, BlockHash, Height, ProposalPart, WickContext};
use crate::signing::Signature;

/// Wick's codec (stateless).
#[derive(Clone, Copy, Debug, Default)]
pub struct WickCodec;

/// Why bytes did not decode.
#[derive(Debug, thiserror::Error)]
#[error("malformed consensus message: {0}")]
pub struct CodecError(#[from] std::io::Error);

/// Encodes a value with borsh.
pub fn encode<T: BorshSerialize>(msg: &T) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(borsh::to_vec(msg)?))
}

/// Decodes a whole message (trailing bytes are an error).
pub fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(borsh::from_slice(bytes)?)
}

macro_rules! borsh_codec {
    ($($t:ty),* $(,)?) => {$(
        impl Codec<$t> for WickCodec {
            type Error = CodecError;

            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                decode(&bytes)
            }

            fn encode(&self, msg: &$t) -> Result<Bytes, CodecError> {
                encode(msg)
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<WickContext>,
    LivenessMsg<WickContext>,
    StreamMessage<ProposalPart>,
    ProposedValue<WickContext>,
    PolkaCertificate<WickContext>,
    CommitCertificate<WickContext>,
    Status<WickContext>,
    Request<WickContext>,
);

/// A commit certificate with its (unused) extensions, in a form borsh can write: the engine's
/// type has none of its own, and sync responses and stored blocks carry it.
#[derive(BorshSerialize, BorshDeserialize)]
struct RawCertificate {
    height: Height,
    round: Round,
    value_id: BlockHash,
    signatures: Vec<(Address, Signature, Option<SignedExtension<WickContext>>)>,
}

impl From<&ExtendedCommitCertificate<WickContext>> for RawCertificate {
    fn from(c: &ExtendedCommitCertificate<WickContext>) -> Self {
        RawCertificate {
            height: c.height,
            round: c.round,
            value_id: c.value_id,
            signatures: c
                .commit_signatures
                .iter()
                .map(|s| (s.address, s.signature, s.extension.clone()))
                .collect(),
        }
    }
}

impl From<RawCertificate> for ExtendedCommitCertificate<WickContext> {
    fn from(c: RawCertificate) -> Self {
        ExtendedCommitCertificate {
            height: c.height,
            round: c.round,
            value_id: c.value_id,
            commit_signatures: c
                .signatures
                .into_iter()
                .map(|(a, s, e)| ExtendedCommitSignature::new(a, s, e))
                .collect(),
        }
    }
}

/// Encodes a commit certificate (as stored beside a decided block).
pub fn encode_certificate(c: &ExtendedCommitCertificate<WickContext>) -> Vec<u8> {
    borsh::to_vec(&RawCertificate::from(c)).unwrap_or_default()
}

/// Decodes a stored or received commit certificate.
pub fn decode_certificate(bytes: &[u8]) -> Result<ExtendedCommitCertificate<WickContext>, CodecError> {
    decode::<RawCertificate>(bytes).map(Into::into)
}

/// A sync response: decided blocks from a height on, each with its certificate.
#[derive(BorshSerialize, BorshDeserialize)]
struct RawResponse {
    start_height: Height,
    values: Vec<(Vec<u8>, RawCertificate)>,
}

impl From<&Response<WickContext>> for RawResponse {
    fn from(r: &Response<WickContext>) -> Self {
        let Response::ValueResponse(v) = r;
        RawResponse {
            start_height: v.start_height,
            values: v
                .values
                .iter()
                .map(|d| (d.value_bytes.to_vec(), RawCertificate::from(&d.certificate)))
                .collect(),
        }
    }
}

impl Codec<Response<WickContext>> for WickCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Response<WickContext>, CodecError> {
        let raw: RawResponse = decode(&bytes)?;
        let values = raw.values.into_iter().map(|(b, c)| RawDecidedValue::new(b.into(), c.into())).collect();
        Ok(Response::ValueResponse(ValueResponse::new(raw.start_height, values)))
    }

    fn encode(&self, msg: &Response<WickContext>) -> Result<Bytes, CodecError> {
        encode(&RawResponse::from(msg))
    }
}

impl HasEncodedLen<Response<WickContext>> for WickCodec {
    fn encoded_len(&self, msg: &Response<WickContext>) -> Result<usize, CodecError> {
        Ok(borsh::object_length(&RawResponse::from(msg))?)
    }
}

/// A validator proof on the wire (the engine's type has no borsh form of its own).
#[derive(BorshSerialize, BorshDeserialize)]
struct RawValidatorProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Signature,
}

impl Codec<ValidatorProof<WickContext>> for WickCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<WickContext>, CodecError> {
        let raw: RawValidatorProof = decode(&bytes)?;
        Ok(ValidatorProof::new(raw.public_key, raw.peer_id, raw.signature))
    }

    fn encode(&self, msg: &ValidatorProof<WickContext>) -> Result<Bytes, CodecError> {
        encode(&RawValidatorProof {
            public_key: msg.public_key.clone(),
            peer_id: msg.peer_id.clone(),
            signature: msg.signature,
        })
    }
}
