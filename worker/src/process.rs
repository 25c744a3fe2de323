//! Processing one delivery: from raw body to committed rows, returning what
//! the consume loop must do with the message. Nothing here touches the
//! broker, so every decision is testable against a real database alone.

use crate::db::is_transient;
use crate::entities::{calls, processed_messages};
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, IdenStatic,
    TransactionTrait,
};
use shared::contracts::{ContractError, tata_calls};
use shared::{Envelope, Source};

/// Sources this worker version can turn into rows. It consumes only their
/// queues: messages from other sources wait, durable, in their own queues
/// until a worker that handles them is deployed (nothing is dead-lettered
/// for want of code).
pub const HANDLED_SOURCES: &[Source] = &[Source::TataCalls];

/// What became of a message, and so what to tell the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its effects are committed: ack.
    Persisted,
    /// Its ingest id was already committed (a redelivery): ack, change nothing.
    Duplicate,
    /// It may succeed later (for example a record it refers to is not there
    /// yet): retry through the delayed retry queues, dead-letter when the
    /// attempts are spent.
    RetryLater(String),
    /// It can never succeed: dead-letter it with this reason.
    DeadLetter(String),
}

/// The database is unavailable or contended: nothing was committed, and the
/// same message should be tried again, in place, after a pause. Never a
/// reason to dead-letter.
#[derive(Debug, thiserror::Error)]
#[error("database unavailable: {0}")]
pub struct Transient(pub String);

/// Processes one message end to end: parse, normalise, and commit its
/// effects together with its ingest id, in one transaction.
pub async fn process(
    db: &DatabaseConnection,
    envelope: &Envelope,
    body: &[u8],
) -> Result<Outcome, Transient> {
    let effects = match envelope.source {
        Source::TataCalls => match tata_calls::parse(body) {
            Ok(call) => Effects::Call(Box::new(call)),
            Err(error) => {
                return Ok(Outcome::DeadLetter(contract_reason(
                    envelope.source,
                    &error,
                )));
            }
        },
        // Only reachable by a message routed to the wrong queue: other
        // sources' queues are not consumed by this worker version.
        other => {
            return Ok(Outcome::DeadLetter(format!(
                "no handler for source {other} in this worker version"
            )));
        }
    };
    match commit(db, envelope, &effects).await {
        Ok(true) => Ok(Outcome::Persisted),
        Ok(false) => Ok(Outcome::Duplicate),
        Err(error) if is_transient(&error) => Err(Transient(error.to_string())),
        Err(error) => Ok(Outcome::RetryLater(format!(
            "database refused the write: {error}"
        ))),
    }
}

fn contract_reason(source: Source, error: &ContractError) -> String {
    match error {
        ContractError::Fields(fields) => format!(
            "body does not satisfy the {source} contract: {}",
            serde_json::to_string(fields).unwrap_or_default()
        ),
        other => format!("body does not satisfy the {source} contract: {other}"),
    }
}

/// The rows one message writes.
enum Effects {
    Call(Box<tata_calls::CallEvent>),
}

