//! The webhook log's rows for deliveries, as the worker and the console
//! both read them: a delivery's status, its row, and recording a retry or
//! dead-letter decision with its reason history.

use crate::entities::webhook_log::{self, Column as Log};
use crate::entities::webhook_log_events;
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, TransactionTrait,
};
use shared::Envelope;
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

/// The partner's idempotency key for a delivery, if it sent one.
pub fn idempotency_key(envelope: &Envelope) -> Option<String> {
    envelope
        .request_headers
        .iter()
        .find(|(name, _)| name == "idempotency-key" || name == "webhook-id")
        .map(|(_, value)| value.clone())
}

/// A log row for this delivery.
pub fn log_row(
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
        body_dropped_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Whether [`upsert`] may change a row already marked processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// A processed delivery is settled: the row stays as it is.
    Keep,
    /// The row follows the newest decision whatever it said before (an
    /// outgoing request's row follows its send attempts).
    Overwrite,
}

/// Writes a delivery's row or, when the delivery has one already, its new
/// status and reason, one more attempt, and the partner's reference once it
/// is known (a row without one keeps the stored one). The one upsert of the
/// log outside a claim; returns whether a row was written.
pub async fn upsert(
    db: &impl ConnectionTrait,
    row: webhook_log::ActiveModel,
    processed: Processed,
) -> Result<bool, DbErr> {
    let mut on_conflict = OnConflict::column(Log::IngestId);
    on_conflict.values([
        (Log::Status, Expr::cust("excluded.status")),
        (Log::Reason, Expr::cust("excluded.reason")),
        (Log::Attempts, Expr::cust("webhook_log.attempts + 1")),
        (
            Log::PartnerRef,
            Expr::cust("COALESCE(excluded.partner_ref, webhook_log.partner_ref)"),
        ),
        (Log::UpdatedAt, Expr::cust("excluded.updated_at")),
    ]);
    if processed == Processed::Keep {
        on_conflict.action_and_where(Expr::cust("webhook_log.status <> 'processed'"));
    }
    let written = webhook_log::Entity::insert(row)
        .on_conflict(on_conflict.to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(written == 1)
}

/// Records a retry or dead-letter decision (never over a processed row),
/// and adds it to the delivery's reason history, in one transaction.
pub async fn record<C>(
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
    // A processed row is settled: its history does not grow either.
    if upsert(&txn, row, Processed::Keep).await? {
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
