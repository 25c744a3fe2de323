//! JSON Schema (2020-12, the dialect of OpenAPI 3.1) for what each
//! [`FieldReader`](super::FieldReader) method accepts. Each contract builds
//! its body's schema from these, next to its parser, and the edge publishes
//! them in `/openapi.json`: the document says what the edge accepts, field
//! by field. The API tester (`ingest/tests/suite/api_tester.rs`) holds the two
//! together.
//!
//! Three checks no pattern can state are named formats, each the very
//! function the parsers call ([`FORMATS`]): a tool that does not know a
//! format accepts any string there, as JSON Schema says it must.

use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// A phone number libphonenumber finds valid; one without a country code
/// is read as Indian ([`crate::phone::to_e164`]).
pub const PHONE: &str = "phone";
/// A WhatsApp id: a full international number, `+` optional
/// ([`crate::phone::from_wa_id`]).
pub const WHATSAPP_ID: &str = "whatsapp-id";
/// An ISO 8601 date-time: RFC 3339, a space for the `T`, or no offset
/// (India Standard Time) ([`crate::time::parse_iso8601`]).
pub const ISO8601_DATE_TIME: &str = "iso8601-date-time";

/// A named format's check.
pub type FormatCheck = fn(&str) -> bool;

/// The named formats and their checks, for a validator of the document.
pub const FORMATS: &[(&str, FormatCheck)] = &[
    (PHONE, |s| crate::phone::to_e164(s).is_some()),
    (WHATSAPP_ID, |s| crate::phone::from_wa_id(s).is_some()),
    (ISO8601_DATE_TIME, |s| {
        crate::time::parse_iso8601(s).is_some()
    }),
];

/// A non-negative amount written as text (`"100000.00"`); at most 64
/// characters, so it is always a finite number.
pub const AMOUNT_TEXT: &str =
    r"^\s*\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,2})?\s*$";
/// A non-negative integer written as text.
pub const INTEGER_TEXT: &str = r"^\s*\+?[0-9]{1,18}\s*$";
/// Unix seconds written as text (up to the year 33658).
pub const EPOCH_TEXT: &str = r"^\s*[+-]?[0-9]{1,12}\s*$";
/// A UUID, hyphenated.
pub const UUID_TEXT: &str =
    r"^\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\s*$";
/// `HH:MM` or `HH:MM:SS`.
pub const TIME_TEXT: &str = r"^\s*(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?\s*$";
/// `YYYY-MM-DD` (the day is checked too: `format: date`).
pub const DATE_TEXT: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
/// What tools that do not know [`PHONE`] can check: an Indian mobile
/// number in its usual spellings (`+91`, `91` or `0` first or not; a space
/// or dash after the prefix and between the two blocks of five digits).
/// Every number of that shape is one the edge accepts. The edge also
/// accepts any other number libphonenumber finds valid (landlines, other
/// countries' numbers with their code), which the pattern does not show.
pub const PHONE_SHAPE: &str = r"^\s*(?:\+91[ -]?|91[ -]?|0)?[6-9][0-9]{4}[ -]?[0-9]{5}\s*$";
/// What tools that do not know [`WHATSAPP_ID`] can check: an Indian mobile
/// number with its country code, `+` optional. The edge also accepts
/// other countries' numbers.
pub const WHATSAPP_ID_SHAPE: &str = r"^\s*\+?91[6-9][0-9]{9}\s*$";
/// What tools that do not know [`ISO8601_DATE_TIME`] can check: a date
/// (each month with its own days), `T` or a space, a time, and with
/// seconds an optional offset (`Z` or `±HH:MM`). Every date-time of that
/// shape is one the edge accepts; the edge also accepts 29 February in a
/// leap year, which the pattern leaves out.
pub const DATE_TIME_SHAPE: &str = concat!(
    r"^\s*[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))[T ]",
    r"(?:[01][0-9]|2[0-3]):[0-5][0-9]",
    r"(?::[0-5][0-9](?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?\s*$"
);
/// A record's id in `data`: letters, digits, `-`, `_` (trimmed).
pub const ID_TEXT: &str = r"^\s*[A-Za-z0-9_-]{1,64}\s*$";
/// The largest JSON integer read as an `i64` count.
pub const MAX_COUNT: i64 = 999_999_999_999_999_999;
/// The largest Unix seconds read (the text form's twelve digits).
pub const MAX_EPOCH: i64 = 999_999_999_999;

/// The characters the edge trims (Unicode's White_Space, as Rust's
/// `str::trim` reads it), spelled out: `\s` means another set in the
/// ECMAScript dialect JSON Schema tools use (without U+0085, with U+FEFF).
const WHITE_SPACE: &str =
    r"\t\n\x0B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// Blank text: absent, for an optional field.
