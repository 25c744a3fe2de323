//! Partner contracts: parsing and stateless validation of each source's
//! webhook body. The edge calls these to answer 400 with the contract's
//! per-field messages; the worker calls the same code to read the body, so
//! what the edge accepts the worker can read.

pub mod call_capture;
pub mod crm_events;
pub mod crm_fields;
pub mod digital_leads;
pub mod schema;
pub mod tata_calls;
pub mod tata_whatsapp;

use regex::Regex;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A pattern of [`schema`], compiled once.
fn pattern(source: &'static str) -> Regex {
    Regex::new(source).unwrap_or_else(|e| unreachable!("{source} is a valid pattern: {e}"))
}

static AMOUNT_TEXT: LazyLock<Regex> = LazyLock::new(|| pattern(schema::AMOUNT_TEXT));
static INTEGER_TEXT: LazyLock<Regex> = LazyLock::new(|| pattern(schema::INTEGER_TEXT));
static EPOCH_TEXT: LazyLock<Regex> = LazyLock::new(|| pattern(schema::EPOCH_TEXT));
static UUID_TEXT: LazyLock<Regex> = LazyLock::new(|| pattern(schema::UUID_TEXT));
static TIME_TEXT: LazyLock<Regex> = LazyLock::new(|| pattern(schema::TIME_TEXT));
static DATE_TEXT: LazyLock<Regex> = LazyLock::new(|| pattern(schema::DATE_TEXT));

/// A JSON number as a whole number, as JSON Schema's `integer` reads it
/// (`5.0` is one), from `i64::MIN` up to `u64::MAX`.
pub fn whole(number: &serde_json::Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
        .or_else(|| {
            let f = number.as_f64()?;
            (f.fract() == 0.0 && (-9.2e18..1.8e19).contains(&f)).then_some(f as i128)
        })
}

/// A JSON number as an integer (see [`whole`]) within `min..=max`.
pub fn integer(number: &serde_json::Number, min: i64, max: i64) -> Option<i64> {
    let value = whole(number)?;
    (i128::from(min)..=i128::from(max))
        .contains(&value)
        .then(|| i64::try_from(value).ok())
        .flatten()
}

/// Unix seconds, as JSON Schema [`schema::epoch`] states them.
pub fn epoch_seconds(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) if EPOCH_TEXT.is_match(s) => s.trim().parse().ok(),
        Value::Number(n) => integer(n, -schema::MAX_EPOCH, schema::MAX_EPOCH),
        _ => None,
    }
}

/// Every request body's JSON Schema by its name in `/openapi.json`
/// (`components/schemas`, which `refs` points at): what each contract's
/// parser accepts. CRM events sent to their own endpoint are
/// `CrmEvent.<event>`; the generic endpoint's body is `CrmWebhook`.
pub fn schemas(refs: &str) -> Vec<(String, Value)> {
    let mut all: Vec<(String, Value)> = vec![
        ("TataCall".into(), tata_calls::schema()),
        (
            "DigitalLeadCarDekho".into(),
            digital_leads::schema(digital_leads::Platform::CarDekho),
        ),
        (
            "DigitalLeadCarWale".into(),
            digital_leads::schema(digital_leads::Platform::CarWale),
        ),
        ("CallCapture".into(), call_capture::schema()),
        ("CrmWebhook".into(), crm_events::generic_schema()),
    ];
    all.extend(
        tata_whatsapp::schemas(refs)
            .into_iter()
            .map(|(name, schema)| (name.to_owned(), schema)),
    );
    all.extend(
        crm_events::Event::ALL
            .iter()
            .filter(|event| event.route().is_some())
            .map(|&event| {
                (
                    format!("CrmEvent.{}", event.name()),
                    crm_events::event_schema(event, false),
                )
            }),
    );
    all
}

/// Per-field validation messages, in the shape the contracts document
/// (`{"field": ["message", …]}`).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// Fields with problems, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// True when every problem is a missing (absent, null or blank) field.
    pub fn only_missing(&self) -> bool {
        self.0
            .values()
            .flatten()
            .all(|m| [messages::REQUIRED, messages::NULL, messages::BLANK].contains(&m.as_str()))
    }

    /// One line per problem, `field: message`, joined with "; ".
    pub fn summary(&self) -> String {
        self.fields()
            .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field}: {m}")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Adds another reader's problems under `prefix` (for nested objects).
    pub fn absorb(&mut self, prefix: &str, other: FieldErrors) {
        for (field, messages) in other.0 {
            for message in messages {
                let name = if prefix.is_empty() {
                    field.clone()
                } else {
                    format!("{prefix}.{field}")
                };
                self.add(&name, message);
            }
        }
    }

    /// Records a message against a field.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// True when no field failed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The messages for one field.
    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.0.get(field).map(Vec::as_slice)
    }
}

