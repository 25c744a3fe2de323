//! The operators' dead-letter tool: what is in the dead-letter queues and
//! why, and getting it processed once the cause is fixed.
//!
//! Everything goes through [`shared::broker::DeadLetterQueues`], which never
//! removes a message unless it is acked, and acks a replayed one only after
//! its copy is confirmed on the work queue. So any run can be interrupted
//! and run again: nothing is lost, and a message replayed twice is applied
//! once (the workers recognise its ingest id).

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::Source;
use shared::broker::{
    DeadLetter, DeadLetterQueues, Disposition, HEADER_DEAD_LETTERED_AT, HEADER_HISTORY,
    HEADER_REASON,
};
use shared::history::{self, Entry, Event};
use std::collections::HashSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Which dead letters a command applies to. Empty lists match everything.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Only these sources' queues.
    pub sources: Vec<Source>,
    /// Only messages whose last reason contains this text (any case).
    pub reason: Option<String>,
    /// Only messages whose last failure is at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only messages whose last failure is before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only these ingest ids.
    pub ids: Vec<Uuid>,
}

impl Filters {
    /// The queues to read.
    pub fn sources(&self) -> Vec<Source> {
        if self.sources.is_empty() {
            Source::ALL.to_vec()
        } else {
            self.sources.clone()
        }
    }

    /// True when the message is selected.
    pub fn matches(&self, summary: &Summary) -> bool {
        let reason = self.reason.as_ref().is_none_or(|needle| {
            summary
                .reason
                .to_lowercase()
                .contains(&needle.to_lowercase())
        });
        let since = self
            .since
            .is_none_or(|since| summary.last_failed_at.is_some_and(|t| t >= since));
        let until = self
            .until
            .is_none_or(|until| summary.last_failed_at.is_some_and(|t| t < until));
        let id = self.ids.is_empty() || summary.ingest_id.is_some_and(|id| self.ids.contains(&id));
        reason && since && until && id
    }
}

/// A dead letter as an operator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The id the edge gave the webhook (also its webhook-log id).
    pub ingest_id: Option<Uuid>,
    /// Its source.
    #[serde(serialize_with = "source_name")]
    pub source: Source,
    /// Why it was dead-lettered, last time.
    pub reason: String,
    /// Failures so far (retries, dead-letterings, broker delivery limits).
    pub attempts: usize,
    /// When it first failed.
    pub first_failed_at: Option<DateTime<Utc>>,
    /// When it last failed.
    pub last_failed_at: Option<DateTime<Utc>>,
    /// When the edge received it.
    pub received_at: Option<DateTime<Utc>>,
    /// Everything that happened to it, oldest first.
    pub history: Vec<Entry>,
}

fn source_name<S: serde::Serializer>(source: &Source, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(source.name())
}

