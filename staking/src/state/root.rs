//! The state root: sha256 over the canonical encoding of the whole state, in map order.

use sha2::{Digest, Sha256};
use wick_proto::signing::CanonicalWriter;

use super::State;

impl State {
    /// sha256 over the canonical encoding of the whole state.
    pub fn root(&self) -> [u8; 32] {
        // Streamed into the hash in 64 KiB pieces: the same digest as hashing the whole
        // encoding, without building megabytes each block.
        let mut hasher = Sha256::new();
        let mut w = CanonicalWriter::new("wick.v1.LedgerState");
        let mut flush = |w: &mut CanonicalWriter| {
            if w.len() >= 1 << 16 {
                w.hash_into(&mut hasher);
            }
        };
        w.str(&self.chain_id).u64(self.height).u64(self.epoch).u64(self.last_epoch_credited);
        let p = &self.params;
        w.u128(p.epoch_reward).u64(p.unbonding_epochs).u128(p.slash_bps).u128(p.reporter_bps);
        w.u128(p.quorum_bps).u128(p.threshold_bps).u64(p.voting_epochs);
        w.u64(self.accounts.len() as u64);
        for (a, acc) in &self.accounts {
            w.bytes(&a.0).u128(acc.balance.0).u64(acc.nonce).u128(acc.rewards.0);
            flush(&mut w);
        }
        w.u64(self.workers.len() as u64);
        for (a, wk) in &self.workers {
            w.bytes(&a.0)
                .u32(wk.commission_bps)
                .u128(wk.self_stake.0)
                .u128(wk.delegated.0)
                .u32(wk.jailed.into());
            flush(&mut w);
        }
        w.u64(self.delegations.len() as u64);
        for ((d, wk), v) in &self.delegations {
            w.bytes(&d.0).bytes(&wk.0).u128(v.0);
            flush(&mut w);
        }
        w.u64(self.unbonding.len() as u64);
        for ((e, a), v) in &self.unbonding {
            w.u64(*e).bytes(&a.0).u128(v.0);
            flush(&mut w);
        }
        w.u64(self.claims.len() as u64);
        for ((e, a), c) in &self.claims {
            w.u64(*e).bytes(&a.0).bytes(&c.root).u64(c.count).u64(c.tokens);
            flush(&mut w);
        }
        w.u64(self.attestations.len() as u64);
        for ((e, a, r), c) in &self.attestations {
            w.u64(*e).bytes(&a.0).bytes(&r.0).bytes(&c.root).u64(c.count).u64(c.tokens);
            flush(&mut w);
        }
        w.u64(self.proposals.len() as u64);
        for (id, p) in &self.proposals {
            w.u64(*id).u32(p.key.code()).u128(p.value).u64(p.voting_end);
            w.u32(p.passed.map_or(0, |b| 1 + u32::from(b)));
            w.u64(p.votes.len() as u64);
            for (v, y) in &p.votes {
                w.bytes(&v.0).u32((*y).into());
            }
            flush(&mut w);
        }
        w.u64(self.proven_jobs.len() as u64);
        for j in &self.proven_jobs {
            w.bytes(j);
            flush(&mut w);
        }
        w.u128(self.supply.0).u128(self.minted.0).u128(self.burned.0);
        w.hash_into(&mut hasher);
        hasher.finalize().into()
    }
}
