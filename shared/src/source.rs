//! The partners whose webhooks we receive. Each source has its own queues, so
//! one partner's flood or poison messages never delay another's.

use std::fmt;
use std::str::FromStr;

/// A webhook source. Its [`Source::name`] is the routing key and part of
/// every queue name, so it must never change once deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Tata dealer call events (`POST /api/webhook/`).
    TataCalls,
}

impl Source {
    /// Every source, for declaring topology and consuming all queues.
    pub const ALL: &'static [Source] = &[Source::TataCalls];

    /// The stable wire name: routing key, queue-name part, `x-source` header.
    pub fn name(self) -> &'static str {
        match self {
            Source::TataCalls => "tata_calls",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name did not match any known source.
#[derive(Debug, thiserror::Error)]
#[error("unknown source {0:?}")]
pub struct UnknownSource(pub String);

impl FromStr for Source {
    type Err = UnknownSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .iter()
            .copied()
            .find(|source| source.name() == s)
            .ok_or_else(|| UnknownSource(s.to_owned()))
    }
}