/// Commits `effects` and the ingest id together. `Ok(false)` when the ingest
/// id was already there (nothing else is written).
async fn commit(
    db: &DatabaseConnection,
    envelope: &Envelope,
    effects: &Effects,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    // The ledger insert comes first: it takes the write lock (SQLite) or the
    // row lock (PostgreSQL) that makes a concurrent duplicate wait for us and
    // then see our row.
    let inserted = processed_messages::Entity::insert(processed_messages::ActiveModel {
        ingest_id: Set(envelope.ingest_id),
        source: Set(envelope.source.name().to_owned()),
        received_at: Set(envelope.received_at),
        processed_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(processed_messages::Column::IngestId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if inserted == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    match effects {
        Effects::Call(call) => upsert_call(&txn, envelope, call).await?,
    }
    txn.commit().await?;
    Ok(true)
}

/// Call columns that events fill in. A newer event (by edge receive time)
/// overwrites what it brings; an older one arriving late only fills gaps.
const MERGED_CALL_COLUMNS: &[calls::Column] = &[
    calls::Column::CallSid,
    calls::Column::CallerNumber,
    calls::Column::CallerName,
    calls::Column::CallStartTime,
    calls::Column::CallEndTime,
    calls::Column::CallDuration,
    calls::Column::CallStatus,
    calls::Column::StaffName,
    calls::Column::StaffId,
    calls::Column::RecordingUrl,
    calls::Column::DispositionCode,
    calls::Column::DispositionName,
    calls::Column::DispositionCategory,
    calls::Column::DispositionNotes,
    calls::Column::CustomerName,
    calls::Column::CustomerEmail,
    calls::Column::CustomerAddress,
    calls::Column::VehicleModel,
    calls::Column::VehicleVariant,
    calls::Column::IsLead,
    calls::Column::LeadQuality,
    calls::Column::Extra,
];

const NEWER: &str = "excluded.last_event_at >= calls.last_event_at";

/// One statement, so concurrent workers with events for the same call meet
/// at the unique index rather than racing a read against a write.
async fn upsert_call(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    call: &tata_calls::CallEvent,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let disposition = call.disposition();
    let row = calls::ActiveModel {
        id: Set(envelope.ingest_id),
        call_id: Set(call.call_id.clone()),
        call_sid: Set(call.call_sid.clone()),
        caller_number: Set(call.caller_number.clone()),
        caller_name: Set(call.caller_name.clone()),
        call_start_time: Set(call.call_start_time),
        call_end_time: Set(call.call_end_time),
        call_duration: Set(call.call_duration),
        call_status: Set(call.call_status.clone()),
        staff_name: Set(call.staff_name.clone()),
        staff_id: Set(call.staff_id.clone()),
        recording_url: Set(call.recording_url.clone()),
        disposition_code: Set(call.disposition_code.clone()),
        disposition_name: Set(disposition.map(|(name, _)| name.to_owned())),
        disposition_category: Set(disposition.map(|(_, category)| category.to_owned())),
        disposition_notes: Set(call.disposition_notes.clone()),
        customer_name: Set(call.customer_name.clone()),
        customer_email: Set(call.customer_email.clone()),
        customer_address: Set(call.customer_address.clone()),
        vehicle_model: Set(call.vehicle_model.clone()),
        vehicle_variant: Set(call.vehicle_variant.clone()),
        is_lead: Set(call.is_lead),
        lead_quality: Set(call.lead_quality.clone()),
        extra: Set((!call.extra.is_empty()).then(|| serde_json::Value::Object(call.extra.clone()))),
        event_count: Set(1),
        last_event_at: Set(envelope.received_at.timestamp_micros()),
        last_ingest_id: Set(envelope.ingest_id),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let mut on_conflict = OnConflict::column(calls::Column::CallId);
    on_conflict.values(MERGED_CALL_COLUMNS.iter().map(|column| {
        let c = column.as_str();
        (
            *column,
            Expr::cust(format!(
                "CASE WHEN {NEWER} THEN COALESCE(excluded.{c}, calls.{c}) ELSE COALESCE(calls.{c}, excluded.{c}) END"
            )),
        )
    }));
    on_conflict.values([
        (
            calls::Column::EventCount,
            Expr::cust("calls.event_count + 1"),
        ),
        (
            calls::Column::LastEventAt,
            Expr::cust(format!(
                "CASE WHEN {NEWER} THEN excluded.last_event_at ELSE calls.last_event_at END"
            )),
        ),
        (
            calls::Column::LastIngestId,
            Expr::cust(format!(
                "CASE WHEN {NEWER} THEN excluded.last_ingest_id ELSE calls.last_ingest_id END"
            )),
        ),
        (calls::Column::UpdatedAt, Expr::cust("excluded.updated_at")),
    ]);
    calls::Entity::insert(row)
        .on_conflict(on_conflict.to_owned())
        .exec_without_returning(txn)
        .await?;
    Ok(())
}
