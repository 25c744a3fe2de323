//! Retention (issue 24), one task per worker: every `RETENTION_EVERY_SECS`,
//! raw bodies older than `RAW_BODY_RETENTION_DAYS` are dropped and entries
//! older than `LOG_RETENTION_DAYS` removed, in small batches
//! ([`store::retention`]) until none is left; dead letters older than
//! `DEAD_LETTER_RETENTION_DAYS` are purged ([`crate::dead_letter_retention`]);
//! and, when `LEAD_RETENTION_DAYS` is set, idle leads are erased
//! ([`crate::lead_retention`]). What is too old is found from the stored
//! times, so a restart only delays it by one round; a failed step (the
//! database or the broker is down) is logged and tried again at the next
//! round.

use crate::config::Retention;
use crate::metrics::{RetentionLabels, WorkerMetrics};
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use shared::config::BrokerConfig;
use std::future::Future;
use tokio_util::sync::CancellationToken;

/// Runs the rounds until `shutdown`.
pub(crate) async fn run(
    db: DatabaseConnection,
    broker: BrokerConfig,
    policy: Retention,
    metrics: WorkerMetrics,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(policy.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Dead letters and leads wait for the second round: a worker that
    // starts does not walk the dead-letter queues at once (a walk holds
    // their messages for its length, and starts come in bursts).
    let mut first = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = round(&db, policy, &metrics, &shutdown).await {
                    tracing::warn!(%error, "retention round failed; trying again at the next");
                }
                if !std::mem::take(&mut first) {
                    personal_data(&db, &broker, policy, &metrics, &shutdown).await;
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
    count(metrics, "webhook_bodies", bodies);
    count(metrics, "webhook_log_entries", entries);
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

/// Dead letters past their retention, then idle leads (when set): each
/// step on its own, so one failing leaves the other done.
async fn personal_data(
    db: &DatabaseConnection,
    broker: &BrokerConfig,
    policy: Retention,
    metrics: &WorkerMetrics,
    shutdown: &CancellationToken,
) {
    let now = Utc::now();
    let cutoff = days_before(now, policy.dead_letter_days);
    match crate::dead_letter_retention::purge_older_than(db, broker, cutoff, shutdown).await {
        Ok(0) => {}
        Ok(purged) => {
            count(metrics, "dead_letters", purged);
            tracing::info!(
                purged,
                days = policy.dead_letter_days,
                "retention: purged old dead letters"
            );
        }
        Err(error) => tracing::warn!(
            error = format!("{error:#}"),
            "purging old dead letters failed; trying again at the next round"
        ),
    }
    let Some(days) = policy.lead_days else {
        return;
    };
    match crate::lead_retention::erase_idle(db, days_before(now, days), shutdown).await {
        Ok(0) => {}
        Ok(erased) => {
            count(metrics, "leads", erased);
            tracing::info!(
                erased,
                days,
                "retention: erased leads idle past LEAD_RETENTION_DAYS"
            );
        }
        Err(error) => {
            tracing::warn!(%error, "erasing idle leads failed; trying again at the next round")
        }
    }
}

fn count(metrics: &WorkerMetrics, removed: &'static str, n: u64) {
    metrics
        .retention_removed
        .get_or_create(&RetentionLabels { removed })
        .inc_by(n);
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
