//! Failed sign-ins are throttled per user name and per client address:
//! after too many failures in a window, further attempts are refused
//! without checking the password, until the window has passed.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per user name within the window.
pub const PER_USER: usize = 5;
/// Failures allowed per client address within the window.
pub const PER_ADDRESS: usize = 20;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys remembered at most (the oldest are forgotten first): bounded memory
/// whatever an attacker sends.
const MAX_KEYS: usize = 10_000;

/// What a failure is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

/// Recent failures, per key.
#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

impl SignInThrottle {
    /// `Some(wait)` when `user` or `address` has failed too often lately.
    pub fn blocked(&self, user: &str, address: IpAddr) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let keys = [
            (Key::User(user.to_lowercase()), PER_USER),
            (Key::Address(address), PER_ADDRESS),
        ];
        keys.into_iter()
            .filter_map(|(key, limit)| {
                let times = failures.get_mut(&key)?;
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > WINDOW)
                {
                    times.pop_front();
                }
                (times.len() >= limit)
                    .then(|| {
                        times
                            .front()
                            .map(|t| WINDOW.saturating_sub(now.duration_since(*t)))
                    })
                    .flatten()
            })
            .max()
    }

    /// Counts a failed sign-in.
    pub fn failed(&self, user: &str, address: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_KEYS {
            let now = Instant::now();
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) <= WINDOW)
            });
            if failures.len() >= MAX_KEYS {
                failures.clear();
            }
        }
        for key in [Key::User(user.to_lowercase()), Key::Address(address)] {
            let times = failures.entry(key).or_default();
            times.push_back(Instant::now());
            if times.len() > PER_ADDRESS {
                times.pop_front();
            }
        }
    }

    /// A successful sign-in clears the user's failures (not the address's).
    pub fn succeeded(&self, user: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&Key::User(user.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_blocked_after_five_failures_and_others_are_not() {
        let throttle = SignInThrottle::default();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let there: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..PER_USER {
            assert!(throttle.blocked("asha", here).is_none());
            throttle.failed("asha", here);
        }
        assert!(
            throttle.blocked("Asha", there).is_some(),
            "per user, any address"
        );
        assert!(throttle.blocked("ravi", there).is_none());
        throttle.succeeded("asha");
        assert!(throttle.blocked("asha", there).is_none());
    }

    #[test]
    fn an_address_is_blocked_after_twenty_failures_across_users() {
        let throttle = SignInThrottle::default();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        for n in 0..PER_ADDRESS {
            throttle.failed(&format!("user{n}"), here);
        }
        assert!(throttle.blocked("someone-new", here).is_some());
    }
}
