//! The state root: sha256 over the canonical encoding of the whole state, in map order. Every
//! field of the state is in it, so two replicas with the same root hold the same state.

use sha2::{Digest, Sha256};
use wick_proto::signing::CanonicalWriter;

use super::{Jail, ProposalStatus, State, Work};
use crate::tx::ParamKey;

/// Streams the encoding into the hash in 64 KiB pieces: the same digest as hashing it whole,
/// without building megabytes each block.
struct Hashing {
    hasher: Sha256,
    w: CanonicalWriter,
}

impl Hashing {
    fn flush(&mut self) {
        if self.w.len() >= 1 << 16 {
            self.w.hash_into(&mut self.hasher);
        }
    }

    /// A map: its length, then each entry written by `entry` (flushing as it goes).
    fn map<I: ExactSizeIterator>(&mut self, items: I, mut entry: impl FnMut(&mut CanonicalWriter, I::Item)) {
        self.w.u64(items.len() as u64);
        for item in items {
            entry(&mut self.w, item);
            self.flush();
        }
    }
}

fn jail(w: &mut CanonicalWriter, j: Option<Jail>) {
    match j {
        Some(j) => w.u32(1).u64(j.since).u64(j.until),
        None => w.u32(0),
    };
}

fn work(w: &mut CanonicalWriter, c: &Work) {
    w.bytes(&c.root).u64(c.count).u64(c.tokens).u128(c.amount);
}

fn status(s: ProposalStatus) -> (u32, u64) {
    match s {
        ProposalStatus::Pending => (0, 0),
        ProposalStatus::Voting => (1, 0),
        ProposalStatus::Rejected => (2, 0),
        ProposalStatus::Passed { effective } => (3, effective),
        ProposalStatus::Applied => (4, 0),
        ProposalStatus::Void => (5, 0),
    }
}

impl State {
    /// sha256 over the canonical encoding of the whole state.
    pub fn root(&self) -> [u8; 32] {
        let mut h = Hashing { hasher: Sha256::new(), w: CanonicalWriter::new("wick.v1.LedgerState") };
        h.w.str(&self.chain_id).u64(self.height).u64(self.epoch);
        let s = &self.last_epoch;
        h.w.u64(s.credited_workers).u128(s.paid).u128(s.burned).u128(s.minted);
        for k in ParamKey::ALL {
            h.w.u128(self.params.get(k));
        }
        h.map(self.accounts.iter(), |w, (a, acc)| {
            w.bytes(&a.0).u128(acc.balance.0).u64(acc.nonce).u128(acc.rewards.0);
        });
        h.map(self.workers.iter(), |w, (a, wk)| {
            w.bytes(&a.0).u32(wk.commission_bps).u128(wk.self_stake.0).u128(wk.delegated.0);
            jail(w, wk.jail);
        });
        h.map(self.routers.iter(), |w, (a, r)| {
            w.bytes(&a.0).u128(r.stake.0).u128(r.escrow.0);
            jail(w, r.jail);
        });
        h.map(self.validators.iter(), |w, (a, v)| {
            w.bytes(&a.0).u128(v.stake.0);
            jail(w, v.jail);
        });
        h.map(self.validator_set.iter(), |w, (a, p)| {
            w.bytes(&a.0).u64(*p);
        });
        h.map(self.delegations.iter(), |w, ((d, wk), v)| {
            w.bytes(&d.0).bytes(&wk.0).u128(v.0);
        });
        h.map(self.unbonding.iter(), |w, ((e, owner, from, bond), u)| {
            w.u64(*e).bytes(&owner.0).bytes(&from.0).u32(bond.code()).u128(u.amount.0).u64(u.started);
        });
        for reports in [&self.claims, &self.attestations] {
            h.map(reports.iter(), |w, ((e, worker, router), c)| {
                w.u64(*e).bytes(&worker.0).bytes(&router.0);
                work(w, c);
            });
        }
        self.hash_governance(&mut h);
        h.map(self.proven.iter(), |w, (key, e)| {
            w.bytes(key).u64(*e);
        });
        h.w.u128(self.supply.0).u128(self.minted.0).u128(self.burned.0);
        h.w.u64(self.epoch_seconds).u64(self.epoch_started_ms).u64(self.last_block_ms);
        h.map(self.epoch_heights.iter(), |w, (e, first)| {
            w.u64(*e).u64(*first);
        });
        h.w.hash_into(&mut h.hasher);
        h.hasher.finalize().into()
    }

    fn hash_governance(&self, h: &mut Hashing) {
        h.map(self.proposals.iter(), |w, (id, p)| {
            let (code, effective) = status(p.status);
            w.u64(*id).bytes(&p.proposer.0).u32(p.key.code()).u128(p.value);
            w.u64(p.voting_start).u64(p.voting_end).u32(code).u64(effective);
            w.u64(p.votes.len() as u64);
            for (v, y) in &p.votes {
                w.bytes(&v.0).u32((*y).into());
            }
        });
        h.map(self.snapshots.iter(), |w, (e, s)| {
            w.u64(*e).u128(s.bonded).u64(s.power.len() as u64);
            for (a, p) in &s.power {
                w.bytes(&a.0).u128(*p);
            }
        });
    }
}