/// Why a body is not an acceptable webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Not JSON at all.
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    /// JSON, but not an object.
    #[error("body must be a JSON object")]
    NotAnObject,
    /// An object with missing or invalid fields.
    #[error("invalid fields: {0:?}")]
    Fields(FieldErrors),
}

/// DRF-style messages, as the contracts quote them.
pub mod messages {
    /// A required field is absent.
    pub const REQUIRED: &str = "This field is required.";
    /// A required field is null.
    pub const NULL: &str = "This field may not be null.";
    /// A required string is empty.
    pub const BLANK: &str = "This field may not be blank.";
    /// A string field holds another type.
    pub const NOT_STRING: &str = "Not a valid string.";
    /// A date-time is not ISO 8601.
    pub const DATETIME: &str = "Datetime has wrong format. Use ISO 8601.";
    /// An integer field holds something else.
    pub const INTEGER: &str = "A valid integer is required.";
    /// A negative count or duration.
    pub const NON_NEGATIVE: &str = "Ensure this value is greater than or equal to 0.";
    /// A boolean field holds something else.
    pub const BOOLEAN: &str = "Must be a valid boolean.";
    /// A phone number that no numbering plan knows.
    pub const PHONE: &str = "Enter a valid phone number with country code.";
    /// A UUID field holds something else.
    pub const UUID: &str = "Must be a valid UUID.";
    /// A date is not `YYYY-MM-DD`.
    pub const DATE: &str = "Date has wrong format. Use YYYY-MM-DD.";
    /// A time is not `HH:MM:SS`.
    pub const TIME: &str = "Time has wrong format. Use HH:MM:SS.";
    /// An object field holds something else.
    pub const OBJECT: &str = "Must be a JSON object.";
    /// A number field holds something else.
    pub const NUMBER: &str = "A valid number is required.";
}

/// Parses a body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ContractError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ContractError::NotAnObject),
        Err(error) => Err(ContractError::MalformedJson(error.to_string())),
    }
}

/// Reads typed fields out of a JSON object, collecting every problem instead
/// of stopping at the first, so a partner sees all its mistakes at once.
pub struct FieldReader<'a> {
    object: &'a Map<String, Value>,
    /// Problems found so far.
    pub errors: FieldErrors,
}

/// Longest string accepted in any field: generous for notes, small enough
/// that a field cannot carry the whole body limit into one database column.
pub const MAX_STRING_CHARS: usize = 10_000;
/// Longest identifier (ids are unique keys in the database).
pub const MAX_ID_CHARS: usize = 255;

