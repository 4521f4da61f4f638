//! One transaction: the checks every kind shares (chain, nonce, fee), then the function of its
//! kind, then the signer's balance, nonce and the burned fee. Each kind validates fully before
//! it writes anything, so a rejected transaction leaves the state unchanged.

use super::{State, add};
use crate::error::TxError;
use crate::tx::{SignedTx, TxBody};
use crate::types::{Address, Amount};

/// The signer of the transaction being applied, as its kind's function sees it.
pub(crate) struct Signer {
    /// Its address.
    pub(crate) address: Address,
    /// Its balance before the transaction.
    pub(crate) balance: Amount,
    /// Its accrued rewards before the transaction.
    pub(crate) rewards: Amount,
    /// The transaction's fee.
    pub(crate) fee: Amount,
}

impl Signer {
    /// The signer's balance after paying the fee and spending `amount`, or why it cannot.
    pub(crate) fn spend(&self, amount: Amount) -> Result<Amount, TxError> {
        let needed = add(self.fee, amount)?;
        self.balance.checked_sub(needed).ok_or(TxError::InsufficientBalance { balance: self.balance, needed })
    }
}

/// `Err(ZeroAmount)` for a zero amount where a positive one is required.
pub(crate) fn positive(a: Amount) -> Result<(), TxError> {
    if a.0 == 0 { Err(TxError::ZeroAmount) } else { Ok(()) }
}

impl State {
    /// Checks and applies one transaction whose signature has already been verified.
    /// On error the state is unchanged.
    pub fn apply_verified(&mut self, stx: &SignedTx) -> Result<(), TxError> {
        let tx = &stx.tx;
        if tx.chain_id != self.chain_id {
            return Err(TxError::WrongChain { expected: self.chain_id.clone(), got: tx.chain_id.clone() });
        }
        let acc = self.account(&tx.signer);
        if tx.nonce != acc.nonce {
            return Err(TxError::BadNonce { expected: acc.nonce, got: tx.nonce });
        }
        let me = Signer { address: tx.signer, balance: acc.balance, rewards: acc.rewards, fee: tx.fee };
        me.spend(Amount::ZERO)?;
        let balance = self.apply_body(&me, &tx.body)?;
        self.finish(&me, balance)
    }

    /// Runs the function of the transaction's kind; returns the signer's new balance.
    fn apply_body(&mut self, me: &Signer, body: &TxBody) -> Result<Amount, TxError> {
        match body {
            TxBody::Transfer { to, amount } => self.transfer(me, *to, *amount),
            TxBody::WithdrawRewards => self.withdraw_rewards(me),
            TxBody::RegisterWorker { commission_bps } => self.register_worker(me, *commission_bps),
            TxBody::Stake { amount } => self.stake(me, *amount),
            TxBody::Unstake { amount } => self.unstake(me, *amount),
            TxBody::Delegate { worker, amount } => self.delegate(me, *worker, *amount),
            TxBody::Undelegate { worker, amount } => self.undelegate(me, *worker, *amount),
            TxBody::WorkClaim { epoch, receipts_root, count, tokens } => {
                self.work_claim(me, *epoch, *receipts_root, *count, *tokens)
            }
            TxBody::Attestation { epoch, worker, receipts_root, count, tokens } => {
                self.attestation(me, *epoch, *worker, *receipts_root, *count, *tokens)
            }
            TxBody::FraudProof { a, b } => self.fraud_proof(me, a, b),
            TxBody::AuditProof { ticket, receipts, accused } => {
                self.audit_proof(me, ticket, receipts, accused)
            }
            TxBody::Propose { key, value } => self.propose(me, *key, *value),
            TxBody::Vote { proposal, yes } => self.vote(me, *proposal, *yes),
        }
    }

    /// Writes the signer's new balance, advances its nonce and burns the fee.
    fn finish(&mut self, me: &Signer, balance: Amount) -> Result<(), TxError> {
        let a = self.accounts.entry(me.address).or_default();
        a.balance = balance;
        a.nonce += 1;
        self.supply = self.supply.checked_sub(me.fee).ok_or(TxError::Overflow)?;
        self.burned = add(self.burned, me.fee)?;
        Ok(())
    }
}
