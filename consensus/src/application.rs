//! The small trait the engine drives: Wick's ledger implements it (build a block, re-execute
//! one, commit one, serve old ones), so the state machine stays pure and knows no engine.

use crate::evidence::Equivocation;

/// The replicated state machine, as the consensus loop sees it. Blocks are opaque bytes here:
/// the application encodes its transactions, the block time and the state root it leads to.
/// Each method runs on a blocking thread and may take as long as execution takes.
pub trait Application: Send + 'static {
    /// Height of the last committed block (0 before the first).
    fn committed_height(&self) -> u64;

    /// The validators of `height` (key, voting power), as decided by the state it follows.
    /// Only `committed_height() + 1` is asked for.
    fn validators(&self, height: u64) -> Vec<([u8; 32], u64)>;

    /// Whether there is anything to put in a block (pending transactions or evidence, or an
    /// epoch end due): without it the proposer waits a little before proposing an empty block.
    fn has_work(&self) -> bool;

    /// A block to propose at `height`: transactions from the mempool, this node's time (after
    /// the parent's), evidence it saw, and the state root executing them gives.
    fn propose(&mut self, height: u64) -> Vec<u8>;

    /// Whether `block`, proposed at `height` by `proposer`, is valid: it decodes, its time is
    /// after its parent's and not ahead of this node's clock by more than the allowed drift,
    /// its evidence verifies, and executing it gives the state root it claims. A validator
    /// votes for a block only if this says yes. A `decided` block (one a commit certificate
    /// vouches for, as value sync brings) skips what depends on this node alone (its clock,
    /// its configured limits).
    fn check(&mut self, height: u64, proposer: [u8; 32], block: &[u8], decided: bool) -> bool;

    /// Keeps a proposal of an uncommitted height durably (synced) before this node votes for
    /// it or sends it: after a crash the engine's write-ahead log names values by hash only.
    /// `record` is this crate's encoding; committing `height` may drop them.
    fn keep_proposal(&mut self, height: u64, hash: [u8; 32], record: Vec<u8>);

    /// The proposals kept for `height` (read when a restarted node resumes it).
    fn kept_proposals(&self, height: u64) -> Vec<Vec<u8>>;

    /// Commits the block decided at `height`, proposed by `proposer`, with its commit
    /// certificate (durably, in one synced write). An error leaves the height uncommitted;
    /// consensus restarts it.
    fn commit(
        &mut self,
        height: u64,
        proposer: [u8; 32],
        block: &[u8],
        certificate: Vec<u8>,
    ) -> Result<(), String>;

    /// A committed block and its certificate, for a peer that is behind.
    fn decided(&self, height: u64) -> Option<(Vec<u8>, Vec<u8>)>;

    /// Validators caught signing two different votes for one height, round and step: the
    /// application puts the evidence in a block it proposes, where execution slashes them.
    fn equivocation(&mut self, evidence: Equivocation);
}
