//! Proposals as streams of parts: `Init`, the block in chunks, `Fin` with the proposer's
//! signature. Reassembly is bounded, since parts come from any peer: a stream may not exceed
//! [`MAX_BLOCK_BYTES`], a peer may keep only a few streams open, and stale ones are dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_core_types::Round;
use malachitebft_engine::util::streaming::{StreamContent, StreamId, StreamMessage};

use crate::context::{Address, BlockHash, Height, ProposalInit, ProposalPart};
use crate::signing::Signature;

/// Largest block a proposal may carry: below value sync's 10 MiB response bound, so a decided
/// block can always be served to a node that is behind.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;
/// Size of each data part.
pub const CHUNK_BYTES: usize = 256 << 10;
/// Open (incomplete) streams kept at most, over all peers; the oldest goes first.
pub const MAX_OPEN_STREAMS: usize = 64;
/// Parts one stream may have at most (`Init`, the chunks of the largest block, `Fin`).
pub const MAX_PARTS: u64 = (MAX_BLOCK_BYTES / CHUNK_BYTES) as u64 + 2;
/// What each part counts for at least against the size bound (empty parts are not free).
const PART_OVERHEAD: usize = 64;

/// A whole proposal, built here or reassembled from parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullProposal {
    /// Who, where, and the proof-of-lock round.
    pub init: ProposalInit,
    /// The block.
    pub block: Bytes,
    /// Its hash (the value consensus decides).
    pub hash: BlockHash,
    /// The proposer's signature over (height, round, hash).
    pub fin: Signature,
}

/// A proposal as kept on disk (its hash is recomputed from the block when read back).
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct Record {
    init: ProposalInit,
    block: Vec<u8>,
    fin: Signature,
}

impl FullProposal {
    /// Its durable encoding.
    pub fn to_record(&self) -> Vec<u8> {
        let r = Record { init: self.init.clone(), block: self.block.to_vec(), fin: self.fin };
        borsh::to_vec(&r).unwrap_or_default()
    }

    /// A proposal read back from its durable encoding.
    pub fn from_record(bytes: &[u8]) -> Option<FullProposal> {
        let r: Record = borsh::from_slice(bytes).ok()?;
        let hash = BlockHash::of(&r.block);
        Some(FullProposal { init: r.init, block: r.block.into(), hash, fin: r.fin })
    }

    /// The parts of this proposal as stream messages of `stream_id`.
    pub fn messages(&self, stream_id: StreamId) -> Vec<StreamMessage<ProposalPart>> {
        let mut parts = vec![ProposalPart::Init(self.init.clone())];
        parts.extend(self.block.chunks(CHUNK_BYTES).map(|c| ProposalPart::Data(c.to_vec())));
        parts.push(ProposalPart::Fin(self.fin));
        let n = parts.len() as u64;
        let mut msgs: Vec<_> = parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| StreamMessage::new(stream_id.clone(), i as u64, StreamContent::Data(p)))
            .collect();
        msgs.push(StreamMessage::new(stream_id, n, StreamContent::Fin));
        msgs
    }
}

/// The stream id of a proposal: height, round and proposer, so restreams of one proposal
/// share it and proposals of different proposers never collide.
pub fn stream_id(height: Height, round: Round, proposer: &Address) -> StreamId {
    let mut b = Vec::with_capacity(8 + 8 + 32);
    b.extend_from_slice(&height.0.to_be_bytes());
    b.extend_from_slice(&round.as_i64().to_be_bytes());
    b.extend_from_slice(&proposer.0);
    StreamId::new(b.into())
}

#[derive(Default)]
struct Open {
    parts: BTreeMap<u64, ProposalPart>,
    /// Sequence of the stream's end marker, once seen.
    end: Option<u64>,
    bytes: usize,
}

/// Why a stream was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Over [`MAX_BLOCK_BYTES`].
    #[error("the proposal is larger than {MAX_BLOCK_BYTES} bytes")]
    TooLarge,
    /// Parts out of shape: no `Init` first, no `Fin` last, or a part after the end.
    #[error("the proposal's parts are malformed")]
    Malformed,
}

/// Reassembles proposal streams from the network.
#[derive(Default)]
pub struct Reassembly {
    open: HashMap<(PeerId, StreamId), Open>,
    order: VecDeque<(PeerId, StreamId)>,
}

