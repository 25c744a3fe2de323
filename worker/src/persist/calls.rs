//! Tata call events: one row per `call_id`, merged, linked to the caller's lead.

use super::{Sighting, Touchpoint, Writes, merge_bookkeeping, newer_event_wins, newest_value};
use crate::message::{Message, contract_reason};
use crate::process::Settings;
use crate::staging::Staging;
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use shared::contracts::tata_calls;
use shared::contracts::tata_calls::CallEvent;
use shared::{Envelope, Source};
use store::entities::calls;

/// Call columns that events fill in.
const MERGED: &[calls::Column] = &[
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
    calls::Column::LeadId,
];

/// A line for the lead's timeline.
fn summary(call: &CallEvent) -> String {
    let mut line = format!("Call {}", call.call_status.as_deref().unwrap_or("received"));
    if let Some((name, _)) = call.disposition() {
        line.push_str(&format!(" ({name})"));
    }
    if let Some(staff) = &call.staff_name {
        line.push_str(&format!(" with {staff}"));
    }
    if let Some(notes) = &call.disposition_notes {
        line.push_str(&format!(": {notes}"));
    }
    line
}

/// Stages the call (merged on its unique `call_id`, where concurrent
/// workers meet), its caller's lead and the call's touchpoint.
pub(crate) fn stage(writes: &mut Writes, envelope: &Envelope, call: &CallEvent) {
    let lead = writes.lead(&Sighting {
        phone: &call.caller_number,
        name: call
            .customer_name
            .as_deref()
            .or(call.caller_name.as_deref()),
        email: call.customer_email.as_deref(),
        lead_quality: call.lead_quality.as_deref(),
        is_lead: call.is_lead,
        source: Source::TataCalls,
        at: call.call_start_time,
        crm_status: None,
        line: None,
        vehicle: call.vehicle_model.as_deref(),
    });
    // A call a staff member answered or made reached the customer: the
    // lead's first response, if it is the first.
    let answered = matches!(call.call_status.as_deref(), Some("answered" | "completed"));
    if answered && (call.staff_id.is_some() || call.staff_name.is_some()) {
        writes.response(crate::desk::Response {
            lead,
            at: call.call_start_time,
            by: call.staff_id.clone().map(crate::desk::PartnerStaff::Tata),
        });
    }
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
        lead_id: Set(Some(lead)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    writes.call(row, call.call_id.clone());
    writes.touchpoint(Touchpoint {
        lead,
        source: Source::TataCalls,
        key: call.call_id.clone(),
        at: call.call_start_time,
        summary: summary(call),
        ingest_id: envelope.ingest_id,
    });
}

/// How a call's events merge: the newer event (edge receive time)
/// overwrites what it brings, an older one only fills gaps.
pub(crate) fn merge() -> OnConflict {
    let mut on_conflict = OnConflict::column(calls::Column::CallId);
    on_conflict.values(newer_event_wins("calls", MERGED));
    on_conflict.values(merge_bookkeeping(
        "calls",
        calls::Column::EventCount,
        calls::Column::LastEventAt,
        calls::Column::UpdatedAt,
    ));
    on_conflict.values([newest_value("calls", calls::Column::LastIngestId)]);
    on_conflict.to_owned()
}

/// Reads a Tata call event.
pub(crate) fn read(envelope: &Envelope, body: &[u8]) -> Result<Box<dyn Message>, String> {
    let call = tata_calls::parse(body).map_err(|e| contract_reason(envelope, e))?;
    Ok(Box::new(call))
}

impl Message for CallEvent {
    fn partner_ref(&self) -> Option<String> {
        Some(self.call_id.clone())
    }

    fn stage<'a>(
        &'a self,
        staging: &mut Staging<'a>,
        _: usize,
        envelope: &'a Envelope,
        _: &Settings,
    ) {
        stage(staging.writes(), envelope, self);
    }
}
