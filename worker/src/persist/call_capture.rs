//! Call-capture records: stored under the `call_history_id` the edge
//! returned; a repeated `external_system` + `external_call_id` updates the
//! one record (which keeps its first id), and the id returned for the
//! repeat is kept as an alias of it (`call_record_aliases`).

use super::writes::{chunk_sizes, rounds, upsert_in_rounds};
use super::{Sighting, Touchpoint, Writes, merge_bookkeeping, newer_event_wins};
use crate::message::{Message, contract_reason};
use crate::process::Settings;
use crate::staging::Staging;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use shared::contracts::call_capture;
use shared::contracts::call_capture::CallRecord;
use shared::time::ist;
use shared::{Envelope, Source};
use std::collections::HashMap;
use store::entities::call_record_aliases;
use store::entities::call_records::{self, Column as C};
use store::entities::follow_ups;
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

/// A captured call staged for writing, with what its alias and follow-up
/// need once the database says how it merged.
pub(crate) struct StagedRecord {
    /// The `call_history_id` the edge returned for this event.
    id: Uuid,
    /// `external_system` + `external_call_id`, when given: repeats of one
    /// external call merge on it.
    external_key: Option<String>,
    /// The customer's lead and number (E.164), when known.
    lead: Option<Uuid>,
    phone: Option<String>,
    row: call_records::ActiveModel,
}

impl StagedRecord {
    /// The key its record is written under: the external call, or its own
    /// id (the same text the stored row gives back, see [`stored_key`]).
    fn key(&self) -> String {
        self.external_key
            .clone()
            .unwrap_or_else(|| self.id.to_string())
    }
}

/// The key a stored record was written under (see [`StagedRecord::key`]).
fn stored_key(stored: &call_records::Model) -> String {
    stored
        .external_key
        .clone()
        .unwrap_or_else(|| stored.id.to_string())
}

/// Stages the record and, when its customer's number is known, their lead
/// and a line on their timeline.
pub(crate) fn stage(
    writes: &mut Writes,
    envelope: &Envelope,
    id: Uuid,
    record: &CallRecord,
    dealer_numbers: &std::collections::HashSet<String>,
) {
    let call_date = record
        .call_date
        .or(record.start_time)
        .unwrap_or(envelope.received_at);
    let phone = customer(
        record.caller_number.as_deref(),
        record.recipient_number.as_deref(),
        dealer_numbers,
    );
    // The dealer's side of the call: the number that is not the customer's.
    let line = [&record.caller_number, &record.recipient_number]
        .into_iter()
        .filter_map(|n| n.as_deref().and_then(shared::phone::to_e164))
        .find(|n| Some(n) != phone.as_ref());
    let lead = phone.as_deref().map(|phone| {
        writes.lead(&Sighting {
            phone,
            name: None,
            email: None,
            lead_quality: None,
            is_lead: None,
            source: Source::CallCapture,
            at: call_date,
            crm_status: None,
            line: line.as_deref(),
            vehicle: None,
        })
    });
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
    if let Some(lead) = lead {
        // A call to the customer (they are the recipient) reached them: the
        // lead's first response, if it is the first.
        let recipient = record
            .recipient_number
            .as_deref()
            .and_then(shared::phone::to_e164);
        if recipient.is_some() && recipient == phone {
            writes.response(crate::desk::Response {
                lead,
                at: call_date,
                by: record
                    .employee_id
                    .map(|e| crate::desk::PartnerStaff::Employee(e.to_string())),
            });
        }
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
        writes.touchpoint(Touchpoint {
            lead,
            source: Source::CallCapture,
            key: external_key.clone().unwrap_or_else(|| id.to_string()),
            at: call_date,
            summary,
            ingest_id: envelope.ingest_id,
        });
    }
    writes.call_record(StagedRecord {
        id,
        external_key,
        lead,
        phone,
        row,
    });
}

/// How a repeated external call merges into its record: the newer event
/// overwrites what it brings, an older one only fills gaps.
fn repeat_merge() -> OnConflict {
    let mut merge = OnConflict::column(C::ExternalKey);
    merge.values(newer_event_wins("call_records", MERGED));
    merge.values(merge_bookkeeping(
        "call_records",
        C::EventCount,
        C::LastEventAt,
        C::UpdatedAt,
    ));
    merge.to_owned()
}

/// A record without an external key is never merged; the no-op update
/// (rather than `DO NOTHING`) makes the statement return the stored row,
/// which its follow-up is made from.
fn keep_first() -> OnConflict {
    OnConflict::column(C::Id)
        .value(C::UpdatedAt, Expr::cust("call_records.updated_at"))
        .to_owned()
}

