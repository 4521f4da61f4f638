//! The rate bound of mempool gossip. `RelayTxs` is open to anyone who reaches the ledger's
//! port (a full node relays too, and holds no stake to check), and every relayed transaction
//! costs a signature check; so each source address gets a token bucket of transactions: a
//! burst of [`RELAY_BURST`] at most, refilled at the node's rate. A message past its sender's
//! budget is refused whole, before anything in it is decoded.
//!
//! Sources are told apart by IP address (an IPv6 one by its /64, the block one host is
//! given): a flooder that reconnects, or hops addresses within its block, keeps its bucket.
//! Peers behind one address (or on one loopback host) share one bucket. The total is bounded
//! elsewhere (the intake queue drops relayed transactions when full); the buckets keep one
//! source from taking all of it. The table of buckets is bounded; full (idle) buckets make room
//! first, and when every one is in use a new source is refused until one refills.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Default relayed transactions per second one source address may send.
pub const DEFAULT_RELAY_RATE: u32 = 20_000;

/// Transactions a source may relay at once after being idle: four full relay messages.
pub const RELAY_BURST: u32 = 4 * super::MAX_RELAY_TXS as u32;

/// Source addresses tracked at once.
const MAX_SOURCES: usize = 4_096;

/// Why a relay message was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RelayRefused {
    /// The sender relayed more than its rate allows.
    #[error(
        "relay rate bound: at most {rate} transactions/s (bursts of {burst}) per source address; \
         retry in {} ms",
        retry_after.as_millis()
    )]
    Rate {
        /// The bound, per second.
        rate: u32,
        /// The bucket's size.
        burst: u32,
        /// When the message would fit.
        retry_after: Duration,
    },
    /// Every slot of the source table is taken by an active relayer.
    #[error("too many sources are relaying at once ({MAX_SOURCES}); retry later")]
    TooManySources,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Its tokens at `now`: refilled at `rate` a second since `at`, up to `burst`.
    fn level(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(burst)
    }
}

/// Token buckets of relayed transactions, one per source address.
pub struct RelayLimit {
    rate: f64,
    burst: f64,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RelayLimit {
    /// Buckets refilled at `rate` transactions per second (at least 1).
    pub fn new(rate: u32) -> Self {
        Self { rate: f64::from(rate.max(1)), burst: f64::from(RELAY_BURST), buckets: HashMap::new() }
    }

    /// Takes `n` transactions from `source`'s bucket, or refuses the whole message.
    pub fn admit(&mut self, source: IpAddr, n: usize, now: Instant) -> Result<(), RelayRefused> {
        let key = block_of(source);
        if !self.buckets.contains_key(&key) && self.buckets.len() >= MAX_SOURCES {
            self.forget_idle(now);
            if self.buckets.len() >= MAX_SOURCES {
                return Err(RelayRefused::TooManySources);
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let b = self.buckets.entry(key).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = b.level(now, rate, burst);
        b.at = now;
        let n = n as f64;
        if n <= b.tokens {
            b.tokens -= n;
            return Ok(());
        }
        // A message larger than the burst never fits; the caller bounds messages below it.
        let missing = (n.min(burst) - b.tokens).max(0.0);
        Err(RelayRefused::Rate {
            rate: self.rate as u32,
            burst: self.burst as u32,
            retry_after: Duration::from_secs_f64(missing / rate),
        })
    }

    /// Drops buckets that have refilled: their sources start again from a full bucket anyway.
    fn forget_idle(&mut self, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        self.buckets.retain(|_, b| b.level(now, rate, burst) < burst);
    }
}

/// The bucket's key of `ip`: an IPv4 address (also when mapped into IPv6), or an IPv6 /64.
fn block_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_the_bucket_refills() {
        let mut limit = RelayLimit::new(1_000);
        let t = Instant::now();
        for _ in 0..4 {
            assert_eq!(limit.admit(ip(1), 1024, t), Ok(()));
        }
        let refused = limit.admit(ip(1), 1024, t).expect_err("past the burst");
        assert!(
            matches!(refused, RelayRefused::Rate { retry_after, .. } if retry_after > Duration::from_millis(1000))
        );
        assert!(refused.to_string().contains("1000 transactions/s"), "{refused}");
        // Another source has its own bucket.
        assert_eq!(limit.admit(ip(2), 1024, t), Ok(()));
        // One second refills 1000: a message of 1000 fits, one more does not.
        let later = t + Duration::from_secs(1);
        assert_eq!(limit.admit(ip(1), 1000, later), Ok(()));
        assert!(limit.admit(ip(1), 1, later).is_err());
        // Refilling stops at the burst.
        let idle = t + Duration::from_secs(3600);
        assert_eq!(limit.admit(ip(1), RELAY_BURST as usize, idle), Ok(()));
        assert!(limit.admit(ip(1), 1, idle).is_err());
    }

    #[test]
    fn a_refused_message_takes_nothing_from_the_bucket() {
        let mut limit = RelayLimit::new(100);
        let t = Instant::now();
        assert_eq!(limit.admit(ip(1), RELAY_BURST as usize - 10, t), Ok(()));
        assert!(limit.admit(ip(1), 11, t).is_err());
        assert_eq!(limit.admit(ip(1), 10, t), Ok(()), "the refused 11 were not taken");
    }

    #[test]
    fn the_source_table_is_bounded_and_idle_sources_make_room() {
        let mut limit = RelayLimit::new(1);
        let t = Instant::now();
        for i in 0..MAX_SOURCES {
            let source = IpAddr::from((i as u32 + 1).to_be_bytes());
            assert_eq!(limit.admit(source, 1, t), Ok(()));
        }
        assert_eq!(limit.admit(ip(0), 1, t), Err(RelayRefused::TooManySources));
        // Known sources still relay.
        assert_eq!(limit.admit(IpAddr::from(1u32.to_be_bytes()), 1, t), Ok(()));
        // Once buckets refill, they are forgotten for a new source.
        assert_eq!(limit.admit(ip(0), 1, t + Duration::from_secs(10)), Ok(()));
        assert!(limit.buckets.len() <= 2);
    }

    #[test]
    fn an_ipv6_flooder_cannot_hop_addresses_within_its_64() {
        let mut limit = RelayLimit::new(1);
        let t = Instant::now();
        let host = |low: u64| {
            IpAddr::from(std::net::Ipv6Addr::from((0x2001_0db8_0000_0001u128 << 64) | u128::from(low)))
        };
        assert_eq!(limit.admit(host(1), RELAY_BURST as usize, t), Ok(()));
        assert!(limit.admit(host(2), 1, t).is_err(), "another address of the same /64");
        let other_block = IpAddr::from(std::net::Ipv6Addr::from(0x2001_0db8_0000_0002u128 << 64));
        assert_eq!(limit.admit(other_block, 1, t), Ok(()));
        // An IPv4-mapped address is its IPv4 one.
        assert_eq!(limit.admit(ip(9), RELAY_BURST as usize, t), Ok(()));
        let mapped = IpAddr::from(std::net::Ipv4Addr::new(10, 0, 0, 9).to_ipv6_mapped());
        assert!(limit.admit(mapped, 1, t).is_err());
    }
}
