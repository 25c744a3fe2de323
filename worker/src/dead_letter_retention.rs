//! Retention of dead letters (issue 24): a dead letter whose last failure
//! is older than `DEAD_LETTER_RETENTION_DAYS` is purged from its source's
//! dead-letter queue, and what went is recorded in `dead_letter_purges`:
//! how many, by source and reason, never a body or an id. A dead letter
//! purged but not yet recorded when the worker dies is only missing from
//! the record; one not purged waits for the next round.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use shared::broker::{DeadLetterQueues, Disposition};
use shared::config::BrokerConfig;
use std::collections::BTreeMap;
use store::entities::dead_letter_purges;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Longest reason kept in the record.
const MAX_REASON_CHARS: usize = 500;

/// Purges the dead letters that last failed before `cutoff`, in every
/// source's queue, and records them; how many.
pub(crate) async fn purge_older_than(
    db: &DatabaseConnection,
    broker: &BrokerConfig,
    cutoff: DateTime<Utc>,
    shutdown: &CancellationToken,
) -> anyhow::Result<u64> {
    let queues = DeadLetterQueues::connect(broker).await?;
    let filters = dead_letters::Filters {
        until: Some(cutoff),
        ..Default::default()
    };
    let mut went: BTreeMap<(String, String), i64> = BTreeMap::new();
    let applied = dead_letters::apply(
        &queues,
        &filters,
        Disposition::Purge,
        None,
        |progress| {
            if let dead_letters::Progress::Moved(summary) = progress {
                let reason: String = summary.reason.chars().take(MAX_REASON_CHARS).collect();
                *went
                    .entry((summary.source.name().to_owned(), reason))
                    .or_default() += 1;
            }
        },
        shutdown,
    )
    .await;
    queues.close().await;
    let tally = applied?;
    if !went.is_empty() {
        let now = Utc::now();
        let rows =
            went.into_iter().map(
                |((source, reason), count)| dead_letter_purges::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    purged_at: Set(now),
                    source: Set(source),
                    reason: Set(reason),
                    count: Set(count),
                },
            );
        dead_letter_purges::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    if tally.failed > 0 {
        anyhow::bail!(
            "{} dead letters could not be purged (they wait for the next round)",
            tally.failed
        );
    }
    Ok(tally.moved)
}
