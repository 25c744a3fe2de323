//! Call-capture records: stored under the `call_history_id` the edge
//! returned; a repeated `external_system` + `external_call_id` updates the
//! one record (which keeps its first id).

use super::{Sighting, merge_bookkeeping, newer_event_wins, touchpoint, upsert_lead};
use crate::entities::call_records::{self, Column as C};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseTransaction, DbErr, EntityTrait};
use shared::contracts::call_capture::CallRecord;
use shared::{Envelope, Source};
use uuid::Uuid;

/// Columns a repeated external call fills in.
const MERGED: &[C] = &[
    C::CompanyId,
    C::PartnerLeadId,
    C::EmployeeId,
    C::Outcome,
    C::Notes,
    C::CallDate,
    C::CallerNumber,
    C::RecipientNumber,
    C::DurationSeconds,
    C::RecordingUrl,
    C::CallStatus,
    C::StartTime,
    C::EndTime,
    C::NextFollowUp,
    C::NextFollowUpTime,
    C::AutoCallFollowup,
    C::CallDetails,
    C::Extra,
    C::LeadId,
];

/// Upserts the record and, when the caller's number is valid, their lead.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    id: Uuid,
    record: &CallRecord,
) -> Result<(), DbErr> {
    let call_date = record
        .call_date
        .or(record.start_time)
        .unwrap_or(envelope.received_at);
    let caller = record
        .caller_number
        .as_deref()
        .and_then(shared::phone::to_e164);
    let lead = match &caller {
        Some(phone) => Some(
            upsert_lead(
                txn,
                &Sighting {
                    phone,
                    name: None,
                    email: None,
                    lead_quality: None,
                    is_lead: None,
                    source: Source::CallCapture,
                    at: call_date,
                },
            )
            .await?,
        ),
        None => None,
    };
    let external_key = record.external_call_id.as_ref().map(|call| {
        format!(
            "{}\u{1f}{call}",
            record.external_system.as_deref().unwrap_or("")
        )
    });
    let now = Utc::now();
    let row = call_records::ActiveModel {
        id: Set(id),
        company_id: Set(record.company_id),
        partner_lead_id: Set(record.lead_id),
        employee_id: Set(record.employee_id),
        outcome: Set(record.outcome.clone()),
        notes: Set(record.notes.clone()),
        call_date: Set(call_date),
        caller_number: Set(record.caller_number.clone()),
        recipient_number: Set(record.recipient_number.clone()),
        duration_seconds: Set(record.duration_seconds),
        recording_url: Set(record.recording_url.clone()),
        call_status: Set(record.call_status.clone()),
        start_time: Set(record.start_time),
        end_time: Set(record.end_time),
        external_call_id: Set(record.external_call_id.clone()),
        external_system: Set(record.external_system.clone()),
        external_key: Set(external_key.clone()),
        next_follow_up: Set(record.next_follow_up),
        next_follow_up_time: Set(record.next_follow_up_time),
        auto_call_followup: Set(record.auto_call_followup),
        call_details: Set(record.call_details.clone().map(serde_json::Value::Object)),
        extra: Set(
            (!record.extra.is_empty()).then(|| serde_json::Value::Object(record.extra.clone()))
        ),
        lead_id: Set(lead),
        event_count: Set(1),
        last_event_at: Set(envelope.received_at.timestamp_micros()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let on_conflict = if external_key.is_some() {
        let mut merge = OnConflict::column(C::ExternalKey);
        merge.values(newer_event_wins("call_records", MERGED));
        merge.values(merge_bookkeeping(
            "call_records",
            C::EventCount,
            C::LastEventAt,
            C::UpdatedAt,
        ));
        merge.to_owned()
    } else {
        OnConflict::column(C::Id).do_nothing().to_owned()
    };
    call_records::Entity::insert(row)
        .on_conflict(on_conflict)
        .exec_without_returning(txn)
        .await?;
    if let Some(lead) = lead {
        let key = external_key.unwrap_or_else(|| id.to_string());
        let summary = format!(
            "Captured call{}{}",
            record
                .outcome
                .as_deref()
                .map(|o| format!(" ({o})"))
                .unwrap_or_default(),
            record
                .notes
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
        touchpoint(
            txn,
            lead,
            Source::CallCapture,
            &key,
            call_date,
            summary,
            envelope.ingest_id,
        )
        .await?;
    }
    Ok(())
}
