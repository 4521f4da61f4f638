//! Addresses and amounts.

use std::fmt;

/// An account address: the account's ed25519 public key. Ordered by its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The lowest address (all zero bytes), for range scans of maps keyed by address pairs.
    pub const MIN: Address = Address([0; 32]);
    /// The highest address (all 0xff bytes).
    pub const MAX: Address = Address([255; 32]);
}

impl Ord for Address {
    /// The bytes' lexicographic order, compared as four big-endian words: the state's maps
    /// compare addresses on every lookup, and the derived order called `memcmp` each time.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let words = |a: &[u8; 32]| -> [u64; 4] {
            std::array::from_fn(|i| u64::from_be_bytes(a[i * 8..i * 8 + 8].try_into().unwrap_or_default()))
        };
        words(&self.0).cmp(&words(&other.0))
    }
}

impl PartialOrd for Address {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(&self.0[..8]))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", hex::encode(self.0))
    }
}

/// A token amount in base units. Arithmetic is checked; there are no floats.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, serde::Serialize, serde::Deserialize,
)]
pub struct Amount(pub u128);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// `self + rhs`, or `None` on overflow.
    pub fn checked_add(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_add(rhs.0).map(Amount)
    }

    /// `self - rhs`, or `None` if it would be negative.
    pub fn checked_sub(self, rhs: Amount) -> Option<Amount> {
        self.0.checked_sub(rhs.0).map(Amount)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `floor(a * b / c)` computed exactly with a 256-bit intermediate; `c` must be non-zero.
/// Returns `None` if the result does not fit in a u128.
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return Some(p / c);
    }
    // 256-bit product as (hi, lo) from 64-bit limbs.
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    if hi >= c {
        return None;
    }
    // Long division of (hi, lo) by c, one bit at a time.
    let mut rem = hi;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            q |= 1;
        }
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_div_matches_small_and_handles_wide() {
        assert_eq!(mul_div(7, 9, 4), Some(15));
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 2, 4), Some(u128::MAX / 2));
        assert_eq!(mul_div(1 << 100, 1 << 100, 1 << 90), Some(1 << 110));
        assert_eq!(mul_div(u128::MAX, 2, 1), None);
        assert_eq!(mul_div(1, 1, 0), None);
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn addresses_order_as_their_bytes(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), at in 0usize..32) {
            prop_assert_eq!(Address(a).cmp(&Address(b)), a.cmp(&b));
            // Differing in one byte only, at any position.
            let mut c = a;
            c[at] = c[at].wrapping_add(1);
            prop_assert_eq!(Address(a).cmp(&Address(c)), a.cmp(&c));
            prop_assert_eq!(Address(a).cmp(&Address(a)), std::cmp::Ordering::Equal);
        }
    }
}
