//! One transaction: the checks every kind shares (chain, nonce, fee), then the function of its
//! kind. A transaction that fails those checks is refused and changes nothing; one that passes
//! them pays its fee and uses its nonce whether its kind's function succeeds or fails (see
//! [`crate::error`]). Each kind validates fully before it writes anything, so a failed kind
//! changes nothing but the fee.

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
    /// Checks and applies one transaction whose signature has already been verified. `Ok` means
    /// it was applied; an error is either a refusal (nothing changed) or a failure (only the fee
    /// was charged and the nonce used), as [`TxError::is_refusal`] tells.
    pub fn apply_verified(&mut self, stx: &SignedTx) -> Result<(), TxError> {
        let me = self.admit(stx)?;
        match self.apply_body(&me, &stx.tx.body) {
            Ok(balance) => {
                self.finish(&me, balance);
                Ok(())
            }
            Err(e) => {
                // Admitted: the fee is covered, so this cannot fail.
                self.finish(&me, Amount(me.balance.0 - me.fee.0));
                Err(e)
            }
        }
    }

    /// The checks every transaction shares; a failure here is a refusal.
    fn admit(&self, stx: &SignedTx) -> Result<Signer, TxError> {
        let tx = &stx.tx;
        if tx.chain_id != self.chain_id {
            return Err(TxError::WrongChain { expected: self.chain_id.clone(), got: tx.chain_id.clone() });
        }
        let acc = self.account(&tx.signer);
        if tx.nonce != acc.nonce {
            return Err(TxError::BadNonce { expected: acc.nonce, got: tx.nonce });
        }
        let required = Amount(self.params.required_fee(tx.wire_len()));
        if tx.fee < required {
            return Err(TxError::FeeTooLow { required, offered: tx.fee });
        }
        if acc.balance < tx.fee {
            return Err(TxError::CannotPayFee { balance: acc.balance, fee: tx.fee });
        }
        Ok(Signer { address: tx.signer, balance: acc.balance, rewards: acc.rewards, fee: tx.fee })
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
            TxBody::RegisterRouter => self.register_router(me),
            TxBody::BondRouter { amount } => self.bond_router(me, *amount),
            TxBody::UnbondRouter { amount } => self.unbond_router(me, *amount),
            TxBody::FundEscrow { amount } => self.fund_escrow(me, *amount),
            TxBody::WithdrawEscrow { amount } => self.withdraw_escrow(me, *amount),
            TxBody::Unjail => self.unjail(me),
            TxBody::WorkClaim { router, work } => self.work_claim(me, *router, work),
            TxBody::Attestation { worker, work } => self.attestation(me, *worker, work),
            TxBody::FraudProof { ticket, a, b } => self.fraud_proof(me, ticket, a, b),
            TxBody::AuditProof { ticket, receipts, accused } => {
                self.audit_proof(me, ticket, receipts, accused)
            }
            TxBody::RouterEquivocation { a, b } => self.router_equivocation(me, a, b),
            TxBody::Propose { key, value } => self.propose(me, *key, *value),
            TxBody::Vote { proposal, yes } => self.vote(me, *proposal, *yes),
            TxBody::BondValidator { amount } => self.bond_validator(me, *amount),
            TxBody::UnbondValidator { amount } => self.unbond_validator(me, *amount),
        }
    }

    /// Writes the signer's new balance, advances its nonce and burns the fee (admitted: the
    /// supply holds the fee, so the subtraction cannot underflow).
    fn finish(&mut self, me: &Signer, balance: Amount) {
        let a = self.accounts.entry(me.address).or_default();
        a.balance = balance;
        a.nonce += 1;
        self.supply = Amount(self.supply.0 - me.fee.0);
        self.burned = Amount(self.burned.0.saturating_add(me.fee.0));
    }
}
