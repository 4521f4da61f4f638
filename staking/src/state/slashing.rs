//! Slashing: fraud proofs and audit evidence against a worker cut its stake and its delegators',
//! pay the reporter a part and burn the rest, and jail the worker.

use wick_proto::v1::{JobTicket, SignedReceipt};

use super::apply::Signer;
use super::{BPS, State, add};
use crate::error::TxError;
use crate::evidence;
use crate::types::{Address, Amount, mul_div};

impl State {
    /// Two conflicting receipts signed by one worker for one job.
    pub(crate) fn fraud_proof(
        &mut self,
        me: &Signer,
        a: &SignedReceipt,
        b: &SignedReceipt,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let (worker, job) = evidence::check_conflicting_receipts(a, b)?;
        self.punish(after, &worker, job)
    }

    /// A router's audit evidence: the job's ticket and three or more workers' receipts.
    pub(crate) fn audit_proof(
        &mut self,
        me: &Signer,
        ticket: &JobTicket,
        receipts: &[SignedReceipt],
        accused: &Address,
    ) -> Result<Amount, TxError> {
        let after = me.spend(Amount::ZERO)?;
        let job = evidence::check_audit(ticket, receipts, accused)?;
        self.punish(after, accused, job)
    }

    /// Slashes `worker` for `job` (once per job); returns the reporter's balance with its reward.
    fn punish(&mut self, after: Amount, worker: &Address, job: Vec<u8>) -> Result<Amount, TxError> {
        if self.proven_jobs.contains(&job) {
            return Err(TxError::Duplicate);
        }
        if !self.workers.contains_key(worker) {
            return Err(TxError::NotWorker);
        }
        let reward = self.slash(worker)?;
        let after = add(after, reward)?;
        self.proven_jobs.insert(job);
        Ok(after)
    }

    /// Slashes `worker` and its delegators by `slash_bps`; returns the reporter's part. The rest is
    /// burned. Jails the worker.
    fn slash(&mut self, worker: &Address) -> Result<Amount, TxError> {
        let bps = self.params.slash_bps;
        let w = self.workers.get(worker).ok_or(TxError::NotWorker)?.clone();
        let mut total = mul_div(w.self_stake.0, bps, BPS).ok_or(TxError::Overflow)?;
        let own_cut = total;
        let mut cuts = Vec::new();
        for ((d, wk), v) in &self.delegations {
            if wk == worker {
                let cut = mul_div(v.0, bps, BPS).ok_or(TxError::Overflow)?;
                total += cut;
                cuts.push(((*d, *wk), Amount(v.0 - cut), cut));
            }
        }
        let del_cut: u128 = cuts.iter().map(|c| c.2).sum();
        for (k, left, _) in cuts {
            self.delegations.insert(k, left);
        }
        let wm = self.workers.get_mut(worker).ok_or(TxError::NotWorker)?;
        wm.self_stake = Amount(w.self_stake.0 - own_cut);
        wm.delegated = Amount(w.delegated.0 - del_cut);
        wm.jailed = true;
        let reporter = mul_div(total, self.params.reporter_bps, BPS).ok_or(TxError::Overflow)?;
        let burn = total - reporter;
        self.supply = Amount(self.supply.0 - burn);
        self.burned = add(self.burned, Amount(burn))?;
        Ok(Amount(reporter))
    }
}
