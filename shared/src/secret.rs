//! A wrapper that keeps secrets (passwords in URLs, API keys) out of logs and
//! `Debug` output, and compares them in constant time.

use std::fmt;
use subtle::ConstantTimeEq;

/// A value that must never be printed. `Debug` and `Display` show
/// `[redacted]`; read the value with [`Secret::expose`] only where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value read from the environment.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The wrapped value: call it only at the point of use, never to log.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One or more accepted values of a shared secret, so a partner's key can be
/// rotated without downtime: the old and the new value are accepted together.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretList(Vec<Secret<String>>);

impl SecretList {
    /// Parses a comma-separated list; blank entries are ignored. `None` when
    /// no value remains, so an empty variable never means "any key".
    pub fn parse(raw: &str) -> Option<Self> {
        let values: Vec<_> = raw
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(v.to_owned()))
            .collect();
        (!values.is_empty()).then_some(Self(values))
    }

    /// Every accepted value (for HMAC keys, which are used, not compared).
    pub fn values(&self) -> impl Iterator<Item = &Secret<String>> {
        self.0.iter()
    }

    /// True when `candidate` equals one of the accepted values. Every value is
    /// compared, in constant time, so timing tells nothing about which matched
    /// or how much of a value matched.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.position(candidate).is_some()
    }

    /// Which accepted value `candidate` equals (0 for the first), so logs
    /// can say which key a partner used without naming it. Every value is
    /// compared, in constant time.
    pub fn position(&self, candidate: &[u8]) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .fold(None, |found, (index, secret)| {
                let equal = bool::from(secret.expose().as_bytes().ct_eq(candidate));
                found.or(equal.then_some(index))
            })
    }

    /// How many values are accepted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: a list holds at least one value (see [`SecretList::parse`]).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} redacted value(s)]", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        let list = SecretList::parse("key-one,key-two").unwrap();
        assert!(!format!("{list:?}").contains("key-"));
    }

    #[test]
    fn rotated_keys_are_all_accepted_and_nothing_else() {
        let list = SecretList::parse(" old-key , new-key ,").unwrap();
        assert!(list.matches(b"old-key"));
        assert!(list.matches(b"new-key"));
        assert!(!list.matches(b"new-ke"));
        assert!(!list.matches(b""));
        assert!(SecretList::parse(" , ").is_none());
    }
}
