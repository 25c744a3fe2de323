//! Call records from dialers: `POST /functions/v1/webhook-call-capture`
//! (`docs/contracts/call-capture.md`).

use super::{ContractError, FieldReader, MAX_ID_CHARS, MAX_STRING_CHARS, parse_object};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// `outcome` values the contract lists.
pub const OUTCOMES: &[&str] = &[
    "converted",
    "follow_up",
    "not_answered",
    "completed",
    "not_interested",
];
/// `call_status` values the contract lists.
pub const CALL_STATUSES: &[&str] = &["completed", "busy", "no-answer", "failed"];

const KNOWN_FIELDS: &[&str] = &[
    "company_id",
    "lead_id",
    "employee_id",
    "outcome",
    "notes",
    "call_date",
    "caller_number",
    "recipient_number",
    "duration_seconds",
    "recording_url",
    "call_status",
    "start_time",
    "end_time",
    "external_call_id",
    "external_system",
    "next_follow_up",
    "next_follow_up_time",
    "auto_call_followup",
    "call_details",
];

/// A validated call record.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// The client company.
    pub company_id: Uuid,
    /// The lead called, when known.
    pub lead_id: Option<Uuid>,
    /// The employee who called, when known.
    pub employee_id: Option<Uuid>,
    /// One of [`OUTCOMES`].
    pub outcome: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// When the call was made (the worker uses the receive time when absent).
    pub call_date: Option<DateTime<Utc>>,
    /// As sent (dialers send extensions too; the worker normalises what it can).
    pub caller_number: Option<String>,
    /// As sent.
    pub recipient_number: Option<String>,
    /// Seconds.
    pub duration_seconds: Option<i64>,
    /// Recording location.
    pub recording_url: Option<String>,
    /// One of [`CALL_STATUSES`].
    pub call_status: Option<String>,
    /// UTC.
    pub start_time: Option<DateTime<Utc>>,
    /// UTC.
    pub end_time: Option<DateTime<Utc>>,
    /// The dialer's own call id.
    pub external_call_id: Option<String>,
    /// The dialer's name.
    pub external_system: Option<String>,
    /// Next follow-up date.
    pub next_follow_up: Option<NaiveDate>,
    /// Next follow-up time.
    pub next_follow_up_time: Option<NaiveTime>,
    /// Whether to schedule the follow-up automatically.
    pub auto_call_followup: Option<bool>,
    /// Custom fields.
    pub call_details: Option<Map<String, Value>>,
    /// Fields the contract does not name, kept as sent.
    pub extra: Map<String, Value>,
}

/// Parses and validates a call record.
pub fn parse(body: &[u8]) -> Result<CallRecord, ContractError> {
    let object = parse_object(body)?;
    let mut r = FieldReader::new(&object);
    let company_id = r.required_uuid("company_id");
    let lead_id = r.optional_uuid("lead_id");
    let employee_id = r.optional_uuid("employee_id");
    let outcome = r.optional_choice("outcome", OUTCOMES);
    let notes = r.optional_str("notes", MAX_STRING_CHARS);
    let call_date = r.optional_datetime("call_date");
    let caller_number = r.optional_str("caller_number", 64);
    let recipient_number = r.optional_str("recipient_number", 64);
    let duration_seconds = r.optional_non_negative("duration_seconds");
    let recording_url = r.optional_str("recording_url", MAX_STRING_CHARS);
    let call_status = r.optional_choice("call_status", CALL_STATUSES);
    let start_time = r.optional_datetime("start_time");
    let end_time = r.optional_datetime("end_time");
    let external_call_id = r.optional_str("external_call_id", MAX_ID_CHARS);
    let external_system = r.optional_str("external_system", MAX_ID_CHARS);
    let next_follow_up = r.optional_date("next_follow_up");
    let next_follow_up_time = r.optional_time("next_follow_up_time");
    let auto_call_followup = r.optional_bool("auto_call_followup");
    let call_details = r.optional_object("call_details");
    let extra = r.extra(KNOWN_FIELDS);
    r.finish(|| {
        Some(CallRecord {
            company_id: company_id?,
            lead_id,
            employee_id,
            outcome,
            notes,
            call_date,
            caller_number,
            recipient_number,
            duration_seconds,
            recording_url,
            call_status,
            start_time,
            end_time,
            external_call_id,
            external_system,
            next_follow_up,
            next_follow_up_time,
            auto_call_followup,
            call_details,
            extra,
        })
    })
}

/// The body's JSON Schema: what [`parse`] accepts (see [`super::schema`]).
pub fn schema() -> Value {
    use super::schema::{
        choice, date, datetime, flag, non_negative, object_field, required_uuid, text, time, uuid,
    };
    super::schema::object(
        &[
            ("company_id", required_uuid()),
            ("lead_id", uuid()),
            ("employee_id", uuid()),
            ("outcome", choice(OUTCOMES)),
            ("notes", text(MAX_STRING_CHARS)),
            ("call_date", datetime()),
            ("caller_number", text(64)),
            ("recipient_number", text(64)),
            ("duration_seconds", non_negative()),
            ("recording_url", text(MAX_STRING_CHARS)),
            ("call_status", choice(CALL_STATUSES)),
            ("start_time", datetime()),
            ("end_time", datetime()),
            ("external_call_id", text(MAX_ID_CHARS)),
            ("external_system", text(MAX_ID_CHARS)),
            ("next_follow_up", date()),
            ("next_follow_up_time", time()),
            ("auto_call_followup", flag()),
            ("call_details", object_field()),
        ],
        &["company_id"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_record_is_read() {
        let record = parse(br#"{"company_id":"123e4567-e89b-12d3-a456-426614174000","lead_id":"234e5678-e89b-12d3-a456-426614174001",
            "outcome":"follow_up","duration_seconds":320,"call_status":"completed","start_time":"2025-11-25T10:30:00Z",
            "external_call_id":"CALL-12345","external_system":"YourDialer","next_follow_up":"2025-11-27",
            "next_follow_up_time":"14:00:00","auto_call_followup":true,"call_details":{"tags":["premium"]}}"#).unwrap();
        assert_eq!(record.next_follow_up.unwrap().to_string(), "2025-11-27");
        assert_eq!(record.next_follow_up_time.unwrap().to_string(), "14:00:00");
        assert_eq!(record.call_details.unwrap()["tags"][0], "premium");
    }

    #[test]
    fn formats_are_checked() {
        let Err(ContractError::Fields(errors)) = parse(
            br#"{"company_id":"your-company-uuid","outcome":"maybe","duration_seconds":-5,
            "next_follow_up":"27/11/2025","next_follow_up_time":"2pm","call_details":"none"}"#,
        ) else {
            panic!("expected field errors")
        };
        for field in [
            "company_id",
            "outcome",
            "duration_seconds",
            "next_follow_up",
            "next_follow_up_time",
            "call_details",
        ] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        let Err(ContractError::Fields(errors)) = parse(b"{}") else {
            panic!()
        };
        assert_eq!(errors.summary(), "company_id: This field is required.");
    }
}
