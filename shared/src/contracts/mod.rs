//! Partner contracts: parsing and stateless validation of each source's
//! webhook body. The edge calls these to answer 400 with the contract's
//! per-field messages; the worker calls the same code to read the body, so
//! what the edge accepts the worker can read.

pub mod tata_calls;

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Per-field validation messages, in the shape the contracts document
/// (`{"field": ["message", …]}`).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
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
                let s = s.trim();
                if s.chars().count() > max {
                    self.errors.add(
                        field,
                        format!("Ensure this field has no more than {max} characters."),
                    );
                    None
                } else {
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
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
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
