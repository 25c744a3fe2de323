//! The webhook log's rows for deliveries: claiming a delivery's row inside
//! the transaction of its effects (the guard that makes redeliveries and
//! partner retries harmless), recording retries and dead letters with
//! their reason history, and the row's status.

use crate::entities::webhook_log::{self, Column as Log};
use crate::entities::webhook_log_events;
use crate::persist;
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    IdenStatic, PaginatorTrait, QueryFilter, QueryTrait, TransactionTrait,
};
use shared::Envelope;
use std::collections::HashSet;
use uuid::Uuid;

/// What became of a delivery: the webhook log's `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStatus {
    /// Its effects are committed.
    Processed,
    /// Nothing new: the partner sent it before.
    Duplicate,
    /// Waiting in a retry queue.
    Retrying,
    /// In the dead-letter queue.
    DeadLettered,
}

impl LogStatus {
    /// Every status, in the order a delivery usually meets them.
    pub const ALL: [LogStatus; 4] = [
        LogStatus::Processed,
        LogStatus::Duplicate,
        LogStatus::Retrying,
        LogStatus::DeadLettered,
    ];

    /// Every status as stored, in the order of [`LogStatus::ALL`].
    pub const NAMES: [&'static str; 4] = [
        LogStatus::Processed.as_str(),
        LogStatus::Duplicate.as_str(),
        LogStatus::Retrying.as_str(),
        LogStatus::DeadLettered.as_str(),
    ];

    /// As stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogStatus::Processed => "processed",
            LogStatus::Duplicate => "duplicate",
            LogStatus::Retrying => "retrying",
            LogStatus::DeadLettered => "dead_lettered",
        }
    }

    /// Reads a stored or typed status.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }

    /// Whether the delivery is settled for good without an operator:
    /// processed, or a duplicate of something processed.
    pub fn is_successful(self) -> bool {
        matches!(self, LogStatus::Processed | LogStatus::Duplicate)
    }
}

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

/// The partner's idempotency key for a delivery, if it sent one.
pub(crate) fn idempotency_key(envelope: &Envelope) -> Option<String> {
    envelope
        .request_headers
        .iter()
        .find(|(name, _)| name == "idempotency-key" || name == "webhook-id")
        .map(|(_, value)| value.clone())
}

/// A log row for this delivery.
pub(crate) fn log_row(
    envelope: &Envelope,
    body: &[u8],
    status: LogStatus,
    reason: Option<&str>,
    key: Option<String>,
    partner_ref: Option<String>,
) -> webhook_log::ActiveModel {
    let now = Utc::now();
    webhook_log::ActiveModel {
        ingest_id: Set(envelope.ingest_id),
        source: Set(envelope.source.name().to_owned()),
        received_at: Set(envelope.received_at),
        status: Set(status.as_str().to_owned()),
        reason: Set(reason.map(str::to_owned)),
        attempts: Set(1),
        idempotency_key: Set(key),
        partner_ref: Set(partner_ref),
        body: Set(String::from_utf8_lossy(body).into_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Records a retry or dead-letter decision (never over a processed row),
/// and adds it to the delivery's reason history, in one transaction.
pub(crate) async fn record<C>(
    db: &C,
    envelope: &Envelope,
    body: &[u8],
    status: LogStatus,
    reason: &str,
    partner_ref: Option<String>,
) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>,
{
    let txn = db.begin().await?;
    let row = log_row(envelope, body, status, Some(reason), None, partner_ref);
    let updated = webhook_log::Entity::insert(row)
        .on_conflict(
            OnConflict::column(Log::IngestId)
                .values([
                    (Log::Status, Expr::cust("excluded.status")),
                    (Log::Reason, Expr::cust("excluded.reason")),
                    (Log::Attempts, Expr::cust("webhook_log.attempts + 1")),
                    (Log::UpdatedAt, Expr::cust("excluded.updated_at")),
                ])
                .action_and_where(Expr::cust("webhook_log.status <> 'processed'"))
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    // A processed row is settled: its history does not grow either.
    if updated == 1 {
        let event = webhook_log_events::ActiveModel {
            id: Set(Uuid::now_v7()),
            ingest_id: Set(envelope.ingest_id),
            at: Set(Utc::now()),
            status: Set(status.as_str().to_owned()),
            reason: Set(reason.to_owned()),
        };
        webhook_log_events::Entity::insert(event)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_as_stored() {
        for status in LogStatus::ALL {
            assert_eq!(LogStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(LogStatus::NAMES.len(), LogStatus::ALL.len());
        assert_eq!(LogStatus::parse("lost"), None);
        let successful: Vec<_> = LogStatus::ALL
            .into_iter()
            .filter(|s| s.is_successful())
            .collect();
        assert_eq!(successful, [LogStatus::Processed, LogStatus::Duplicate]);
    }
}