impl<'a> FieldReader<'a> {
    /// A reader over `object`.
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            errors: FieldErrors::default(),
        }
    }

    fn present(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    /// A required, non-blank string of at most `max` characters.
    pub fn required_str(&mut self, field: &str, max: usize) -> Option<String> {
        match self.object.get(field) {
            None => {
                self.errors.add(field, messages::REQUIRED);
                None
            }
            Some(Value::Null) => {
                self.errors.add(field, messages::NULL);
                None
            }
            Some(_) => {
                let value = self.optional_str(field, max);
                if value.is_none() && self.errors.get(field).is_none() {
                    self.errors.add(field, messages::BLANK);
                }
                value
            }
        }
    }

    /// An optional string; blank counts as absent.
    pub fn optional_str(&mut self, field: &str, max: usize) -> Option<String> {
        match self.present(field)? {
            Value::String(s) => {
                if s.chars().count() > max {
                    self.errors.add(
                        field,
                        format!("Ensure this field has no more than {max} characters."),
                    );
                    None
                } else {
                    let s = s.trim();
                    (!s.is_empty()).then(|| s.to_owned())
                }
            }
            _ => {
                self.errors.add(field, messages::NOT_STRING);
                None
            }
        }
    }

    /// An optional string from a fixed list of choices.
    pub fn optional_choice(&mut self, field: &str, choices: &[&str]) -> Option<String> {
        let value = self.optional_str(field, MAX_ID_CHARS)?;
        if choices.contains(&value.as_str()) {
            Some(value)
        } else {
            self.errors
                .add(field, format!("\"{value}\" is not a valid choice."));
            None
        }
    }

    /// A required ISO 8601 date-time, normalised to UTC.
    pub fn required_datetime(&mut self, field: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let raw = self.required_str(field, 64)?;
        self.datetime(field, &raw)
    }

    /// An optional ISO 8601 date-time, normalised to UTC.
    pub fn optional_datetime(&mut self, field: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let raw = self.optional_str(field, 64)?;
        self.datetime(field, &raw)
    }

    fn datetime(&mut self, field: &str, raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let parsed = crate::time::parse_iso8601(raw);
        if parsed.is_none() {
            self.errors.add(field, messages::DATETIME);
        }
        parsed
    }

    /// A required phone number, normalised to E.164.
    pub fn required_phone(&mut self, field: &str) -> Option<String> {
        let raw = self.required_str(field, 64)?;
        let phone = crate::phone::to_e164(&raw);
        if phone.is_none() {
            self.errors.add(field, messages::PHONE);
        }
        phone
    }

    /// An optional non-negative integer (a JSON number or a string of digits).
    pub fn optional_non_negative(&mut self, field: &str) -> Option<i64> {
        let value = match self.present(field)? {
            Value::Number(n) => integer(n, i64::MIN, schema::MAX_COUNT),
            Value::String(s) if INTEGER_TEXT.is_match(s) => s.trim().parse().ok(),
            _ => None,
        };
        match value {
            None => {
                self.errors.add(field, messages::INTEGER);
                None
            }
            Some(v) if v < 0 => {
                self.errors.add(field, messages::NON_NEGATIVE);
                None
            }
            Some(v) => Some(v),
        }
    }

    /// An optional boolean (`true`/`false`, or those words as strings).
    pub fn optional_bool(&mut self, field: &str) -> Option<bool> {
        match self.present(field)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            _ => {
                self.errors.add(field, messages::BOOLEAN);
                None
            }
        }
    }

    /// The first of `aliases` that holds a non-blank value, for contracts
    /// that accept one field under several names.
    pub fn first_alias(&self, aliases: &[&'static str]) -> Option<&'static str> {
        aliases
            .iter()
            .copied()
            .find(|alias| match self.present(alias) {
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(_) => true,
                None => false,
            })
    }

    /// A required value under any of `aliases`; reported against the first.
    pub fn required_alias(&mut self, aliases: &[&'static str], max: usize) -> Option<String> {
        match self.first_alias(aliases) {
            Some(alias) => self.required_str(alias, max),
            None => {
                self.errors.add(aliases[0], messages::REQUIRED);
                None
            }
        }
    }

    /// An optional value under any of `aliases`.
    pub fn optional_alias(&mut self, aliases: &[&'static str], max: usize) -> Option<String> {
        let alias = self.first_alias(aliases)?;
        self.optional_str(alias, max)
    }

    /// A required UUID.
    pub fn required_uuid(&mut self, field: &str) -> Option<uuid::Uuid> {
        let raw = self.required_str(field, 64)?;
        self.uuid(field, &raw)
    }

    /// An optional UUID.
    pub fn optional_uuid(&mut self, field: &str) -> Option<uuid::Uuid> {
        let raw = self.optional_str(field, 64)?;
        self.uuid(field, &raw)
    }

    fn uuid(&mut self, field: &str, raw: &str) -> Option<uuid::Uuid> {
        let parsed = UUID_TEXT
            .is_match(raw)
            .then(|| uuid::Uuid::parse_str(raw.trim()).ok())
            .flatten();
        if parsed.is_none() {
            self.errors.add(field, messages::UUID);
        }
        parsed
    }

    /// An optional `YYYY-MM-DD` date.
    pub fn optional_date(&mut self, field: &str) -> Option<chrono::NaiveDate> {
        // The date as sent, untrimmed: `format: date` allows no spaces.
        let sent = self.present(field).and_then(Value::as_str).unwrap_or("");
        let sent_shape = DATE_TEXT.is_match(sent);
        let raw = self.optional_str(field, 32)?;
        let parsed = sent_shape
            .then(|| chrono::NaiveDate::parse_from_str(&raw, "%Y-%m-%d").ok())
            .flatten();
        if parsed.is_none() {
            self.errors.add(field, messages::DATE);
        }
        parsed
    }

    /// An optional `HH:MM:SS` time (`HH:MM` accepted too).
    pub fn optional_time(&mut self, field: &str) -> Option<chrono::NaiveTime> {
        let raw = self.optional_str(field, 32)?;
        let parsed = TIME_TEXT
            .is_match(&raw)
            .then(|| {
                chrono::NaiveTime::parse_from_str(&raw, "%H:%M:%S")
                    .or_else(|_| chrono::NaiveTime::parse_from_str(&raw, "%H:%M"))
                    .ok()
            })
            .flatten();
        if parsed.is_none() {
            self.errors.add(field, messages::TIME);
        }
        parsed
    }

    /// An optional JSON object, kept as sent.
    pub fn optional_object(&mut self, field: &str) -> Option<Map<String, Value>> {
        match self.present(field)? {
            Value::Object(map) => Some(map.clone()),
            _ => {
                self.errors.add(field, messages::OBJECT);
                None
            }
        }
    }

    /// An optional non-negative amount (a JSON number or a numeric string).
    pub fn optional_amount(&mut self, field: &str) -> Option<f64> {
        let value = match self.present(field)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.chars().count() <= 64 && AMOUNT_TEXT.is_match(s) => {
                s.trim().parse::<f64>().ok()
            }
            _ => None,
        };
        match value.filter(|v| v.is_finite()) {
            None => {
                self.errors.add(field, messages::NUMBER);
                None
            }
            Some(v) if v < 0.0 => {
                self.errors.add(field, messages::NON_NEGATIVE);
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A required string from a fixed list of choices.
    pub fn required_choice(&mut self, field: &str, choices: &[&str]) -> Option<String> {
        match self.object.get(field) {
            None | Some(Value::Null) => {
                self.errors.add(field, messages::REQUIRED);
                None
            }
            Some(_) => {
                let value = self.optional_choice(field, choices);
                if value.is_none() && self.errors.get(field).is_none() {
                    self.errors.add(field, messages::BLANK);
                }
                value
            }
        }
    }

    /// The fields not in `known`, kept verbatim.
    pub fn extra(&self, known: &[&str]) -> Map<String, Value> {
        self.object
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `Ok(value)` when no field failed.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ContractError> {
        if !self.errors.is_empty() {
            return Err(ContractError::Fields(self.errors));
        }
        // Every required field was read without error, so `value` has them all.
        value().ok_or_else(|| ContractError::Fields(FieldErrors::default()))
    }
}

#[cfg(test)]
mod fuzz {
    //! Random JSON shaped like the contracts (their field names, any value
    //! types, nested at random) and random bytes: parsers must answer
    //! `Ok` or `Err`, never panic.

    use super::*;
    use proptest::prelude::*;

    const KEYS: &[&str] = &[
        "call_id",
        "caller_number",
        "call_start_time",
        "call_end_time",
        "call_duration",
        "call_status",
        "is_lead",
        "lead_quality",
        "disposition_code",
        "contacts",
        "messages",
        "statuses",
        "from",
        "id",
        "timestamp",
        "type",
        "text",
        "body",
        "status",
        "recipient_id",
        "wa_id",
        "profile",
        "name",
        "customer_name",
        "contact_name",
        "phone_number",
        "mobile",
        "phone",
        "company_id",
        "lead_id",
        "outcome",
        "duration_seconds",
        "next_follow_up",
        "next_follow_up_time",
        "auto_call_followup",
        "call_details",
        "event",
        "source",
        "data",
        "lead_status",
        "priority",
        "memo_type",
        "activity_type",
        "pre_lead_id",
        "customer_id",
        "customer_code",
        "amount",
        "budget",
        "image",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,24}".prop_map(Value::from),
            prop::sample::select(vec![
                "2025-11-07T16:30:00Z",
                "+919876543210",
                "9876543210",
                "1744109205",
                "text",
                "new_lead",
                "lead_status_update",
                "completed",
                "123e4567-e89b-12d3-a456-426614174000",
                "2025-11-27",
                "14:00:00",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(str::to_owned),
                        "[a-z_]{1,10}"
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn parse_all(body: &[u8]) {
        use crate::contracts::crm_events::Event;
        let _ = tata_calls::parse(body);
        let _ = tata_whatsapp::parse(body);
        let _ = digital_leads::parse(digital_leads::Platform::CarDekho, body);
        let _ = digital_leads::parse(digital_leads::Platform::CarWale, body);
        let _ = call_capture::parse(body);
        let _ = crm_events::parse(body, None);
        for event in Event::ALL {
            let _ = crm_events::parse(body, Some((*event, Some("789".into()))));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn parsers_never_panic_on_contract_shaped_json(value in json()) {
            parse_all(value.to_string().as_bytes());
        }

        #[test]
        fn parsers_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            parse_all(&bytes);
        }
    }
}
