//! Claiming a delivery's webhook-log row inside the transaction of its
//! effects: the guard that makes redeliveries and partner retries harmless.

use crate::persist;
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, IdenStatic,
    PaginatorTrait, QueryFilter, QueryTrait,
};
use shared::Envelope;
use std::collections::HashSet;
use store::delivery_log::{LogStatus, idempotency_key, log_row};
use store::entities::webhook_log::{self, Column as Log};
use uuid::Uuid;

/// Claims the log rows of deliveries never seen before, with one statement
/// per chunk; returns the ingest ids now claimed. A delivery seen before (a
/// retry, a replay, a redelivery) or with a partner's idempotency key used
/// before is left out: the one-message path decides what it is.
pub(crate) async fn claim_new<'a>(
    txn: &DatabaseTransaction,
    items: impl Iterator<Item = (&'a Envelope, &'a [u8], Option<String>)>,
) -> Result<HashSet<Uuid>, DbErr> {
    let mut rows: Vec<(Uuid, webhook_log::ActiveModel)> = items
        .map(|(envelope, body, partner_ref)| {
            let key = idempotency_key(envelope);
            let row = log_row(envelope, body, LogStatus::Processed, None, key, partner_ref);
            (envelope.ingest_id, row)
        })
        .collect();
    // Sorted: concurrent batches lock log rows in the same order.
    rows.sort_by_key(|(id, _)| *id);
    let mut rows = rows.into_iter().map(|(_, row)| row);
    let mut claimed = HashSet::new();
    for size in persist::writes::chunk_sizes(rows.len()) {
        // No conflict target: a clash on the ingest id or on the
        // idempotency key both leave the row unwritten, and unreturned.
        let mut insert = webhook_log::Entity::insert_many(rows.by_ref().take(size))
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .into_query();
        insert.returning_col(Log::IngestId);
        for row in txn.query_all(&insert).await? {
            claimed.insert(row.try_get::<Uuid>("", Log::IngestId.as_str())?);
        }
    }
    Ok(claimed)
}

/// Whether this delivery may apply its effects.
pub(crate) enum Claim {
    /// Yes: the log row is ours (new, or taken over from a retry or a replay).
    Granted,
    /// Its ingest id was already processed.
    AlreadyProcessed,
    /// Another delivery with the same idempotency key came first.
    RepeatedKey(String),
}

/// Claims the delivery's log row inside the effects transaction. Every
/// step is a constraint or a conditional update, never a read then a write.
pub(crate) async fn claim(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    body: &[u8],
    partner_ref: Option<String>,
) -> Result<Claim, DbErr> {
    let key = idempotency_key(envelope);
    let row = log_row(
        envelope,
        body,
        LogStatus::Processed,
        None,
        key.clone(),
        partner_ref.clone(),
    );
    // No conflict target: a clash on the ingest id or on the idempotency key
    // both leave the row unwritten.
    let inserted = webhook_log::Entity::insert(row)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(txn)
        .await?;
    if inserted == 1 {
        return Ok(Claim::Granted);
    }
    // Retried or replayed: take the row over, unless it is settled.
    let taken = webhook_log::Entity::update_many()
        .col_expr(Log::Status, Expr::value(LogStatus::Processed.as_str()))
        .col_expr(Log::Reason, Expr::value(Option::<String>::None))
        .col_expr(Log::Attempts, Expr::cust("attempts + 1"))
        .col_expr(Log::PartnerRef, Expr::value(partner_ref.clone()))
        .col_expr(Log::UpdatedAt, Expr::value(Utc::now()))
        .filter(Log::IngestId.eq(envelope.ingest_id))
        .filter(Log::Status.is_in([
            LogStatus::Retrying.as_str(),
            LogStatus::DeadLettered.as_str(),
        ]))
        .exec(txn)
        .await?
        .rows_affected;
    if taken == 1 {
        return Ok(Claim::Granted);
    }
    // The row exists but is settled, or the key belongs to another delivery.
    if webhook_log::Entity::find_by_id(envelope.ingest_id)
        .count(txn)
        .await?
        > 0
    {
        return Ok(Claim::AlreadyProcessed);
    }
    let reason = format!(
        "the partner sent the same idempotency key ({}) before",
        key.unwrap_or_default()
    );
    let duplicate = log_row(
        envelope,
        body,
        LogStatus::Duplicate,
        Some(&reason),
        None,
        partner_ref,
    );
    webhook_log::Entity::insert(duplicate)
        .exec_without_returning(txn)
        .await?;
    Ok(Claim::RepeatedKey(reason))
}

/// Marks a claimed delivery's log row a partner's duplicate, with why.
pub(crate) async fn mark_duplicate(
    txn: &impl ConnectionTrait,
    ingest_id: Uuid,
    reason: &str,
) -> Result<(), DbErr> {
    webhook_log::Entity::update_many()
        .col_expr(Log::Status, Expr::value(LogStatus::Duplicate.as_str()))
        .col_expr(Log::Reason, Expr::value(reason.to_owned()))
        .filter(Log::IngestId.eq(ingest_id))
        .exec(txn)
        .await?;
    Ok(())
}