impl Reassembly {
    /// Adds one message from `publisher`; returns the proposal once its stream is complete.
    pub fn insert(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Result<Option<FullProposal>, StreamError> {
        let key = (publisher, msg.stream_id.clone());
        if !self.open.contains_key(&key) {
            while self.open.len() >= MAX_OPEN_STREAMS {
                let Some(old) = self.order.pop_front() else { break };
                self.open.remove(&old);
            }
            self.order.push_back(key.clone());
        }
        let open = self.open.entry(key.clone()).or_default();
        let step = match msg.content {
            StreamContent::Fin => {
                open.end = Some(msg.sequence);
                Ok(())
            }
            StreamContent::Data(part) => {
                open.bytes = open.bytes.saturating_add(match &part {
                    ProposalPart::Data(d) => d.len().max(PART_OVERHEAD),
                    _ => PART_OVERHEAD,
                });
                if open.bytes > MAX_BLOCK_BYTES + (1 << 16) || msg.sequence >= MAX_PARTS {
                    Err(StreamError::TooLarge)
                } else if open.end.is_some_and(|end| msg.sequence >= end) {
                    Err(StreamError::Malformed)
                } else {
                    open.parts.insert(msg.sequence, part);
                    Ok(())
                }
            }
        };
        if let Err(e) = step {
            self.remove(&key);
            return Err(e);
        }
        let complete = open.end.is_some_and(|end| open.parts.len() as u64 == end);
        if !complete {
            return Ok(None);
        }
        let open = self.remove(&key).unwrap_or_default();
        assemble(open.parts.into_values().collect()).map(Some)
    }

    fn remove(&mut self, key: &(PeerId, StreamId)) -> Option<Open> {
        self.order.retain(|k| k != key);
        self.open.remove(key)
    }
}

/// `Init`, data, `Fin`, in order: the proposal they make.
fn assemble(parts: Vec<ProposalPart>) -> Result<FullProposal, StreamError> {
    let mut it = parts.into_iter();
    let Some(ProposalPart::Init(init)) = it.next() else { return Err(StreamError::Malformed) };
    let mut block = Vec::new();
    let mut fin = None;
    for part in it {
        match (part, fin) {
            (ProposalPart::Data(d), None) => {
                if block.len() + d.len() > MAX_BLOCK_BYTES {
                    return Err(StreamError::TooLarge);
                }
                block.extend_from_slice(&d);
            }
            (ProposalPart::Fin(sig), None) => fin = Some(sig),
            _ => return Err(StreamError::Malformed),
        }
    }
    let fin = fin.ok_or(StreamError::Malformed)?;
    let hash = BlockHash::of(&block);
    Ok(FullProposal { init, block: block.into(), hash, fin })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(len: usize) -> FullProposal {
        let block: Bytes = (0..len).map(|i| i as u8).collect::<Vec<_>>().into();
        let init = ProposalInit {
            height: Height(3),
            round: Round::new(1),
            pol_round: Round::Nil,
            proposer: Address([7; 32]),
        };
        FullProposal { init, hash: BlockHash::of(&block), block, fin: Signature([9; 64]) }
    }

    fn peer() -> PeerId {
        PeerId::from_bytes(&[0, 4, 1, 2, 3, 4]).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn parts_in_any_order_make_the_same_proposal() {
        let p = proposal(CHUNK_BYTES * 2 + 17);
        let mut msgs = p.messages(stream_id(Height(3), Round::new(1), &Address([7; 32])));
        msgs.reverse();
        let mut r = Reassembly::default();
        let mut done = None;
        for m in msgs {
            if let Some(full) = r.insert(peer(), m).expect("well-formed") {
                done = Some(full);
            }
        }
        assert_eq!(done, Some(p));
        assert!(r.open.is_empty());
    }

    #[test]
    fn a_stream_larger_than_the_bound_is_dropped() {
        let mut r = Reassembly::default();
        let id = stream_id(Height(1), Round::new(0), &Address([1; 32]));
        let chunk = vec![0u8; CHUNK_BYTES];
        let mut result = Ok(None);
        for seq in 0..(MAX_BLOCK_BYTES / CHUNK_BYTES + 2) as u64 {
            result = r.insert(
                peer(),
                StreamMessage::new(id.clone(), seq, StreamContent::Data(ProposalPart::Data(chunk.clone()))),
            );
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(StreamError::TooLarge));
        assert!(r.open.is_empty());
    }

    #[test]
    fn parts_without_init_or_fin_are_refused() {
        let mut r = Reassembly::default();
        let id = stream_id(Height(1), Round::new(0), &Address([1; 32]));
        r.insert(peer(), StreamMessage::new(id.clone(), 0, StreamContent::Data(ProposalPart::Data(vec![1]))))
            .unwrap_or_default();
        let end = r.insert(peer(), StreamMessage::new(id, 1, StreamContent::Fin));
        assert_eq!(end, Err(StreamError::Malformed));
    }

    #[test]
    fn a_kept_proposal_reads_back_whole_and_garbage_reads_as_nothing() {
        let p = proposal(1000);
        assert_eq!(FullProposal::from_record(&p.to_record()), Some(p));
        assert_eq!(FullProposal::from_record(&[1, 2, 3]), None);
    }

    #[test]
    fn a_stream_of_empty_parts_is_bounded_too() {
        let mut r = Reassembly::default();
        let id = stream_id(Height(1), Round::new(0), &Address([1; 32]));
        let empty = || StreamContent::Data(ProposalPart::Data(Vec::new()));
        let result = r.insert(peer(), StreamMessage::new(id, MAX_PARTS, empty()));
        assert_eq!(result, Err(StreamError::TooLarge), "a sequence past the last possible part");
    }

    #[test]
    fn open_streams_are_bounded() {
        let mut r = Reassembly::default();
        for i in 0..(MAX_OPEN_STREAMS as u64 * 3) {
            let id = stream_id(Height(i), Round::new(0), &Address([1; 32]));
            let init = ProposalInit {
                height: Height(i),
                round: Round::new(0),
                pol_round: Round::Nil,
                proposer: Address([1; 32]),
            };
            r.insert(peer(), StreamMessage::new(id, 0, StreamContent::Data(ProposalPart::Init(init))))
                .unwrap_or_default();
        }
        assert_eq!(r.open.len(), MAX_OPEN_STREAMS);
        assert_eq!(r.order.len(), MAX_OPEN_STREAMS);
    }
}