static BLANK_TEXT: LazyLock<String> = LazyLock::new(|| format!("^[{WHITE_SPACE}]*$"));
/// Not blank.
static NOT_BLANK: LazyLock<String> = LazyLock::new(|| format!("[^{WHITE_SPACE}]"));

/// `schema`, or JSON null.
pub fn nullable(schema: Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some(kind) => {
            let mut schema = schema.clone();
            schema["type"] = json!([kind, "null"]);
            schema
        }
        None => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

/// `schema`, or blank text of at most `max` characters (which an optional
/// field reads as absent).
fn blank_or(max: usize, schema: Value) -> Value {
    json!({"anyOf": [{"type": "string", "maxLength": max, "pattern": *BLANK_TEXT}, schema]})
}

/// Adds a description.
pub fn describe(mut schema: Value, description: &str) -> Value {
    schema["description"] = Value::from(description);
    schema
}

/// [`FieldReader::optional_str`](super::FieldReader::optional_str).
pub fn text(max: usize) -> Value {
    json!({"type": ["string", "null"], "maxLength": max})
}

/// [`FieldReader::required_str`](super::FieldReader::required_str).
pub fn required_text(max: usize) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": *NOT_BLANK})
}

fn choices_pattern(choices: &[&str], optional: bool) -> String {
    let names: Vec<String> = choices.iter().map(|c| regex::escape(c)).collect();
    format!(
        r"^\s*(?:{}){}\s*$",
        names.join("|"),
        if optional { "?" } else { "" }
    )
}

/// [`FieldReader::optional_choice`](super::FieldReader::optional_choice).
pub fn choice(choices: &[&str]) -> Value {
    json!({
        "type": ["string", "null"],
        "maxLength": super::MAX_ID_CHARS,
        "pattern": choices_pattern(choices, true),
        "examples": choices,
        "description": format!("One of: {}. Blank is absent.", choices.join(", ")),
    })
}

/// [`FieldReader::required_choice`](super::FieldReader::required_choice).
pub fn required_choice(choices: &[&str]) -> Value {
    json!({
        "type": "string",
        "maxLength": super::MAX_ID_CHARS,
        "pattern": choices_pattern(choices, false),
        "examples": choices,
        "description": format!("One of: {}.", choices.join(", ")),
    })
}

/// [`FieldReader::optional_datetime`](super::FieldReader::optional_datetime).
pub fn datetime() -> Value {
    nullable(blank_or(64, required_datetime()))
}

/// [`FieldReader::required_datetime`](super::FieldReader::required_datetime).
pub fn required_datetime() -> Value {
    json!({
        "type": "string",
        "minLength": 16,
        "maxLength": 64,
        "pattern": DATE_TIME_SHAPE,
        "format": ISO8601_DATE_TIME,
        "description": "ISO 8601: RFC 3339, or a space for the T, or no offset (India Standard Time). The pattern shows the shape; 29 February of a leap year is accepted too.",
    })
}

/// [`FieldReader::required_phone`](super::FieldReader::required_phone).
pub fn phone() -> Value {
    json!({
        "type": "string",
        "maxLength": 64,
        "pattern": PHONE_SHAPE,
        "format": PHONE,
        "description": "A phone number libphonenumber finds valid; without a country code it is read as Indian. The pattern shows Indian mobile numbers; landlines and other countries' numbers with their code are accepted too.",
    })
}

/// A WhatsApp id ([`crate::phone::from_wa_id`]).
pub fn whatsapp_id() -> Value {
    json!({
        "type": "string",
        "maxLength": 32,
        "pattern": WHATSAPP_ID_SHAPE,
        "format": WHATSAPP_ID,
        "description": "A full international number, + optional. The pattern shows Indian mobile numbers; other countries' are accepted too.",
    })
}

/// A non-negative integer, or text holding one.
pub fn non_negative() -> Value {
    nullable(json!({"anyOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_COUNT},
        {"type": "string", "pattern": INTEGER_TEXT},
    ]}))
}

/// A non-negative amount, or text holding one.
pub fn amount() -> Value {
    nullable(json!({"anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "maxLength": 64, "pattern": AMOUNT_TEXT},
    ]}))
}

/// Unix seconds, as an integer or text.
pub fn epoch() -> Value {
    json!({"anyOf": [
        {"type": "integer", "minimum": -MAX_EPOCH, "maximum": MAX_EPOCH},
        {"type": "string", "pattern": EPOCH_TEXT},
    ]})
}

