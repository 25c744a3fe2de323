//! Per-key request rate limits (GCRA, from `governor`), as the contracts
//! document them: per lead portal, and per client IP for CRM events.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

/// Keys tracked before idle ones are forgotten (bounds memory under a flood
/// of distinct client addresses).
const MAX_TRACKED_KEYS: usize = 10_000;

/// A limit of N requests per minute per key, or no limit.
pub(crate) struct PerMinute<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> PerMinute<K> {
    /// `per_minute` of 0 switches the limit off.
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// `Err(wait)` when `key` is over its limit: how long until it may retry.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED_KEYS {
            limiter.retain_recent();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_applies_per_key_and_zero_switches_it_off() {
        let limit = PerMinute::new(2);
        assert!(limit.check(&"a").is_ok());
        assert!(limit.check(&"a").is_ok());
        let wait = limit.check(&"a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limit.check(&"b").is_ok());
        let off = PerMinute::new(0);
        for _ in 0..1000 {
            assert!(off.check(&"a").is_ok());
        }
    }
}
