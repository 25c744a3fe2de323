//! What a refused body gets back: per-field messages in the shape the
//! contracts document, and the messages themselves.

use std::collections::BTreeMap;

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