/// A record's id in `data`: a whole number, or text of [`ID_TEXT`].
pub fn record_id() -> Value {
    json!({"anyOf": [
        {"type": "integer", "minimum": 0, "maximum": u64::MAX},
        {"type": "string", "pattern": ID_TEXT},
    ]})
}

/// [`FieldReader::optional_bool`](super::FieldReader::optional_bool).
pub fn flag() -> Value {
    json!({"enum": [true, false, "true", "false", null]})
}

/// [`FieldReader::optional_uuid`](super::FieldReader::optional_uuid).
pub fn uuid() -> Value {
    nullable(blank_or(64, required_uuid()))
}

/// [`FieldReader::required_uuid`](super::FieldReader::required_uuid).
pub fn required_uuid() -> Value {
    json!({"type": "string", "maxLength": 64, "pattern": UUID_TEXT})
}

/// [`FieldReader::optional_date`](super::FieldReader::optional_date).
pub fn date() -> Value {
    nullable(blank_or(
        32,
        json!({"type": "string", "pattern": DATE_TEXT, "format": "date"}),
    ))
}

/// [`FieldReader::optional_time`](super::FieldReader::optional_time).
pub fn time() -> Value {
    nullable(blank_or(
        32,
        json!({"type": "string", "maxLength": 32, "pattern": TIME_TEXT}),
    ))
}

/// [`FieldReader::optional_object`](super::FieldReader::optional_object).
pub fn object_field() -> Value {
    json!({"type": ["object", "null"]})
}

/// An object with these fields (others are allowed and kept as sent).
pub fn object(properties: &[(&str, Value)], required: &[&str]) -> Value {
    let properties: Map<String, Value> = properties
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": true,
    })
}

/// A field not chosen among aliases: absent, null or blank.
fn unchosen() -> Value {
    json!({"anyOf": [{"type": "null"}, {"type": "string", "pattern": *BLANK_TEXT}]})
}

/// One field under any of `aliases`, the first that holds a value (see
/// [`FieldReader::first_alias`](super::FieldReader::first_alias)) read as
/// `chosen`; with `required`, one of them must hold one.
pub fn aliases(aliases: &[&str], chosen: &Value, required: bool) -> Value {
    let mut branches: Vec<Value> = (0..aliases.len())
        .map(|i| {
            let mut properties: Vec<(&str, Value)> =
                aliases[..i].iter().map(|a| (*a, unchosen())).collect();
            properties.push((aliases[i], chosen.clone()));
            object(&properties, &[aliases[i]])
        })
        .collect();
    if !required {
        let none: Vec<(&str, Value)> = aliases.iter().map(|a| (*a, unchosen())).collect();
        branches.push(object(&none, &[]));
    }
    json!({"anyOf": branches})
}

/// At least one of `fields` holds a value (not null, not blank).
pub fn one_of_present(fields: &[&str]) -> Value {
    let branches: Vec<Value> = fields
        .iter()
        .map(|f| object(&[(f, json!({"not": unchosen()}))], &[f]))
        .collect();
    json!({"anyOf": branches})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_patterns_compile_and_mean_what_they_say() {
        let amount = regex::Regex::new(AMOUNT_TEXT).unwrap();
        for ok in ["100000.00", " 5 ", "+.5", "5.", "1e5", "2.5E-3"] {
            assert!(amount.is_match(ok), "{ok}");
            let parsed: f64 = ok.trim().parse().unwrap();
            assert!(parsed.is_finite(), "{ok}");
        }
        for bad in ["-1", "", "1e999", "abc", "NaN", "inf", "1,000"] {
            assert!(!amount.is_match(bad), "{bad}");
        }
        let time = regex::Regex::new(TIME_TEXT).unwrap();
        assert!(time.is_match("09:30") && time.is_match("23:59:59"));
        assert!(!time.is_match("24:00") && !time.is_match("9:30") && !time.is_match("10:30:60"));
        for pattern in [INTEGER_TEXT, EPOCH_TEXT, UUID_TEXT, DATE_TEXT, ID_TEXT] {
            regex::Regex::new(pattern).unwrap();
        }
    }

    #[test]
    fn choices_allow_blank_only_when_optional() {
        let optional = regex::Regex::new(&choices_pattern(&["no-answer", "busy"], true)).unwrap();
        assert!(
            optional.is_match("") && optional.is_match(" busy ") && optional.is_match("no-answer")
        );
        assert!(!optional.is_match("noanswer"));
        let required = regex::Regex::new(&choices_pattern(&["busy"], false)).unwrap();
        assert!(!required.is_match("  ") && required.is_match("busy"));
    }
}
