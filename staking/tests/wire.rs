//! The wire encoding: every transaction round-trips, decoding random bytes never panics, and
//! whatever decodes re-encodes to the same bytes (one encoding, one hash).

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use wick_proto::v1::{Receipt, SignedReceipt};
use wick_staking::{Address, Amount, ParamKey, SignedTx, Tx, TxBody, wire};

fn receipt() -> impl Strategy<Value = Box<SignedReceipt>> {
    (
        prop::option::of((
            prop::collection::vec(any::<u8>(), 0..40),
            any::<u32>(),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..33),
        )),
        prop::collection::vec(any::<u8>(), 0..65),
        prop::collection::vec(any::<u8>(), 0..33),
    )
        .prop_map(|(r, sig, router)| {
            let receipt = r.map(|(job, tokens, ms, key)| Receipt {
                job_hash: job.clone(),
                model_id: job,
                output_hash: vec![1; 32],
                tokens_in: tokens,
                tokens_out: tokens / 2,
                started_unix_ms: ms,
                finished_unix_ms: ms / 3,
                worker_public_key: key,
            });
            Box::new(SignedReceipt {
                receipt,
                worker_signature: sig.clone(),
                router_public_key: router,
                router_signature: sig,
            })
        })
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
        (a.clone(), amt).prop_map(|(worker, amount)| TxBody::Undelegate { worker, amount }),
        Just(TxBody::WithdrawRewards),
        (any::<u64>(), any::<[u8; 32]>(), any::<u64>(), any::<u64>()).prop_map(
            |(epoch, r, count, tokens)| { TxBody::WorkClaim { epoch, receipts_root: r, count, tokens } }
        ),
        (any::<u64>(), a, any::<[u8; 32]>(), any::<u64>(), any::<u64>()).prop_map(
            |(epoch, worker, r, count, tokens)| TxBody::Attestation {
                epoch,
                worker,
                receipts_root: r,
                count,
                tokens
            }
        ),
        (receipt(), receipt()).prop_map(|(a, b)| TxBody::FraudProof { a, b }),
        (0u32..7, any::<u128>()).prop_map(|(k, value)| TxBody::Propose {
            key: ParamKey::from_code(k).unwrap_or(ParamKey::EpochReward),
            value
        }),
        (any::<u64>(), any::<bool>()).prop_map(|(proposal, yes)| TxBody::Vote { proposal, yes }),
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
