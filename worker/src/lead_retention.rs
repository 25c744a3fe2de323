//! Retention of leads (issue 24, `LEAD_RETENTION_DAYS`, off by default): a
//! lead with no activity for that long (neither seen from a partner nor
//! changed: a stage, an owner) and not won is erased with everything held
//! about its person, as an operator's erasure would
//! ([`crate::erase::erase_rows`]), recorded the same way under "retention
//! (LEAD_RETENTION_DAYS)". Their dead letters are left to their own,
//! shorter retention (the configuration insists on it). A few at a time,
//! each in its own transaction, so no lock is held for long.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use store::entities::leads;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Leads one pass looks at.
const PER_PASS: u64 = 50;

/// Who the erasures' record names.
const REQUESTED_BY: &str = "retention (LEAD_RETENTION_DAYS)";

/// Erases the leads idle since before `cutoff` and not won; how many.
pub(crate) async fn erase_idle(
    db: &DatabaseConnection,
    cutoff: DateTime<Utc>,
    shutdown: &CancellationToken,
) -> Result<u64, DbErr> {
    let mut erased = 0;
    while !shutdown.is_cancelled() {
        let idle: Vec<String> = leads::Entity::find()
            .select_only()
            .column(leads::Column::Phone)
            .filter(leads::Column::UpdatedAt.lt(cutoff))
            .filter(leads::Column::LastSeenAt.lt(cutoff))
            .filter(leads::Column::Stage.ne(shared::desk::Stage::Won.name()))
            .order_by_asc(leads::Column::UpdatedAt)
            .limit(PER_PASS)
            .into_tuple()
            .all(db)
            .await?;
        if idle.is_empty() {
            break;
        }
        for phone in &idle {
            let id = Uuid::now_v7();
            let request = shared::replies::EraseRequest {
                phone: phone.clone(),
                requested_by: REQUESTED_BY.into(),
                requested_at: Utc::now(),
            };
            crate::erase::erase_rows(db, phone, id, &request).await?;
            // Dead letters: left to DEAD_LETTER_RETENTION_DAYS.
            crate::erase::record_purged(db, id, 0).await?;
            erased += 1;
        }
        if (idle.len() as u64) < PER_PASS {
            break;
        }
    }
    Ok(erased)
}
