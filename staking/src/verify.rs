//! Batch signature verification with ZIP-215 rules (`ed25519-consensus`), under which a batch
//! and single checks always agree, so every replica accepts the same transactions.
//!
//! A batch check draws random coefficients. The state machine itself draws no randomness (it
//! has no I/O), so the caller passes the generator: the ledger node passes the operating
//! system's (`rand_core::OsRng`); tests may do the same.

use rand_core_06::{CryptoRng, RngCore};
use rayon::prelude::*;

use crate::error::TxError;
use crate::tx::SignedTx;
use crate::wire;

/// Transactions per signature batch: large enough to amortise, small enough to spread over cores.
pub const BATCH: usize = 64;

/// A source of batch-verification randomness that every thread can copy.
pub trait BatchRng: RngCore + CryptoRng + Clone + Send + Sync {}
impl<R: RngCore + CryptoRng + Clone + Send + Sync> BatchRng for R {}

/// Verifies many transactions' signatures on all cores: batches of [`BATCH`], falling back to
/// single checks inside a batch that fails, to name the bad ones. Returns one result per
/// transaction, in order; the result does not depend on the thread count or on `rng`.
pub fn verify_all<R: BatchRng>(txs: &[SignedTx], rng: R) -> Vec<Result<(), TxError>> {
    txs.par_chunks(BATCH).flat_map_iter(|batch| verify_batch(batch, rng.clone())).collect()
}

fn verify_batch<R: BatchRng>(txs: &[SignedTx], rng: R) -> Vec<Result<(), TxError>> {
    let msgs: Vec<Vec<u8>> = txs.iter().map(|t| t.tx.signing_bytes()).collect();
    let msgs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    verify_batch_against(txs, &msgs, rng)
}

/// One ZIP-215 batch: `txs[i]` checked against `signed[i]`, its signing bytes (however the
/// caller has them). A batch that fails checks each signature alone, to name the bad ones.
pub(crate) fn verify_batch_against<R: BatchRng>(
    txs: &[SignedTx],
    signed: &[&[u8]],
    rng: R,
) -> Vec<Result<(), TxError>> {
    let one_by_one = || txs.iter().zip(signed).map(|(t, m)| t.verify_message(m)).collect();
    if txs.len() <= 1 {
        return one_by_one();
    }
    let mut batch = ed25519_consensus::batch::Verifier::new();
    for (t, m) in txs.iter().zip(signed) {
        let vk = ed25519_consensus::VerificationKeyBytes::from(t.tx.signer.0);
        batch.queue((vk, ed25519_consensus::Signature::from(t.signature), *m));
    }
    if batch.verify(rng).is_ok() { vec![Ok(()); txs.len()] } else { one_by_one() }
}

/// A block's transactions decoded, with one signature check result per transaction.
pub type DecodedBlock = (Vec<SignedTx>, Vec<Result<(), TxError>>);

/// Decodes a block's wire transactions and checks their signatures, on all cores in one pass of
/// [`BATCH`]-sized batches. The signed part of a canonical encoding *is* the signing bytes, so
/// batches verify against the wire bytes and nothing is re-encoded. The signature results equal
/// [`verify_all`]'s on the decoded transactions. Fails with the index of the first transaction
/// that does not decode (such a block cannot be executed).
pub fn decode_verify_all<R: BatchRng>(wire: &[Vec<u8>], rng: R) -> Result<DecodedBlock, (usize, TxError)> {
    let batches: Vec<Result<DecodedBlock, (usize, TxError)>> =
        wire.par_chunks(BATCH).map(|batch| decode_verify_batch(batch, rng.clone())).collect();
    let mut txs = Vec::with_capacity(wire.len());
    let mut sigs = Vec::with_capacity(wire.len());
    for (n, batch) in batches.into_iter().enumerate() {
        let (t, s) = batch.map_err(|(i, e)| (n * BATCH + i, e))?;
        txs.extend(t);
        sigs.extend(s);
    }
    Ok((txs, sigs))
}

/// One batch of [`decode_verify_all`]; a decoding failure names its index in the batch.
fn decode_verify_batch<R: BatchRng>(wire: &[Vec<u8>], rng: R) -> Result<DecodedBlock, (usize, TxError)> {
    let txs = wire
        .iter()
        .enumerate()
        .map(|(i, b)| wire::decode(b).map_err(|e| (i, e)))
        .collect::<Result<Vec<_>, _>>()?;
    // `decode` took the last 64 bytes as the signature: the rest is what was signed.
    let signed: Vec<&[u8]> = wire.iter().map(|b| &b[..b.len() - 64]).collect();
    let sigs = verify_batch_against(&txs, &signed, rng);
    Ok((txs, sigs))
}
