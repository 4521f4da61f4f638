//! A readable description of a signed transaction: what `--dry-run` and `--json` print.

use serde_json::{Value, json};
use wick_staking::{SignedTx, TxBody, WorkReport, wire};

fn work(w: &WorkReport) -> Value {
    json!({
        "epoch": w.epoch,
        "receipts_root": hex::encode(w.receipts_root),
        "count": w.count,
        "tokens": w.tokens,
        "amount": w.amount.to_string(),
    })
}

/// The fields of a transaction's body.
fn fields(body: &TxBody) -> Value {
    match body {
        TxBody::Transfer { to, amount } => json!({"to": to.to_string(), "amount": amount.to_string()}),
        TxBody::RegisterWorker { commission_bps } => json!({"commission_bps": commission_bps}),
        TxBody::Stake { amount }
        | TxBody::Unstake { amount }
        | TxBody::BondRouter { amount }
        | TxBody::UnbondRouter { amount }
        | TxBody::FundEscrow { amount }
        | TxBody::WithdrawEscrow { amount } => json!({"amount": amount.to_string()}),
        TxBody::Delegate { worker, amount } | TxBody::Undelegate { worker, amount } => {
            json!({"worker": worker.to_string(), "amount": amount.to_string()})
        }
        TxBody::WithdrawRewards | TxBody::RegisterRouter | TxBody::Unjail => json!({}),
        TxBody::WorkClaim { router, work: w } => json!({"router": router.to_string(), "work": work(w)}),
        TxBody::Attestation { worker, work: w } => json!({"worker": worker.to_string(), "work": work(w)}),
        TxBody::FraudProof { ticket, .. } => json!({"job_id": hex::encode(&ticket.job_id)}),
        TxBody::AuditProof { accused, receipts, .. } => {
            json!({"accused": accused.to_string(), "receipts": receipts.len()})
        }
        TxBody::RouterEquivocation { a, .. } => json!({"router": hex::encode(&a.router_public_key)}),
        TxBody::Propose { key, value } => json!({"param": key.name(), "value": value.to_string()}),
        TxBody::Vote { proposal, yes } => json!({"proposal": proposal, "yes": yes}),
    }
}

/// Kind, envelope, body fields, hash and wire bytes of `tx`.
pub fn describe(tx: &SignedTx) -> Value {
    let t = &tx.tx;
    let bytes = wire::encode(tx);
    json!({
        "kind": t.body.name(),
        "chain_id": t.chain_id,
        "signer": t.signer.to_string(),
        "nonce": t.nonce,
        "fee": t.fee.to_string(),
        "body": fields(&t.body),
        "hash": hex::encode(wire::tx_hash(&bytes)),
        "bytes": hex::encode(&bytes),
    })
}
