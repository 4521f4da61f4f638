//! The loop between the engine and the [`Application`]: it answers every message of the app
//! channel — start a height with its validator set, build and stream a proposal, reassemble
//! and check received ones (a validator votes only for blocks the application re-executed to
//! the same state root), commit decisions, serve and ingest decided blocks for nodes behind,
//! and hand reported equivocation to the application.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_core_consensus::VoteExtensionError;
use malachitebft_core_types::{
    CommitCertificate, Context as _, ExtendedCommitCertificate, Round, Validity, VoteExtensions,
};
use tracing::{debug, error, info, warn};

use crate::application::Application;
use crate::codec;
use crate::context::{BlockHash, Height, ProposalInit, ProposalPart, ValidatorSet, WickContext};
use crate::evidence::Equivocation;
use crate::node::Config;
use crate::signing::{Keys, PublicKey, Signature, block_bytes};
use crate::stream::{FullProposal, Reassembly, stream_id};

/// Complete proposals for heights not started yet, kept at most.
const MAX_FUTURE: usize = 8;
/// Decided blocks served in one sync answer at most.
const MAX_SYNC_BATCH: u64 = 64;
/// Bytes of decided blocks in one sync answer at most (the engine's bound is 10 MiB).
const MAX_SYNC_BYTES: usize = 9 << 20;
/// Rounds past the engine's current one whose proposals are still checked.
const MAX_ROUNDS_AHEAD: i64 = 2;
/// Longest a proposer waits for work before proposing an empty block.
const MAX_EMPTY_WAIT: Duration = Duration::from_millis(500);

/// The loop's state.
pub(crate) struct Driver<A> {
    config: Config,
    keys: Keys,
    app: A,
    height: Height,
    /// The round the engine is in (proposals for rounds far past it are not buffered).
    round: i64,
    validators: Option<ValidatorSet>,
    /// Network peers of the current validators: only they may publish proposal parts.
    publishers: HashSet<PeerId>,
    /// Verdicts on blocks already checked at this height, by hash (a replayed block is not
    /// executed again).
    verdicts: HashMap<BlockHash, Validity>,
    /// Proposals built or received for uncommitted heights, by block hash.
    proposals: HashMap<BlockHash, FullProposal>,
    /// Values checked for uncommitted heights, for a round restarted after a crash.
    seen: Vec<ProposedValue<WickContext>>,
    /// Complete proposals for later heights, checked when their height starts.
    future: Vec<FullProposal>,
    streams: Reassembly,
    /// The last height committed here (the next `Finalized` moves on only if it matches).
    committed: u64,
}

impl<A: Application> Driver<A> {
    pub(crate) fn new(config: Config, keys: Keys, app: A) -> Self {
        let committed = app.committed_height();
        Driver {
            config,
            keys,
            app,
            height: Height(committed + 1),
            round: 0,
            validators: None,
            publishers: HashSet::new(),
            verdicts: HashMap::new(),
            proposals: HashMap::new(),
            seen: Vec::new(),
            future: Vec::new(),
            streams: Reassembly::default(),
            committed,
        }
    }

    /// The parameters of `height`: its validator set (from the application) and timeouts.
    fn params(&mut self, height: Height) -> eyre::Result<HeightParams<WickContext>> {
        let members = tokio::task::block_in_place(|| self.app.validators(height.0));
        let set = ValidatorSet::new(members)?;
        self.publishers = set.validators().iter().filter_map(|v| peer_id(&v.address.0)).collect();
        self.validators = Some(set.clone());
        self.height = height;
        Ok(HeightParams::new(set, self.config.timeouts, Some(self.config.block_interval)))
    }

    /// Checks a complete proposal of the current height: proposer, signature, then the
    /// application's re-execution. `None` when it is not for this height or not signed right.
    fn check(&mut self, p: FullProposal) -> Option<ProposedValue<WickContext>> {
        let init = p.init.clone();
        if init.height != self.height {
            // Only the next height is worth holding on to, and only a few of its proposals.
            if init.height.0 == self.height.0 + 1 && self.future.len() < MAX_FUTURE {
                self.future.push(p);
            }
            return None;
        }
        if init.round.as_i64() < 0 || init.round.as_i64() > self.round + MAX_ROUNDS_AHEAD {
            return None;
        }
        let value = |validity| ProposedValue {
            height: init.height,
            round: init.round,
            valid_round: init.pol_round,
            proposer: init.proposer,
            value: p.hash,
            validity,
        };
        if let Some(validity) = self.verdicts.get(&p.hash) {
            return Some(value(*validity));
        }
        // One block per proposer and round: a second one is the proposer's equivocation, which
        // its signed proposals prove to the engine; it is not executed again.
        let taken = self.proposals.values().any(|q| {
            q.init.height == init.height && q.init.round == init.round && q.init.proposer == init.proposer
        });
        if taken {
            return None;
        }
        let set = self.validators.as_ref()?;
        let expected = WickContext.select_proposer(set, init.height, init.round).address;
        if expected != init.proposer {
            warn!(height = %init.height, round = %init.round, proposer = %init.proposer, "a proposal from a validator whose turn it is not");
            return None;
        }
        let key = PublicKey::from_bytes(init.proposer.0)?;
        let round = init.round.as_u32()?;
        if !key.verify(&block_bytes(self.keys.chain_id(), init.height, round, &p.hash), &p.fin) {
            warn!(height = %init.height, proposer = %init.proposer, "a proposal whose signature does not verify");
            return None;
        }
        let valid =
            tokio::task::block_in_place(|| self.app.check(init.height.0, init.proposer.0, &p.block, false));
        let validity = if valid { Validity::Valid } else { Validity::Invalid };
        self.verdicts.insert(p.hash, validity);
        if !valid {
            warn!(height = %init.height, proposer = %init.proposer, "a proposed block does not check; voting nil");
            return Some(value(validity));
        }
        let v = value(validity);
        self.remember(p);
        self.seen.push(v.clone());
        Some(v)
    }

