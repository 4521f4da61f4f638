//! The benchmark's workload: a genesis of accounts, workers and routers, and the signed blocks of
//! its epochs (claims and attestations per worker and router, transfers between users), each
//! paying the required fee.

use ed25519_dalek::SigningKey;
use rayon::prelude::*;
use wick_staking::genesis::{Genesis, GenesisAccount, GenesisAmount, GenesisRouter, GenesisWorker};
use wick_staking::{Address, Amount, Params, Tx, TxBody, WorkReport, wire};

use super::LedgerBench;

const CHAIN: &str = "wick-bench";

pub(super) struct Workload {
    pub(super) genesis: Genesis,
    /// Blocks of wire bytes, and whether each ends the epoch.
    pub(super) blocks: Vec<(Vec<Vec<u8>>, bool)>,
}

fn key(i: usize) -> SigningKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SigningKey::from_bytes(&seed)
}

impl LedgerBench {
    pub(super) fn workload(&self) -> Workload {
        let n = self.accounts.max(self.workers + self.routers + 2);
        let keys: Vec<SigningKey> = (0..n).into_par_iter().map(key).collect();
        let addrs: Vec<Address> = keys.iter().map(|k| Address(k.verifying_key().to_bytes())).collect();
        let genesis = self.genesis(&addrs);
        let users = self.workers + self.routers..n;
        let mut nonces = vec![0u64; n];
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as usize
        };
        // (signer, body) for every transaction, in order.
        let mut plan: Vec<(usize, TxBody)> = Vec::new();
        let mut ends = Vec::new();
        for epoch in 0..self.epochs as u64 {
            let mut work = Vec::new();
            for (w, &worker) in addrs.iter().enumerate().take(self.workers) {
                let report =
                    WorkReport { epoch, receipts_root: [w as u8; 32], count: 3, tokens: 300, amount: 3 };
                let r = self.workers + (w + epoch as usize) % self.routers.max(1);
                work.push((w, TxBody::WorkClaim { router: addrs[r], work: report }));
                work.push((r, TxBody::Attestation { worker, work: report }));
            }
            let transfers = self.workers * self.transfers_per_worker;
            let mut t = 0;
            for (i, item) in work.into_iter().enumerate() {
                plan.push(item);
                // Interleave the transfers with the work.
                while t * 2 * self.workers < transfers * (i + 1) && t < transfers {
                    let from = users.start + next() % users.len();
                    let to = users.start + next() % users.len();
                    plan.push((from, TxBody::Transfer { to: addrs[to], amount: Amount(1 + t as u128 % 97) }));
                    t += 1;
                }
            }
            ends.push(plan.len());
        }
        let params = Params::default();
        let txs: Vec<(usize, Tx)> = plan
            .into_iter()
            .map(|(who, body)| {
                let nonce = nonces[who];
                nonces[who] += 1;
                let mut tx =
                    Tx { chain_id: CHAIN.into(), signer: addrs[who], nonce, fee: Amount::ZERO, body };
                tx.fee = Amount(params.required_fee(tx.wire_len()));
                (who, tx)
            })
            .collect();
        let bytes: Vec<Vec<u8>> =
            txs.into_par_iter().map(|(who, t)| wire::encode(&t.sign(&keys[who]))).collect();
        // Blocks never straddle an epoch end.
        let mut blocks = Vec::new();
        let mut start = 0;
        for end in ends {
            while start < end {
                let stop = (start + self.block_txs.max(1)).min(end);
                blocks.push((bytes[start..stop].to_vec(), stop == end));
                start = stop;
            }
        }
        Workload { genesis, blocks }
    }

    /// All accounts funded; the first `workers` staked workers, the next `routers` routers with
    /// stake and escrow.
    fn genesis(&self, addrs: &[Address]) -> Genesis {
        Genesis {
            chain_id: CHAIN.into(),
            epoch_seconds: 20,
            params: Default::default(),
            accounts: addrs
                .iter()
                .map(|a| GenesisAccount { address: a.to_string(), balance: GenesisAmount(1 << 40) })
                .collect(),
            workers: addrs[..self.workers]
                .iter()
                .map(|a| GenesisWorker {
                    address: a.to_string(),
                    commission_bps: 500,
                    stake: GenesisAmount(1 << 30),
                })
                .collect(),
            delegations: Vec::new(),
            routers: addrs[self.workers..self.workers + self.routers]
                .iter()
                .map(|a| GenesisRouter {
                    address: a.to_string(),
                    stake: GenesisAmount(1 << 30),
                    escrow: GenesisAmount(1 << 40),
                })
                .collect(),
            validators: Vec::new(),
        }
    }
}
