//! Retention of the webhook log (issue 24): a raw body is dropped once it
//! is older than `RAW_BODY_RETENTION_DAYS`, and an entry with its reason
//! history is removed once older than `LOG_RETENTION_DAYS`. Each call does
//! one small batch, oldest first, in statements of their own, so no lock is
//! held for long and a drain is never kept waiting; the caller repeats it
//! until less than a batch is left. Several workers running it at once
//! only share the work.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::entities::{webhook_log, webhook_log_events};

/// Entries one call handles at most.
pub const BATCH: u64 = 500;

/// Drops the bodies of up to [`BATCH`] entries received before `cutoff`
/// (their metadata stays); how many.
pub async fn drop_bodies(db: &impl ConnectionTrait, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    use webhook_log::Column as C;
    let ids: Vec<Uuid> = webhook_log::Entity::find()
        .select_only()
        .column(C::IngestId)
        .filter(C::ReceivedAt.lt(cutoff))
        .filter(C::BodyDroppedAt.is_null())
        .order_by_asc(C::ReceivedAt)
        .limit(BATCH)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(webhook_log::Entity::update_many()
        .col_expr(C::Body, Expr::value(""))
        .col_expr(C::BodyDroppedAt, Expr::value(Utc::now()))
        .filter(C::IngestId.is_in(ids))
        .filter(C::BodyDroppedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Removes up to [`BATCH`] entries received before `cutoff`, with their
/// reason histories, in one transaction; how many entries.
pub async fn remove_entries(db: &DatabaseConnection, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    let ids: Vec<Uuid> = webhook_log::Entity::find()
        .select_only()
        .column(webhook_log::Column::IngestId)
        .filter(webhook_log::Column::ReceivedAt.lt(cutoff))
        .order_by_asc(webhook_log::Column::ReceivedAt)
        .limit(BATCH)
        .into_tuple()
        .all(&txn)
        .await?;
    if ids.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    webhook_log_events::Entity::delete_many()
        .filter(webhook_log_events::Column::IngestId.is_in(ids.clone()))
        .exec(&txn)
        .await?;
    let removed = webhook_log::Entity::delete_many()
        .filter(webhook_log::Column::IngestId.is_in(ids))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(removed)
}
