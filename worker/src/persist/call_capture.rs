//! Call-capture records: stored under the `call_history_id` the edge
//! returned; a repeated `external_system` + `external_call_id` updates the
//! one record (which keeps its first id), and the id returned for the
//! repeat is kept as an alias of it (`call_record_aliases`).

use super::{Sighting, merge_bookkeeping, newer_event_wins, touchpoint, upsert_lead};
use crate::entities::call_record_aliases;
use crate::entities::call_records::{self, Column as C};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
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

/// The customer on a call: the number that is not the dealer's (the
/// recipient of an outbound call, the caller of an inbound one). With one
/// valid number that is not the dealer's, that one; with two and no way to
/// tell them apart, or none, nobody: a wrong lead is worse than none.
pub(crate) fn customer(
    caller: Option<&str>,
    recipient: Option<&str>,
    dealer: &std::collections::HashSet<String>,
) -> Option<String> {
    let caller = caller.and_then(shared::phone::to_e164);
    let recipient = recipient.and_then(shared::phone::to_e164);
    let outside = |n: &Option<String>| n.clone().filter(|n| !dealer.contains(n));
    match (outside(&caller), outside(&recipient)) {
        (Some(one), None) | (None, Some(one)) => Some(one),
        // Both outside: the caller, unless the dealer's lines are known
        // (then neither is the dealer's, and guessing would be wrong).
        (Some(caller), Some(_)) if dealer.is_empty() => Some(caller),
        _ => None,
    }
}

/// Upserts the record and, when its customer's number is known, their lead.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    id: Uuid,
    record: &CallRecord,
    dealer_numbers: &std::collections::HashSet<String>,
) -> Result<(), DbErr> {
    let call_date = record
        .call_date
        .or(record.start_time)
        .unwrap_or(envelope.received_at);
    let caller = customer(
        record.caller_number.as_deref(),
        record.recipient_number.as_deref(),
        dealer_numbers,
    );
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
    let insert = call_records::Entity::insert(row).on_conflict(on_conflict);
    if external_key.is_some() {
        // A repeated external call updates the record, which keeps its
        // first id: the id returned for this one becomes its alias.
        let stored = insert.exec_with_returning(txn).await?;
        if stored.id != id {
            let alias = call_record_aliases::ActiveModel {
                id: Set(id),
                call_record_id: Set(stored.id),
                created_at: Set(now),
            };
            call_record_aliases::Entity::insert(alias)
                .on_conflict(
                    OnConflict::column(call_record_aliases::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
    } else {
        insert.exec_without_returning(txn).await?;
    }
    follow_up(txn, id, external_key.as_deref(), caller.as_deref(), lead).await?;
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

/// India Standard Time: UTC+05:30, no daylight saving.
fn ist() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("a valid offset")
}

/// When a follow-up dated `date` (at `time`, IST) is due; the day's start
/// in India when no time was given.
pub(crate) fn due_at(date: chrono::NaiveDate, time: Option<chrono::NaiveTime>) -> DateTime<Utc> {
    use chrono::TimeZone;
    let local = date.and_time(time.unwrap_or(chrono::NaiveTime::MIN));
    ist()
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| local.and_utc())
}

/// The call's follow-up task, from the record as stored (so the merge rules
/// of repeated calls decide its date), one per call record: a repeated call
/// moves it rather than adding one. Staff marking it done is kept.
async fn follow_up(
    txn: &DatabaseTransaction,
    id: Uuid,
    external_key: Option<&str>,
    phone: Option<&str>,
    lead: Option<Uuid>,
) -> Result<(), DbErr> {
    use crate::entities::follow_ups::{self, Column as F};
    use sea_orm::{ColumnTrait, QueryFilter};
    let stored = match external_key {
        Some(key) => {
            call_records::Entity::find()
                .filter(C::ExternalKey.eq(key))
                .one(txn)
                .await?
        }
        None => call_records::Entity::find_by_id(id).one(txn).await?,
    };
    let Some(stored) = stored else {
        return Ok(());
    };
    let Some(date) = stored.next_follow_up else {
        return Ok(());
    };
    let now = Utc::now();
    let row = follow_ups::ActiveModel {
        id: Set(Uuid::now_v7()),
        call_record_id: Set(stored.id),
        lead_id: Set(lead.or(stored.lead_id)),
        phone: Set(phone.map(str::to_owned)),
        due_date: Set(date),
        due_time: Set(stored.next_follow_up_time),
        due_at: Set(due_at(date, stored.next_follow_up_time)),
        auto_call: Set(stored.auto_call_followup.unwrap_or(false)),
        notes: Set(stored.notes.clone()),
        done_at: Set(None),
        done_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    follow_ups::Entity::insert(row)
        .on_conflict(
            OnConflict::column(F::CallRecordId)
                .update_columns([
                    F::DueDate,
                    F::DueTime,
                    F::DueAt,
                    F::AutoCall,
                    F::Notes,
                    F::UpdatedAt,
                ])
                .values([
                    (
                        F::LeadId,
                        Expr::cust("COALESCE(excluded.lead_id, follow_ups.lead_id)"),
                    ),
                    (
                        F::Phone,
                        Expr::cust("COALESCE(excluded.phone, follow_ups.phone)"),
                    ),
                ])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_customer_is_the_number_that_is_not_the_dealers() {
        let dealer: std::collections::HashSet<String> = ["+919000000001".to_owned()].into();
        let none = std::collections::HashSet::new();
        let outbound = super::customer(Some("+919000000001"), Some("09811111111"), &dealer);
        assert_eq!(outbound.as_deref(), Some("+919811111111"));
        let inbound = super::customer(Some("+919822222222"), Some("+919000000001"), &dealer);
        assert_eq!(inbound.as_deref(), Some("+919822222222"));
        assert_eq!(
            super::customer(Some("+919822222222"), None, &dealer).as_deref(),
            Some("+919822222222")
        );
        assert_eq!(
            super::customer(Some("+919000000001"), None, &dealer),
            None,
            "the dealer is no lead"
        );
        assert_eq!(
            super::customer(Some("+919822222222"), Some("+919811111111"), &dealer),
            None,
            "no guess"
        );
        assert_eq!(super::customer(None, Some("bad"), &dealer), None);
        // Without DEALER_NUMBERS, the caller, as before.
        assert_eq!(
            super::customer(Some("+919822222222"), Some("+919811111111"), &none).as_deref(),
            Some("+919822222222")
        );
    }

    #[test]
    fn follow_ups_are_due_in_india_time() {
        let date = chrono::NaiveDate::from_ymd_opt(2025, 11, 10).unwrap();
        let time = chrono::NaiveTime::from_hms_opt(10, 30, 0);
        assert_eq!(
            super::due_at(date, time).to_rfc3339(),
            "2025-11-10T05:00:00+00:00"
        );
        assert_eq!(
            super::due_at(date, None).to_rfc3339(),
            "2025-11-09T18:30:00+00:00"
        );
    }
}
