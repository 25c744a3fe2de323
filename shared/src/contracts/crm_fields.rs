//! The CRM contract's fields that are stored in typed columns, next to the
//! JSON of everything the CRM sent: staff and other systems query a lead's
//! phone, city or expected value without digging in JSON. One table per
//! record kind, read by the worker when it writes a record. A field added
//! here needs a migration that adds its column: migration 000008 keeps a
//! frozen copy of the columns it created, and a test checks that every
//! field here has a column in the migrated schema.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// How a column reads its value from an event's `data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Text, trimmed; a number is written out (`"assigned_to": 3` is `"3"`).
    Text,
    /// A phone number in E.164; anything that is not one is left out.
    Phone,
    /// A number, or text holding one (`"100000.00"`).
    Number,
    /// `true`/`false`, or their text.
    Flag,
    /// An ISO 8601 time, stored in UTC.
    Time,
}

/// One contract field and the column that holds it.
#[derive(Clone, Copy, Debug)]
pub struct TypedField {
    /// Column name; the same as the contract's field unless noted.
    pub column: &'static str,
    /// The field in `data`.
    pub field: &'static str,
    pub kind: FieldKind,
}

/// A column's value; `None` when the field is absent, null, blank or not of
/// its kind (the JSON keeps whatever was sent).
#[derive(Clone, Debug, PartialEq)]
pub enum Typed {
    Text(Option<String>),
    Number(Option<f64>),
    Flag(Option<bool>),
    Time(Option<DateTime<Utc>>),
}

const fn field(column: &'static str, kind: FieldKind) -> TypedField {
    TypedField {
        column,
        field: column,
        kind,
    }
}

use FieldKind::{Flag, Number, Phone, Text, Time};

/// Pre-leads and leads (`new_inquiry`, `new_lead`, their updates). Status
/// and priority have columns of their own, kept by the lifecycle rules.
pub const PERSON_FIELDS: &[TypedField] = &[
    field("first_name", Text),
    field("last_name", Text),
    field("email", Text),
    field("phone", Phone),
    field("company_name", Text),
    // `data.source`: where the person came from (`website`, `referral`, …).
    field("source", Text),
    field("product_interest", Text),
    field("requirements", Text),
    field("expected_value", Number),
    field("assigned_to", Text),
    field("address_line1", Text),
    field("address_line2", Text),
    field("city", Text),
    field("state", Text),
    field("country", Text),
    field("zip_code", Text),
    field("notes", Text),
];

/// Contacts of a pre-lead or lead.
pub const CONTACT_FIELDS: &[TypedField] = &[
    field("first_name", Text),
    field("last_name", Text),
    field("email", Text),
    field("phone", Phone),
    field("designation", Text),
    field("department", Text),
    field("is_primary", Flag),
];

/// Memos (their `memo_type` is the table's `kind`).
pub const MEMO_FIELDS: &[TypedField] = &[field("title", Text), field("content", Text)];

/// Activities (their `activity_type` is the table's `kind`).
pub const ACTIVITY_FIELDS: &[TypedField] = &[
    field("title", Text),
    field("description", Text),
    field("scheduled_at", Time),
    field("completed_at", Time),
    field("outcome", Text),
];

/// A lead's qualified profile.
pub const PROFILE_FIELDS: &[TypedField] = &[
    field("profile_type", Text),
    field("company", Text),
    field("industry", Text),
    field("contact_name", Text),
    field("designation", Text),
    field("phone", Phone),
    field("email", Text),
    field("need_type", Text),
    field("current_solution", Text),
    field("pain_point", Text),
    field("budget", Number),
    field("decision_timeline", Text),
    field("decision_maker", Text),
    field("competitor_info", Text),
    field("notes", Text),
];

/// Customers (`lead_convert`; `customer_code` has a column of its own).
pub const CUSTOMER_FIELDS: &[TypedField] = &[
    field("credit_limit", Number),
    field("payment_terms", Text),
    field("notes", Text),
];

