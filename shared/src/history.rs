//! A message's failure history, carried with it in a header: every retry,
//! dead-lettering and replay, so an operator reading a dead letter sees the
//! whole story, and a replayed message that fails again keeps it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Entries kept; beyond it the oldest after the first are dropped, so the
/// header stays small and the first failure stays known.
pub const MAX_ENTRIES: usize = 50;

/// What happened to the message at one point of its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A worker sent it to a retry queue.
    Retry,
    /// A worker sent it to the dead-letter queue.
    DeadLetter,
    /// The broker dead-lettered it (it kept crashing workers).
    DeliveryLimit,
    /// An operator replayed it from the dead-letter queue.
    Replayed,
}

/// One entry of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// What happened.
    pub event: Event,
    /// Why (empty for a replay).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl Entry {
    /// An entry stamped now.
    pub fn now(event: Event, reason: impl Into<String>) -> Self {
        Self::at(Utc::now(), event, reason)
    }

    /// An entry at a given time.
    pub fn at(at: DateTime<Utc>, event: Event, reason: impl Into<String>) -> Self {
        Self {
            at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            event,
            reason: reason.into(),
        }
    }

    /// The entry's time, if it parses.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.at)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// A failure (not a replay).
    pub fn is_failure(&self) -> bool {
        self.event != Event::Replayed
    }
}

/// Reads a history header; an unreadable one reads as empty rather than
/// hiding the message.
pub fn parse(raw: &str) -> Vec<Entry> {
    serde_json::from_str(raw).unwrap_or_default()
}

/// The history header with `entry` appended.
pub fn append(raw: Option<&str>, entry: Entry) -> String {
    let mut entries = raw.map(parse).unwrap_or_default();
    entries.push(entry);
    if entries.len() > MAX_ENTRIES {
        let excess = entries.len() - MAX_ENTRIES;
        entries.drain(1..=excess);
    }
    serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_keeps_the_first_entry_and_a_bounded_tail() {
        let mut raw = None;
        for n in 0..(MAX_ENTRIES + 10) {
            raw = Some(append(
                raw.as_deref(),
                Entry::now(Event::Retry, format!("r{n}")),
            ));
        }
        let entries = parse(raw.as_deref().unwrap());
        assert_eq!(entries.len(), MAX_ENTRIES);
        assert_eq!(entries[0].reason, "r0");
        assert_eq!(
            entries.last().unwrap().reason,
            format!("r{}", MAX_ENTRIES + 9)
        );
        assert!(entries[0].time().is_some());
    }

    #[test]
    fn garbage_reads_as_no_history() {
        assert!(parse("not json").is_empty());
        assert_eq!(
            parse(&append(Some("nonsense"), Entry::now(Event::Replayed, ""))).len(),
            1
        );
    }
}