    /// Keeps a proposal this node may vote for or send, durably first.
    fn remember(&mut self, p: FullProposal) {
        let record = p.to_record();
        tokio::task::block_in_place(|| self.app.keep_proposal(p.init.height.0, p.hash.0, record));
        self.proposals.insert(p.hash, p);
    }

    /// After a restart: the proposals kept for `height` come back, and are checked again.
    fn reload(&mut self, height: Height) {
        let kept = tokio::task::block_in_place(|| self.app.kept_proposals(height.0));
        for record in kept {
            if let Some(p) = FullProposal::from_record(&record) {
                if p.init.proposer.0 == self.keys.public() {
                    // Our own: proposed again as it was, never a second block for its round.
                    self.proposals.insert(p.hash, p);
                } else {
                    let _ = self.check(p);
                }
            }
        }
    }

    async fn build(&mut self, height: Height, round: Round, timeout: Duration) -> FullProposal {
        let me = self.keys.public();
        let mine = self
            .proposals
            .values()
            .find(|p| p.init.height == height && p.init.round == round && p.init.proposer.0 == me);
        if let Some(p) = mine {
            // Asked again for a round it already proposed in (after a restart): the same block.
            return p.clone();
        }
        let wait = (timeout / 2).min(MAX_EMPTY_WAIT);
        let start = tokio::time::Instant::now();
        while !self.app.has_work() && start.elapsed() < wait {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let block: Bytes = tokio::task::block_in_place(|| self.app.propose(height.0)).into();
        let hash = BlockHash::of(&block);
        let fin =
            self.keys.sign(&block_bytes(self.keys.chain_id(), height, round.as_u32().unwrap_or(0), &hash));
        let init = ProposalInit {
            height,
            round,
            pol_round: Round::Nil,
            proposer: crate::context::Address(self.keys.public()),
        };
        FullProposal { init, block, hash, fin }
    }

    fn commit(
        &mut self,
        certificate: CommitCertificate<WickContext>,
        extensions: VoteExtensions<WickContext>,
    ) {
        let height = certificate.height;
        let Some(p) = self.proposals.get(&certificate.value_id) else {
            error!(%height, value = %certificate.value_id, "decided a block this node never received; restarting the height");
            return;
        };
        let cert = ExtendedCommitCertificate::from_commit_certificate_and_extensions(certificate, extensions);
        let cert = codec::encode_certificate(&cert);
        let (block, proposer) = (p.block.clone(), p.init.proposer.0);
        match tokio::task::block_in_place(|| self.app.commit(height.0, proposer, &block, cert)) {
            Ok(()) => {
                self.committed = height.0;
                self.proposals.retain(|_, p| p.init.height > height);
                self.seen.retain(|v| v.height > height);
                self.verdicts.clear();
                self.future.retain(|p| p.init.height > height);
                debug!(%height, "committed");
            }
            Err(e) => error!(%height, error = %e, "committing a decided block failed; restarting the height"),
        }
    }

    fn decided(&self, height: u64) -> Option<RawDecidedValue<WickContext>> {
        let (block, cert) = self.app.decided(height)?;
        let certificate = codec::decode_certificate(&cert).ok()?;
        Some(RawDecidedValue::new(block.into(), certificate))
    }

    fn synced(
        &mut self,
        height: Height,
        round: Round,
        proposer: crate::context::Address,
        bytes: Bytes,
    ) -> SyncedValueOutcome<WickContext> {
        if bytes.len() > crate::stream::MAX_BLOCK_BYTES {
            return SyncedValueOutcome::PeerFault;
        }
        let valid = tokio::task::block_in_place(|| self.app.check(height.0, proposer.0, &bytes, true));
        if !valid {
            warn!(%height, "a synced block does not check");
            return SyncedValueOutcome::PeerFault;
        }
        let hash = BlockHash::of(&bytes);
        // The certificate, not a proposer's signature, vouches for a synced block.
        let init = ProposalInit { height, round, pol_round: Round::Nil, proposer };
        self.remember(FullProposal { init, block: bytes, hash, fin: Signature([0; 64]) });
        SyncedValueOutcome::Verdict(ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer,
            value: hash,
            validity: Validity::Valid,
        })
    }
}