/// Writes the staged records (returning each as stored, after its merge),
/// then the aliases of repeated external calls and the follow-ups the
/// stored records ask for. Records merge in rounds like every other table
/// (see [`super::writes`]), so a batch gives the rows one message at a time
/// would.
pub(crate) async fn flush(
    txn: &impl ConnectionTrait,
    staged: Vec<StagedRecord>,
) -> Result<(), DbErr> {
    let mut aliases = Vec::new();
    let mut follow_ups = Vec::new();
    let (keyed, own): (Vec<_>, Vec<_>) = staged
        .into_iter()
        .map(|s| (s.key(), s))
        .partition(|(_, s)| s.external_key.is_some());
    for (rows, merge) in [(keyed, repeat_merge()), (own, keep_first())] {
        for round in rounds(rows) {
            let mut round = round.into_iter().map(|(_, s)| s);
            for size in chunk_sizes(round.len()) {
                let chunk: Vec<StagedRecord> = round.by_ref().take(size).collect();
                let stored: HashMap<String, call_records::Model> =
                    call_records::Entity::insert_many(chunk.iter().map(|s| s.row.clone()))
                        .on_conflict(merge.clone())
                        .exec_with_returning(txn)
                        .await?
                        .into_iter()
                        .map(|row| (stored_key(&row), row))
                        .collect();
                for staged in chunk {
                    let Some(stored) = stored.get(&staged.key()) else {
                        continue;
                    };
                    if stored.id != staged.id {
                        // A repeated external call updates the record,
                        // which keeps its first id: the id returned for this
                        // one becomes its alias.
                        aliases.push((
                            staged.id,
                            call_record_aliases::ActiveModel {
                                id: Set(staged.id),
                                call_record_id: Set(stored.id),
                                created_at: Set(Utc::now()),
                            },
                        ));
                    }
                    if let Some(row) = follow_up(stored, staged.lead, staged.phone) {
                        follow_ups.push((stored.id, row));
                    }
                }
            }
        }
    }
    let first_alias_wins = OnConflict::column(call_record_aliases::Column::Id)
        .do_nothing()
        .to_owned();
    upsert_in_rounds(txn, aliases, first_alias_wins).await?;
    upsert_in_rounds(txn, follow_ups, follow_up_merge()).await
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
/// moves it rather than adding one.
fn follow_up(
    stored: &call_records::Model,
    lead: Option<Uuid>,
    phone: Option<String>,
) -> Option<follow_ups::ActiveModel> {
    let date = stored.next_follow_up?;
    let now = Utc::now();
    Some(follow_ups::ActiveModel {
        id: Set(Uuid::now_v7()),
        call_record_id: Set(Some(stored.id)),
        lead_id: Set(lead.or(stored.lead_id)),
        phone: Set(phone),
        due_date: Set(date),
        due_time: Set(stored.next_follow_up_time),
        due_at: Set(due_at(date, stored.next_follow_up_time)),
        auto_call: Set(stored.auto_call_followup.unwrap_or(false)),
        notes: Set(stored.notes.clone()),
        done_at: Set(None),
        done_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        // The lead's owner's (see the console's follow-ups).
        assignee_id: Set(None),
        created_by: Set(None),
        due_notified_at: Set(None),
    })
}

/// A moved follow-up takes the call's new date and notes; staff marking it
/// done is kept, and a lead or number once known stays.
fn follow_up_merge() -> OnConflict {
    use follow_ups::Column as F;
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
            // Moved (a new due time): announced again when it comes due.
            (
                F::DueNotifiedAt,
                Expr::cust(
                    "CASE WHEN excluded.due_at = follow_ups.due_at THEN follow_ups.due_notified_at END",
                ),
            ),
        ])
        .to_owned()
}

/// A captured call and the id the edge gave it (`call_history_id`).
pub(crate) struct CapturedCall {
    id: Uuid,
    record: CallRecord,
}

/// Reads a captured call, with the id the edge assigned it.
pub(crate) fn read(envelope: &Envelope, body: &[u8]) -> Result<Box<dyn Message>, String> {
    let id = envelope
        .assigned_ids
        .get("call_history_id")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or("message carries no call_history_id from the edge")?;
    let record = call_capture::parse(body).map_err(|e| contract_reason(envelope, e))?;
    Ok(Box::new(CapturedCall { id, record }))
}

impl Message for CapturedCall {
    fn partner_ref(&self) -> Option<String> {
        let reference = self.record.external_call_id.clone();
        Some(reference.unwrap_or_else(|| self.id.to_string()))
    }

    fn stage<'a>(
        &'a self,
        staging: &mut Staging<'a>,
        _: usize,
        envelope: &'a Envelope,
        settings: &Settings,
    ) {
        stage(
            staging.writes(),
            envelope,
            self.id,
            &self.record,
            &settings.dealer_numbers,
        );
    }
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
