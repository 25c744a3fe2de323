//! The lead desk's timers, one task per worker: route new leads every
//! `DESK_ROUTE_MILLIS`, look for unanswered leads past their escalation
//! deadline and for follow-ups coming due every `DESK_SWEEP_MILLIS`, and
//! remove the console's change feed's old rows and the access audit's
//! entries older than a year every minute. Every deadline and every
//! unrouted lead waits in the database, never in this task, so a restart
//! delays them by one tick at most and loses none; a failed round (the
//! database is down) is logged and tried again at the next tick.

use super::{escalate, follow_ups_due, route};
use sea_orm::DatabaseConnection;
use shared::config::DeskConfig;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often to route, and how often to sweep for escalations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cadence {
    pub route: Duration,
    pub sweep: Duration,
}

/// Runs both timers until `shutdown`.
pub(crate) async fn run(
    db: DatabaseConnection,
    desk: DeskConfig,
    cadence: Cadence,
    shutdown: CancellationToken,
) {
    let mut route_tick = tokio::time::interval(cadence.route);
    route_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep_tick = tokio::time::interval(cadence.sweep);
    sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
    prune_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = route_tick.tick() => route_all(&db, &desk, &shutdown).await,
            _ = sweep_tick.tick() => {
                match escalate::sweep(&db, &desk).await {
                    Ok(0) => {}
                    Ok(escalated) => tracing::info!(escalated, "escalated unanswered leads"),
                    Err(error) => tracing::warn!(%error, "escalation sweep failed; retrying at the next tick"),
                }
                match follow_ups_due::sweep(&db).await {
                    Ok(0) => {}
                    Ok(announced) => tracing::debug!(announced, "announced follow-ups due"),
                    Err(error) => tracing::warn!(%error, "follow-up sweep failed; retrying at the next tick"),
                }
            }
            _ = prune_tick.tick() => prune_changes(&db).await,
        }
    }
}

/// How often the change feed's old rows are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Removes the change feed's rows and the audit's entries older than they
/// are kept (every worker does; deleting what another already deleted
/// costs nothing).
async fn prune_changes(db: &DatabaseConnection) {
    let Ok(keep) = chrono::Duration::from_std(store::live::KEEP_FOR) else {
        return;
    };
    match store::live::remove_older_than(db, chrono::Utc::now() - keep).await {
        Ok(0) => {}
        Ok(removed) => tracing::debug!(removed, "removed old changes from the console's feed"),
        Err(error) => {
            tracing::warn!(%error, "removing old changes failed; trying again in a minute")
        }
    }
    // The audit of staff access is kept a year.
    let Ok(keep) = chrono::Duration::from_std(store::access_log::KEEP_FOR) else {
        return;
    };
    match store::access_log::remove_older_than(db, chrono::Utc::now() - keep).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed audit entries older than a year"),
        Err(error) => {
            tracing::warn!(%error, "removing old audit entries failed; trying again in a minute")
        }
    }
}

/// Routes rounds until none is full (a backlog of new leads goes at once).
async fn route_all(db: &DatabaseConnection, desk: &DeskConfig, shutdown: &CancellationToken) {
    while !shutdown.is_cancelled() {
        match route::route_pending(db, desk).await {
            Ok(routed) if routed as u64 == route::MAX_PER_ROUND => continue,
            Ok(_) => return,
            Err(error) => {
                tracing::debug!(%error, "a routing round failed; routing again at the next tick");
                return;
            }
        }
    }
}