/// Every table with typed CRM columns, and its fields.
pub const TABLES: &[(&str, &[TypedField])] = &[
    ("crm_pre_leads", PERSON_FIELDS),
    ("crm_leads", PERSON_FIELDS),
    ("crm_contacts", CONTACT_FIELDS),
    ("crm_memos", MEMO_FIELDS),
    ("crm_activities", ACTIVITY_FIELDS),
    ("crm_qualified_profiles", PROFILE_FIELDS),
    ("crm_customers", CUSTOMER_FIELDS),
];

impl TypedField {
    /// This field's value in `data`.
    pub fn read(&self, data: &Map<String, Value>) -> Typed {
        let value = data.get(self.field);
        let text = || match value? {
            Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        match self.kind {
            Text => Typed::Text(text()),
            Phone => Typed::Text(text().and_then(|raw| crate::phone::to_e164(&raw))),
            Number => Typed::Number(match value {
                Some(Value::Number(n)) => n.as_f64(),
                Some(Value::String(s)) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
                _ => None,
            }),
            Flag => Typed::Flag(match value {
                Some(Value::Bool(b)) => Some(*b),
                Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Some(true),
                    "false" | "0" | "no" => Some(false),
                    _ => None,
                },
                Some(Value::Number(n)) => n.as_i64().map(|n| n != 0),
                _ => None,
            }),
            Time => Typed::Time(text().and_then(|raw| crate::time::parse_iso8601(&raw))),
        }
    }
}

/// Every typed column of `fields` with its value in `data`.
pub fn read_all(fields: &[TypedField], data: &Map<String, Value>) -> Vec<(&'static str, Typed)> {
    fields.iter().map(|f| (f.column, f.read(data))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn value(fields: &[TypedField], column: &str, data: &Map<String, Value>) -> Typed {
        read_all(fields, data)
            .into_iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v)
            .unwrap_or(Typed::Text(None))
    }

    #[test]
    fn each_kind_reads_what_the_contract_sends_and_nothing_else() {
        let d = data(json!({
            "phone": "098765 43210", "assigned_to": 3, "expected_value": "100000.00",
            "city": "  ", "first_name": " Robert ", "email": null
        }));
        let person = |c| value(PERSON_FIELDS, c, &d);
        assert_eq!(person("phone"), Typed::Text(Some("+919876543210".into())));
        assert_eq!(person("assigned_to"), Typed::Text(Some("3".into())));
        assert_eq!(person("expected_value"), Typed::Number(Some(100000.0)));
        assert_eq!(person("city"), Typed::Text(None), "blank is no value");
        assert_eq!(person("first_name"), Typed::Text(Some("Robert".into())));
        assert_eq!(person("email"), Typed::Text(None));
        let bad = data(json!({"phone": "call me", "expected_value": "lots", "budget": "NaN"}));
        assert_eq!(value(PERSON_FIELDS, "phone", &bad), Typed::Text(None));
        assert_eq!(
            value(PERSON_FIELDS, "expected_value", &bad),
            Typed::Number(None)
        );
        assert_eq!(value(PROFILE_FIELDS, "budget", &bad), Typed::Number(None));
    }

    #[test]
    fn flags_and_times_read_their_usual_spellings() {
        let d = data(
            json!({"is_primary": "TRUE", "scheduled_at": "2024-01-20T14:00:00Z", "completed_at": "soon"}),
        );
        assert_eq!(
            value(CONTACT_FIELDS, "is_primary", &d),
            Typed::Flag(Some(true))
        );
        assert_eq!(
            value(ACTIVITY_FIELDS, "scheduled_at", &d),
            Typed::Time(crate::time::parse_iso8601("2024-01-20T14:00:00Z"))
        );
        assert_eq!(
            value(ACTIVITY_FIELDS, "completed_at", &d),
            Typed::Time(None)
        );
    }
}