async fn publish(
    channels: &Channels<WickContext>,
    msgs: Vec<StreamMessage<ProposalPart>>,
) -> eyre::Result<()> {
    for m in msgs {
        channels.network.send(NetworkMsg::PublishProposalPart(m)).await?;
    }
    Ok(())
}

/// The network peer id of a validator (its consensus key is also its network key).
fn peer_id(key: &[u8; 32]) -> Option<PeerId> {
    let public = libp2p_identity::ed25519::PublicKey::try_from_bytes(key).ok()?;
    let id = libp2p_identity::PublicKey::from(public).to_peer_id();
    PeerId::from_bytes(&id.to_bytes()).ok()
}

/// Answers the engine until its channel closes (the engine stopped): that is an error.
pub(crate) async fn run<A: Application>(
    mut d: Driver<A>,
    mut channels: Channels<WickContext>,
) -> eyre::Result<()> {
    while let Some(msg) = channels.consensus.recv().await {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let height = Height(d.committed + 1);
                info!(%height, "consensus ready");
                let params = d.params(height)?;
                d.reload(height);
                let _ = reply.send((height, params));
            }
            AppMsg::StartedRound { height, round, reply_value, .. } => {
                d.height = height;
                d.round = round.as_i64();
                let waiting: Vec<FullProposal> = std::mem::take(&mut d.future);
                for p in waiting {
                    let _ = d.check(p);
                }
                let values =
                    d.seen.iter().filter(|v| v.height == height && v.round == round).cloned().collect();
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue { height, round, timeout, reply } => {
                let p = d.build(height, round, timeout).await;
                let (hash, msgs) = (p.hash, p.messages(stream_id(height, round, &p.init.proposer)));
                d.remember(p);
                let _ = reply.send(LocallyProposedValue::new(height, round, hash));
                publish(&channels, msgs).await?;
            }
            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                let publisher: PeerId = published_by.unwrap_or(from);
                if !d.publishers.contains(&publisher) {
                    // Only validators propose; anyone else's parts would only fill the buffers.
                    let _ = reply.send(None);
                    continue;
                }
                let value = match d.streams.insert(publisher, part) {
                    Ok(Some(p)) => d.check(p),
                    Ok(None) => None,
                    Err(e) => {
                        warn!(%publisher, error = %e, "dropped a proposal stream");
                        None
                    }
                };
                let _ = reply.send(value);
            }
            AppMsg::RestreamProposal { value_id, .. } => {
                if let Some(p) = d.proposals.get(&value_id) {
                    let msgs = p.messages(stream_id(p.init.height, p.init.round, &p.init.proposer));
                    publish(&channels, msgs).await?;
                }
            }
            AppMsg::Decided { certificate, extensions, reply } => {
                d.commit(certificate, extensions);
                let _ = reply.send(());
            }
            AppMsg::Finalized { certificate, evidence, reply, .. } => {
                for (_, pairs) in evidence.votes.iter() {
                    for (a, b) in pairs {
                        warn!(validator = %a.message.validator, height = %a.message.height, "equivocation seen");
                        d.app.equivocation(Equivocation::from_engine(a, b));
                    }
                }
                let next = if d.committed == certificate.height.0 {
                    Next::Start(Height(d.committed + 1), d.params(Height(d.committed + 1))?)
                } else {
                    Next::Restart(certificate.height, d.params(certificate.height)?)
                };
                let _ = reply.send(next);
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let _ = reply.send(Height(1));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let (lo, hi) =
                    (range.start().0, range.end().0.min(range.start().0.saturating_add(MAX_SYNC_BATCH - 1)));
                let mut bytes = 0usize;
                let values = (lo..=hi)
                    .map_while(|h| d.decided(h))
                    .take_while(|v| {
                        // Within the engine's response bound (a larger answer is sent empty).
                        bytes += v.value_bytes.len() + 128 * v.certificate.commit_signatures.len();
                        bytes <= MAX_SYNC_BYTES || v.certificate.height.0 == lo
                    })
                    .collect();
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                let outcome = d.synced(height, round, proposer, value_bytes);
                let _ = reply.send(outcome);
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
                // Wick attaches none: any extension is someone else's protocol.
                let verdicts = extensions
                    .into_iter()
                    .map(|(a, _)| (a, Err(VoteExtensionError::InvalidVoteExtension)))
                    .collect();
                let _ = reply.send(verdicts);
            }
        }
    }
    Err(eyre::eyre!("the consensus engine stopped"))
}
