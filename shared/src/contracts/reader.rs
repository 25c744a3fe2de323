//! Reading a body: JSON to an object, and typed fields out of it with
//! every problem collected ([`FieldReader`]), by the patterns and bounds
//! `/openapi.json` publishes.

use super::errors::{ContractError, FieldErrors, messages};
use super::schema;
use regex::Regex;
use serde_json::{Map, Value};
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
