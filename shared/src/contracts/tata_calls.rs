//! Tata dealer call events: `POST /api/webhook/`
//! (`docs/contracts/tata-calls.md`).

use super::{ContractError, FieldReader, MAX_ID_CHARS, MAX_STRING_CHARS, parse_object};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// `call_status` values the contract lists.
pub const CALL_STATUSES: &[&str] = &[
    "ringing",
    "answered",
    "completed",
    "no-answer",
    "busy",
    "failed",
];
/// `lead_quality` values the contract lists.
pub const LEAD_QUALITIES: &[&str] = &["hot", "warm", "cold"];

/// The contract's disposition codes: (code, name, category).
pub const DISPOSITIONS: &[(&str, &str, &str)] = &[
    ("GEN_INQ", "General Inquiry", "inquiry"),
    ("SALES_INQ", "Sales Inquiry", "sales"),
    ("TEST_DRIVE", "Test Drive Request", "test_drive"),
    ("BOOKING", "Vehicle Booking", "booking"),
    ("SERVICE", "Service Request", "service"),
    ("FINANCE", "Finance Inquiry", "finance"),
    ("COMPLAINT", "Complaint", "complaint"),
    ("FOLLOWUP", "Follow-up Call", "followup"),
    ("EXCHANGE", "Exchange Inquiry", "sales"),
    ("PRICE", "Price Inquiry", "inquiry"),
];

const KNOWN_FIELDS: &[&str] = &[
    "call_id",
    "call_sid",
    "caller_number",
    "caller_name",
    "call_start_time",
    "call_end_time",
    "call_duration",
    "call_status",
    "staff_name",
    "staff_id",
    "recording_url",
    "disposition_code",
    "disposition_notes",
    "customer_name",
    "customer_email",
    "customer_address",
    "vehicle_model",
    "vehicle_variant",
    "is_lead",
    "lead_quality",
];

/// A call event, validated and normalised (phone in E.164, times in UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// The call's identity: later events for the same call update it.
    pub call_id: String,
    /// System call id.
    pub call_sid: Option<String>,
    /// E.164.
    pub caller_number: String,
    /// Caller's name.
    pub caller_name: Option<String>,
    /// UTC.
    pub call_start_time: DateTime<Utc>,
    /// UTC.
    pub call_end_time: Option<DateTime<Utc>>,
    /// Seconds.
    pub call_duration: Option<i64>,
    /// One of [`CALL_STATUSES`].
    pub call_status: Option<String>,
    /// Staff member who took the call.
    pub staff_name: Option<String>,
    /// Staff id.
    pub staff_id: Option<String>,
    /// Recording location.
    pub recording_url: Option<String>,
    /// Disposition code as sent (may be one the table does not list).
    pub disposition_code: Option<String>,
    /// Free-text notes.
    pub disposition_notes: Option<String>,
    /// Customer's name.
    pub customer_name: Option<String>,
    /// Customer's e-mail.
    pub customer_email: Option<String>,
    /// Customer's address.
    pub customer_address: Option<String>,
    /// Vehicle model of interest.
    pub vehicle_model: Option<String>,
    /// Vehicle variant of interest.
    pub vehicle_variant: Option<String>,
    /// Whether the dealer's system marked it a lead.
    pub is_lead: Option<bool>,
    /// One of [`LEAD_QUALITIES`].
    pub lead_quality: Option<String>,
    /// Fields the contract does not name, kept as sent.
    pub extra: Map<String, Value>,
}

impl CallEvent {
    /// The disposition's (name, category) from the contract's table.
    pub fn disposition(&self) -> Option<(&'static str, &'static str)> {
        let code = self.disposition_code.as_deref()?;
        DISPOSITIONS
            .iter()
            .find(|(c, _, _)| c.eq_ignore_ascii_case(code))
            .map(|&(_, name, category)| (name, category))
    }
}

/// Parses and validates a call-event body.
pub fn parse(body: &[u8]) -> Result<CallEvent, ContractError> {
    let object = parse_object(body)?;
    let mut r = FieldReader::new(&object);
    let call_id = r.required_str("call_id", MAX_ID_CHARS);
    let caller_number = r.required_phone("caller_number");
    let call_start_time = r.required_datetime("call_start_time");
    let call_sid = r.optional_str("call_sid", MAX_ID_CHARS);
    let caller_name = r.optional_str("caller_name", MAX_STRING_CHARS);
    let call_end_time = r.optional_datetime("call_end_time");
    let call_duration = r.optional_non_negative("call_duration");
    let call_status = r.optional_choice("call_status", CALL_STATUSES);
    let staff_name = r.optional_str("staff_name", MAX_STRING_CHARS);
    let staff_id = r.optional_str("staff_id", MAX_ID_CHARS);
    let recording_url = r.optional_str("recording_url", MAX_STRING_CHARS);
    let disposition_code = r.optional_str("disposition_code", MAX_ID_CHARS);
    let disposition_notes = r.optional_str("disposition_notes", MAX_STRING_CHARS);
    let customer_name = r.optional_str("customer_name", MAX_STRING_CHARS);
    let customer_email = r.optional_str("customer_email", MAX_STRING_CHARS);
    let customer_address = r.optional_str("customer_address", MAX_STRING_CHARS);
    let vehicle_model = r.optional_str("vehicle_model", MAX_STRING_CHARS);
    let vehicle_variant = r.optional_str("vehicle_variant", MAX_STRING_CHARS);
    let is_lead = r.optional_bool("is_lead");
    let lead_quality = r.optional_choice("lead_quality", LEAD_QUALITIES);
    let extra = r.extra(KNOWN_FIELDS);
    r.finish(|| {
        Some(CallEvent {
            call_id: call_id?,
            call_sid,
            caller_number: caller_number?,
            caller_name,
            call_start_time: call_start_time?,
            call_end_time,
            call_duration,
            call_status,
            staff_name,
            staff_id,
            recording_url,
            disposition_code,
            disposition_notes,
            customer_name,
            customer_email,
            customer_address,
            vehicle_model,
            vehicle_variant,
            is_lead,
            lead_quality,
            extra,
        })
    })
}

