//! Decodes a signed ledger transaction from untrusted bytes: must never panic, and whatever
//! decodes must re-encode to exactly the same bytes (one encoding, so one transaction hash).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wick_staking::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = wire::decode(data) {
        assert_eq!(wire::encode(&tx), data, "decoded bytes must be canonical");
        // Touch what a node does next with a decoded transaction; none of it may panic.
        let _ = tx.tx.signing_bytes();
        let _ = tx.tx.touched();
        let _ = tx.verify();
    }
});
