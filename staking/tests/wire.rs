//! The wire encoding: every transaction round-trips, decoding random bytes never panics, and
//! whatever decodes re-encodes to the same bytes (one encoding, one hash).

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use wick_proto::v1::{JobTicket, Receipt, SamplingParams, SignedReceipt};
use wick_staking::{Address, Amount, ParamKey, SignedTx, Tx, TxBody, WorkReport, wire};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Any valid numeric class (the decoder refuses the others).
fn class() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9.-]{0,31}"
}

fn receipt() -> impl Strategy<Value = Box<SignedReceipt>> {
    let body = (bytes(40), any::<u32>(), any::<u64>(), bytes(33), class());
    (prop::option::of(body), bytes(65), bytes(33)).prop_map(|(r, sig, router)| {
        let receipt = r.map(|(job, tokens, ms, key, numeric_class)| Receipt {
            job_hash: job.clone(),
            model_id: job.clone(),
            output_hash: vec![1; 32],
            tokens_in: tokens,
            tokens_out: tokens / 2,
            started_unix_ms: ms,
            finished_unix_ms: ms / 3,
            worker_public_key: key.clone(),
            router_public_key: key,
            price_per_1k_tokens: ms / 7,
            job_id: job,
            numeric_class,
        });
        Box::new(SignedReceipt {
            receipt,
            worker_signature: sig.clone(),
            router_public_key: router,
            router_signature: sig,
        })
    })
}

fn ticket() -> impl Strategy<Value = Box<JobTicket>> {
    (bytes(20), bytes(33), any::<u64>(), bytes(65), prop::option::of(any::<u32>())).prop_map(
        |(id, hash, n, sig, seed)| {
            Box::new(JobTicket {
                job_id: id,
                request_hash: hash.clone(),
                model_id: hash.clone(),
                // Canonical: a ticket's parameters are always present (absent ones sign as defaults).
                params: Some(SamplingParams { seed: u64::from(seed.unwrap_or(0)), ..Default::default() }),
                deadline_unix_ms: n,
                router_public_key: hash,
                signature: sig,
                price_per_1k_tokens: n / 3,
                epoch: n / 5,
            })
        },
    )
}

fn work() -> impl Strategy<Value = WorkReport> {
    (any::<u64>(), any::<[u8; 32]>(), any::<u64>(), any::<u64>(), any::<u128>()).prop_map(
        |(epoch, receipts_root, count, tokens, amount)| WorkReport {
            epoch,
            receipts_root,
            count,
            tokens,
            amount,
        },
    )
}

fn body() -> impl Strategy<Value = TxBody> {
    let a = any::<[u8; 32]>().prop_map(Address);
    let amt = any::<u128>().prop_map(Amount);
    prop_oneof![
        (a.clone(), amt.clone()).prop_map(|(to, amount)| TxBody::Transfer { to, amount }),
        any::<u32>().prop_map(|c| TxBody::RegisterWorker { commission_bps: c }),
        amt.clone().prop_map(|amount| TxBody::Stake { amount }),
        amt.clone().prop_map(|amount| TxBody::Unstake { amount }),
        (a.clone(), amt.clone()).prop_map(|(worker, amount)| TxBody::Delegate { worker, amount }),
        (a.clone(), amt.clone()).prop_map(|(worker, amount)| TxBody::Undelegate { worker, amount }),
        Just(TxBody::WithdrawRewards),
        (a.clone(), work()).prop_map(|(router, work)| TxBody::WorkClaim { router, work }),
        (a.clone(), work()).prop_map(|(worker, work)| TxBody::Attestation { worker, work }),
        (ticket(), receipt(), receipt()).prop_map(|(ticket, a, b)| TxBody::FraudProof { ticket, a, b }),
        (0u32..ParamKey::ALL.len() as u32, any::<u128>()).prop_map(|(k, value)| TxBody::Propose {
            key: ParamKey::from_code(k).unwrap_or(ParamKey::EpochReward),
            value
        }),
        (any::<u64>(), any::<bool>()).prop_map(|(proposal, yes)| TxBody::Vote { proposal, yes }),
        (ticket(), prop::collection::vec(receipt(), 0..4), a).prop_map(|(ticket, r, accused)| {
            TxBody::AuditProof { ticket, receipts: r.into_iter().map(|b| *b).collect(), accused }
        }),
        Just(TxBody::RegisterRouter),
        amt.clone().prop_map(|amount| TxBody::BondRouter { amount }),
        amt.clone().prop_map(|amount| TxBody::UnbondRouter { amount }),
        amt.clone().prop_map(|amount| TxBody::FundEscrow { amount }),
        amt.clone().prop_map(|amount| TxBody::WithdrawEscrow { amount }),
        amt.clone().prop_map(|amount| TxBody::BondValidator { amount }),
        amt.prop_map(|amount| TxBody::UnbondValidator { amount }),
        Just(TxBody::Unjail),
        (ticket(), ticket()).prop_map(|(a, b)| TxBody::RouterEquivocation { a, b }),
    ]
}

fn signed_tx() -> impl Strategy<Value = SignedTx> {
    ("[a-z0-9-]{0,24}", any::<[u8; 32]>(), any::<u64>(), any::<u128>(), body(), any::<bool>()).prop_map(
        |(chain_id, seed, nonce, fee, body, sign)| {
            let tx = Tx { chain_id, signer: Address(seed), nonce, fee: Amount(fee), body };
            if sign {
                tx.sign(&SigningKey::from_bytes(&seed))
            } else {
                SignedTx { tx, signature: [seed[0]; 64] }
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_decode_round_trips(t in signed_tx()) {
        let bytes = wire::encode(&t);
        prop_assert_eq!(wire::decode(&bytes), Ok(t));
    }

    #[test]
    fn decode_never_panics_and_is_canonical(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(t) = wire::decode(&bytes) {
            prop_assert_eq!(wire::encode(&t), bytes);
        }
    }

    #[test]
    fn mutated_encodings_never_panic_and_stay_canonical(
        t in signed_tx(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = wire::encode(&t);
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        let bytes = &bytes[..cut.index(bytes.len() + 1)];
        if let Ok(t) = wire::decode(bytes) {
            prop_assert_eq!(wire::encode(&t), bytes.to_vec());
        }
    }
}