/// The body's JSON Schema: what [`parse`] accepts (see [`super::schema`]).
pub fn schema() -> Value {
    use super::schema::{
        choice, datetime, describe, flag, non_negative, phone, required_datetime, required_text,
        text,
    };
    super::schema::object(
        &[
            ("call_id", required_text(MAX_ID_CHARS)),
            (
                "caller_number",
                describe(
                    phone(),
                    "With country code; a number without one is read as Indian.",
                ),
            ),
            ("call_start_time", required_datetime()),
            ("call_sid", text(MAX_ID_CHARS)),
            ("caller_name", text(MAX_STRING_CHARS)),
            ("call_end_time", datetime()),
            ("call_duration", non_negative()),
            ("call_status", choice(CALL_STATUSES)),
            ("staff_name", text(MAX_STRING_CHARS)),
            ("staff_id", text(MAX_ID_CHARS)),
            ("recording_url", text(MAX_STRING_CHARS)),
            (
                "disposition_code",
                describe(
                    text(MAX_ID_CHARS),
                    "GEN_INQ, SALES_INQ, TEST_DRIVE, BOOKING, SERVICE, FINANCE, COMPLAINT, FOLLOWUP, EXCHANGE, PRICE",
                ),
            ),
            ("disposition_notes", text(MAX_STRING_CHARS)),
            ("customer_name", text(MAX_STRING_CHARS)),
            ("customer_email", text(MAX_STRING_CHARS)),
            ("customer_address", text(MAX_STRING_CHARS)),
            ("vehicle_model", text(MAX_STRING_CHARS)),
            ("vehicle_variant", text(MAX_STRING_CHARS)),
            ("is_lead", flag()),
            ("lead_quality", choice(LEAD_QUALITIES)),
        ],
        &["call_id", "caller_number", "call_start_time"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::messages;

    fn field_errors(body: &str) -> crate::contracts::FieldErrors {
        match parse(body.as_bytes()) {
            Err(ContractError::Fields(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn the_minimal_example_is_accepted_and_normalised() {
        let call = parse(
            br#"{"call_id":"UNIQUE-CALL-ID","caller_number":"9876543210","call_start_time":"2025-11-07T22:00:00+05:30"}"#,
        )
        .unwrap();
        assert_eq!(call.caller_number, "+919876543210");
        assert_eq!(
            call.call_start_time.to_rfc3339(),
            "2025-11-07T16:30:00+00:00"
        );
    }

    #[test]
    fn every_missing_required_field_is_reported_at_once() {
        let errors = field_errors("{}");
        for field in ["call_id", "caller_number", "call_start_time"] {
            assert_eq!(
                errors.get(field),
                Some(&[messages::REQUIRED.to_string()][..])
            );
        }
    }

    #[test]
    fn wrong_types_and_values_get_field_messages() {
        let errors = field_errors(
            r#"{"call_id":5,"caller_number":"12","call_start_time":"07-11-2025 4:30 PM",
                "call_duration":-1,"call_status":"done","is_lead":"yes"}"#,
        );
        assert_eq!(errors.get("call_id").unwrap()[0], messages::NOT_STRING);
        assert_eq!(errors.get("caller_number").unwrap()[0], messages::PHONE);
        assert_eq!(
            errors.get("call_start_time").unwrap()[0],
            messages::DATETIME
        );
        assert_eq!(
            errors.get("call_duration").unwrap()[0],
            messages::NON_NEGATIVE
        );
        assert_eq!(
            errors.get("call_status").unwrap()[0],
            "\"done\" is not a valid choice."
        );
        assert_eq!(errors.get("is_lead").unwrap()[0], messages::BOOLEAN);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let call = parse(
            br#"{"call_id":"A","caller_number":"+919876543210","call_start_time":"2025-11-07T16:30:00Z","campaign":"diwali"}"#,
        )
        .unwrap();
        assert_eq!(call.extra.get("campaign"), Some(&Value::from("diwali")));
    }

    #[test]
    fn dispositions_resolve_from_the_table() {
        let mut call = parse(
            br#"{"call_id":"A","caller_number":"+919876543210","call_start_time":"2025-11-07T16:30:00Z","disposition_code":"SALES_INQ"}"#,
        )
        .unwrap();
        assert_eq!(call.disposition(), Some(("Sales Inquiry", "sales")));
        call.disposition_code = Some("NOPE".into());
        assert_eq!(call.disposition(), None);
    }
}
