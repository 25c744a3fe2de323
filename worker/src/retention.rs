//! Retention of the webhook log (issue 24), one task per worker: every
//! `RETENTION_EVERY_SECS`, raw bodies older than `RAW_BODY_RETENTION_DAYS`
//! are dropped and entries older than `LOG_RETENTION_DAYS` removed, in
//! small batches ([`store::retention`]) until none is left. What is too
//! old is found from the stored times, so a restart only delays it by one
//! round; a failed round (the database is down) is logged and tried again
//! at the next.

use crate::config::Retention;
use crate::metrics::{RetentionLabels, WorkerMetrics};
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use std::future::Future;
use tokio_util::sync::CancellationToken;

/// Runs the rounds until `shutdown`.
pub(crate) async fn run(
    db: DatabaseConnection,
    policy: Retention,
    metrics: WorkerMetrics,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(policy.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = round(&db, policy, &metrics, &shutdown).await {
                    tracing::warn!(%error, "retention round failed; trying again at the next");
                }
            }
        }
    }
}

/// One round: bodies first, then entries.
async fn round(
    db: &DatabaseConnection,
    policy: Retention,
    metrics: &WorkerMetrics,
    shutdown: &CancellationToken,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let bodies = drain(shutdown, days_before(now, policy.raw_body_days), |cutoff| {
        store::retention::drop_bodies(db, cutoff)
    })
    .await?;
    let entries = drain(shutdown, days_before(now, policy.log_days), |cutoff| {
        store::retention::remove_entries(db, cutoff)
    })
    .await?;
    for (removed, count) in [("webhook_bodies", bodies), ("webhook_log_entries", entries)] {
        metrics
            .retention_removed
            .get_or_create(&RetentionLabels { removed })
            .inc_by(count);
    }
    if bodies + entries > 0 {
        tracing::info!(
            bodies_dropped = bodies,
            entries_removed = entries,
            raw_body_days = policy.raw_body_days,
            log_days = policy.log_days,
            "retention: dropped old webhook bodies and removed old log entries"
        );
    }
    Ok(())
}

/// Repeats `batch` until it handles less than a full batch (or the worker
/// stops); the total.
async fn drain<F, Fut>(
    shutdown: &CancellationToken,
    cutoff: DateTime<Utc>,
    batch: F,
) -> Result<u64, DbErr>
where
    F: Fn(DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<u64, DbErr>>,
{
    let mut total = 0;
    while !shutdown.is_cancelled() {
        let done = batch(cutoff).await?;
        total += done;
        if done < store::retention::BATCH {
            break;
        }
    }
    Ok(total)
}

fn days_before(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(days))
}