/// The failure history of a dead letter: the workers' entries, plus what
/// the broker itself recorded (`x-death`) when it dead-lettered a message
/// that kept crashing workers.
pub fn history_of(message: &DeadLetter) -> Vec<Entry> {
    let mut entries = message
        .headers
        .get(HEADER_HISTORY)
        .and_then(|v| v.as_str())
        .map(history::parse)
        .unwrap_or_default();
    if let Some(deaths) = message.headers.get("x-death").and_then(|v| v.as_array()) {
        for death in deaths {
            let reason = death.get("reason").and_then(|v| v.as_str()).unwrap_or("");
            // Expiry is a retry queue's delay ending, not a failure.
            if reason == "expired" || reason.is_empty() {
                continue;
            }
            let queue = death.get("queue").and_then(|v| v.as_str()).unwrap_or("?");
            let count = death.get("count").and_then(|v| v.as_i64()).unwrap_or(1);
            let at = death
                .get("time")
                .and_then(|v| v.as_str())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(Utc::now);
            let why = if reason == "delivery_limit" {
                "redelivered too many times (it may crash workers)".to_owned()
            } else {
                reason.to_owned()
            };
            entries.push(Entry::at(
                at,
                Event::DeliveryLimit,
                format!("the broker dead-lettered it from {queue}: {why} ({count} time(s))"),
            ));
        }
    }
    if entries.is_empty() {
        // Dead-lettered before histories existed: the last reason header.
        let reason = message.headers.get(HEADER_REASON).and_then(|v| v.as_str());
        let at = message
            .headers
            .get(HEADER_DEAD_LETTERED_AT)
            .and_then(|v| v.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if let (Some(reason), Some(at)) = (reason, at) {
            entries.push(Entry::at(at.with_timezone(&Utc), Event::DeadLetter, reason));
        }
    }
    entries.sort_by_key(|entry| entry.time());
    entries
}

/// Reads a dead letter's reason, attempts and times from its headers.
pub fn summarize(message: &DeadLetter) -> Summary {
    let history = history_of(message);
    let failures: Vec<&Entry> = history.iter().filter(|e| e.is_failure()).collect();
    let reason = failures
        .last()
        .map(|e| e.reason.clone())
        .or_else(|| {
            message
                .headers
                .get(HEADER_REASON)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown (no reason recorded)".into());
    Summary {
        ingest_id: message.ingest_id,
        source: message.source,
        reason,
        attempts: failures.len().max(1),
        first_failed_at: failures.first().and_then(|e| e.time()),
        last_failed_at: failures.last().and_then(|e| e.time()),
        received_at: message.envelope.as_ref().map(|e| e.received_at),
        history,
    }
}

/// Every dead letter the filters select, oldest failure first.
pub async fn list(queues: &DeadLetterQueues, filters: &Filters) -> anyhow::Result<Vec<Summary>> {
    let mut all = Vec::new();
    for source in filters.sources() {
        for message in queues.browse(source).await? {
            let summary = summarize(&message);
            if filters.matches(&summary) {
                all.push(summary);
            }
        }
    }
    all.sort_by_key(|s| s.last_failed_at);
    Ok(all)
}

/// One dead letter by ingest id, with its summary.
pub async fn show(
    queues: &DeadLetterQueues,
    sources: &[Source],
    id: Uuid,
) -> anyhow::Result<Option<(DeadLetter, Summary)>> {
    for &source in sources {
        for message in queues.browse(source).await? {
            if message.ingest_id == Some(id) {
                let summary = summarize(&message);
                return Ok(Some((message, summary)));
            }
        }
    }
    Ok(None)
}

/// What a replay or purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Replayed onto a work queue (or deleted, for a purge).
    pub moved: u64,
    /// Not selected by the filters: left in place.
    pub skipped: u64,
    /// Selected, but the broker refused the copy (for example a full work
    /// queue): left in place, to try again.
    pub failed: u64,
}

/// One message's result, for progress output.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Looked at, not selected.
    Skipped,
    /// Replayed or purged.
    Moved(&'a Summary),
    /// Could not be replayed or purged; still in the dead-letter queue.
    Failed(&'a Summary, String),
}

/// Replays (or, with `purge`, deletes) every dead letter the filters select
/// and, if `only` is given, whose ingest id is in it. Stops cleanly when
/// `stop` is cancelled; whatever it had not finished stays in the
/// dead-letter queue.
pub async fn apply(
    queues: &DeadLetterQueues,
    filters: &Filters,
    disposition: Disposition,
    only: Option<&HashSet<Uuid>>,
    mut progress: impl FnMut(Progress<'_>),
    stop: &CancellationToken,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    for source in filters.sources() {
        if stop.is_cancelled() {
            break;
        }
        let mut skipped = 0u64;
        queues
            .sweep(
                source,
                |message| {
                    let summary = summarize(message);
                    let selected = filters.matches(&summary)
                        // A message without an ingest id cannot have been
                        // named, so the filters alone decide for it.
                        && only.is_none_or(|ids| summary.ingest_id.is_none_or(|id| ids.contains(&id)));
                    if selected {
                        disposition
                    } else {
                        skipped += 1;
                        Disposition::Keep
                    }
                },
                |message, _, result| {
                    let summary = summarize(message);
                    match result {
                        Ok(()) => {
                            tally.moved += 1;
                            progress(Progress::Moved(&summary));
                        }
                        Err(error) => {
                            tally.failed += 1;
                            progress(Progress::Failed(&summary, format!("{error:#}")));
                        }
                    }
                },
                stop,
            )
            .await?;
        tally.skipped += skipped;
        for _ in 0..skipped {
            progress(Progress::Skipped);
        }
    }
    Ok(tally)
}

/// Parses a time for `--since`/`--until`: RFC 3339, or a duration ago
/// (`90m`, `2h`, `7d`).
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(time.with_timezone(&Utc));
    }
    let ago = humantime::parse_duration(raw).map_err(|_| {
        format!(
            "{raw:?} is neither an RFC 3339 time (2026-01-31T09:30:00Z) nor a duration ago (2h, 7d)"
        )
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| format!("{raw:?} is too far back"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_absolute_or_ago() {
        let t = parse_time("2026-01-31T09:30:00+05:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-31T04:00:00+00:00");
        let ago = Utc::now() - parse_time("2h").unwrap();
        assert!((ago.num_minutes() - 120).abs() <= 1);
        assert!(parse_time("yesterday-ish").is_err());
    }

    fn summary(reason: &str, last: &str, id: Uuid) -> Summary {
        Summary {
            ingest_id: Some(id),
            source: Source::TataCalls,
            reason: reason.into(),
            attempts: 1,
            first_failed_at: None,
            last_failed_at: Some(parse_time(last).unwrap()),
            received_at: None,
            history: vec![],
        }
    }

    #[test]
    fn filters_combine() {
        let id = Uuid::now_v7();
        let s = summary("Database refused the write: FK", "2026-01-02T00:00:00Z", id);
        assert!(Filters::default().matches(&s));
        let by_reason = Filters {
            reason: Some("refused".into()),
            ..Default::default()
        };
        assert!(by_reason.matches(&s));
        let window = Filters {
            since: Some(parse_time("2026-01-01T00:00:00Z").unwrap()),
            until: Some(parse_time("2026-01-02T00:00:00Z").unwrap()),
            ..Default::default()
        };
        assert!(!window.matches(&s), "until is exclusive");
        let other_id = Filters {
            ids: vec![Uuid::now_v7()],
            ..Default::default()
        };
        assert!(!other_id.matches(&s));
    }
}
