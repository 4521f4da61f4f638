//! A small network on the bare state machine: keys with balances, transactions signed with the
//! required fee, and the tickets and receipts evidence is made of.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use rand_core_06::OsRng;
use wick_proto::signing;
use wick_proto::v1::{JobTicket, SignedReceipt};
use wick_staking::verify::verify_all;
use wick_staking::{Address, Amount, Params, SignedTx, State, Tx, TxBody, TxError, WorkReport};

pub const CHAIN: &str = "wick-test";
pub const START: u128 = 1_000_000;

/// Applies a block serially, its signatures batch-verified with the system's randomness, one
/// millisecond after the last block.
pub fn apply_block(state: &mut State, txs: &[SignedTx]) -> Vec<Result<(), TxError>> {
    let time = state.last_block_ms + 1;
    state.apply_block(txs, verify_all(txs, OsRng), time)
}

/// Undoes the height and clock of a block of nothing but refusals, which is never stored.
pub fn drop_block(state: &mut State, before: &State) {
    state.height = before.height;
    state.last_block_ms = before.last_block_ms;
    state.epoch_started_ms = before.epoch_started_ms;
}

pub fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}

pub fn addr(k: &SigningKey) -> Address {
    Address(k.verifying_key().to_bytes())
}

pub fn ok(r: Result<(), TxError>) {
    r.expect("transaction accepted");
}

pub struct Net {
    pub state: State,
    pub keys: Vec<SigningKey>,
}

impl Net {
    /// `n` keys with [`START`] each; keys from `n` on exist but hold nothing.
    pub fn new(n: u8, params: Params) -> Self {
        let keys: Vec<_> = (0..n + 4).map(key).collect();
        let bal: Vec<_> = keys[..n as usize].iter().map(|k| (addr(k), Amount(START))).collect();
        Net { state: State::genesis(CHAIN, params, &bal).expect("genesis"), keys }
    }

    /// A transaction of key `i` paying exactly the required fee.
    pub fn tx(&self, i: usize, body: TxBody) -> SignedTx {
        self.tx_fee(i, None, body)
    }

    /// A transaction of key `i` paying `fee` (or the required one).
    pub fn tx_fee(&self, i: usize, fee: Option<u128>, body: TxBody) -> SignedTx {
        let a = addr(&self.keys[i]);
        let nonce = self.state.account(&a).nonce;
        let tx = Tx { chain_id: CHAIN.into(), signer: a, nonce, fee: Amount::ZERO, body };
        let tx = match fee {
            Some(f) => Tx { fee: Amount(f), ..tx },
            None => tx.paying(&self.state.params),
        };
        tx.sign(&self.keys[i])
    }

    /// The fee key `i` pays for `body` now.
    pub fn fee(&self, i: usize, body: TxBody) -> u128 {
        self.tx(i, body).tx.fee.0
    }

    pub fn run(&mut self, i: usize, body: TxBody) -> Result<(), TxError> {
        let t = self.tx(i, body);
        apply_block(&mut self.state, &[t]).remove(0)
    }

    /// Ends the epoch at the last block's time.
    pub fn end_epoch(&mut self) {
        let time = self.state.last_block_ms;
        self.state.end_epoch(time);
    }

    pub fn a(&self, i: usize) -> Address {
        addr(&self.keys[i])
    }

    pub fn balance(&self, i: usize) -> u128 {
        self.state.account(&self.a(i)).balance.0
    }

    /// Registers key `i` as a worker with `stake`.
    pub fn worker(&mut self, i: usize, commission_bps: u32, stake: u128) {
        ok(self.run(i, TxBody::RegisterWorker { commission_bps }));
        ok(self.run(i, TxBody::Stake { amount: Amount(stake) }));
    }

    /// Registers key `i` as a router with `stake` and `escrow`.
    pub fn router(&mut self, i: usize, stake: u128, escrow: u128) {
        ok(self.run(i, TxBody::RegisterRouter));
        ok(self.run(i, TxBody::BondRouter { amount: Amount(stake) }));
        ok(self.run(i, TxBody::FundEscrow { amount: Amount(escrow) }));
    }

    /// Worker `w` claims and router `r` attests (`claimed`, `attested`) for this epoch.
    pub fn work(&mut self, w: usize, r: usize, claimed: u128, attested: u128) {
        let epoch = self.state.epoch;
        let report =
            |amount| WorkReport { epoch, receipts_root: [w as u8; 32], count: 1, tokens: 10, amount };
        ok(self.run(w, TxBody::WorkClaim { router: self.a(r), work: report(claimed) }));
        ok(self.run(r, TxBody::Attestation { worker: self.a(w), work: report(attested) }));
    }
}

/// A ticket signed by `router` for a 32-byte request hash of `seed`, in `epoch`.
pub fn ticket(router: &SigningKey, seed: u8, epoch: u64) -> JobTicket {
    let mut t = JobTicket {
        job_id: vec![seed; 16],
        request_hash: vec![seed; 32],
        model_id: vec![9; 32],
        deadline_unix_ms: 1_000,
        price_per_1k_tokens: 10,
        epoch,
        ..Default::default()
    };
    signing::sign_ticket(router, &mut t);
    t
}

/// The numeric class of the receipts of these tests: Wick's CPU kernels.
pub const CPU_CLASS: &str = "cpu-v1";

/// `worker`'s receipt for `ticket` with output `out`.
pub fn receipt(worker: &SigningKey, ticket: &JobTicket, out: u8) -> SignedReceipt {
    receipt_in(CPU_CLASS, worker, ticket, out)
}

/// [`receipt`], computed in numeric class `class`.
pub fn receipt_in(class: &str, worker: &SigningKey, ticket: &JobTicket, out: u8) -> SignedReceipt {
    let mut r = signing::receipt_for(Some(ticket), [0; 32]);
    r.output_hash = vec![out; 32];
    r.tokens_in = 5;
    r.tokens_out = 3;
    r.numeric_class = class.into();
    signing::sign_receipt(worker, r)
}

/// A fraud proof of two conflicting receipts of `worker` for `ticket`.
pub fn fraud_proof(worker: &SigningKey, ticket: &JobTicket) -> TxBody {
    TxBody::FraudProof {
        ticket: Box::new(ticket.clone()),
        a: Box::new(receipt(worker, ticket, 1)),
        b: Box::new(receipt(worker, ticket, 2)),
    }
}

/// Everything the state holds: balances, rewards, bonded stake, unbonding and escrow.
pub fn total_held(s: &State) -> u128 {
    let acc: u128 = s.accounts.values().map(|a| a.balance.0 + a.rewards.0).sum();
    let bonded: u128 = s.workers.values().map(|w| w.self_stake.0 + w.delegated.0).sum();
    let routers: u128 = s.routers.values().map(|r| r.stake.0 + r.escrow.0).sum();
    let reserved: u128 = s.attestations.values().map(|w| w.amount).sum();
    let unb: u128 = s.unbonding.values().map(|v| v.amount.0).sum();
    let validators: u128 = s.validators.values().map(|v| v.stake.0).sum();
    acc + bonded + routers + reserved + unb + validators
}
