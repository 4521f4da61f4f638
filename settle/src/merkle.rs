//! The Merkle root over a set of receipts, as workers claim it and routers attest it.
//!
//! Leaves are `sha256(0x00 ‖ receipt signing bytes)` (the worker-signed bytes, so the worker's
//! copy and the router's countersigned copy give the same leaf), sorted and deduplicated, so the
//! root depends only on the set. Inner nodes are `sha256(0x01 ‖ left ‖ right)`; an odd node is
//! carried up unchanged. The empty set's root is all zeros.

use sha2::{Digest, Sha256};
use wick_proto::signing::receipt_bytes;
use wick_proto::v1::SignedReceipt;

/// Root over the receipts' leaves.
pub fn receipts_root(receipts: &[SignedReceipt]) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = receipts
        .iter()
        .filter_map(|s| s.receipt.as_ref())
        .map(|r| Sha256::new().chain_update([0u8]).chain_update(receipt_bytes(r)).finalize().into())
        .collect();
    level.sort_unstable();
    level.dedup();
    if level.is_empty() {
        return [0; 32];
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => Sha256::new().chain_update([1u8]).chain_update(l).chain_update(r).finalize().into(),
                [one] => *one,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use wick_proto::v1::Receipt;

    fn r(tokens_out: u32) -> SignedReceipt {
        SignedReceipt { receipt: Some(Receipt { tokens_out, ..Default::default() }), ..Default::default() }
    }

    #[test]
    fn root_depends_on_the_set_only() {
        let a = receipts_root(&[r(1), r(2), r(3)]);
        assert_eq!(a, receipts_root(&[r(3), r(1), r(2), r(2)]));
        assert_ne!(a, receipts_root(&[r(1), r(2)]));
        assert_ne!(a, receipts_root(&[r(1), r(2), r(4)]));
        assert_eq!(receipts_root(&[]), [0; 32]);
        // A countersignature does not change the leaf.
        let mut signed = r(1);
        signed.router_signature = vec![9; 64];
        assert_eq!(receipts_root(&[signed]), receipts_root(&[r(1)]));
    }
}
