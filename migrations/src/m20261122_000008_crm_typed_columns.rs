//! The CRM contract's fields in typed columns (names, e-mail, phone in
//! E.164, company, city, expected value, …), so staff and other systems
//! query CRM records without reading JSON. `data` keeps every field sent.
//! Records stored before this migration are filled from their `data`.
//!
//! Frozen: the columns and the way each is read from `data` are written
//! out here as they stood when this migration first ran, so that a later
//! change to the contract code (`shared::contracts::crm_fields`) cannot
//! change what this migration does. A new typed field is a new migration.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, Region};
use sea_orm::{ConnectionTrait, QueryResult, Value as Db};
use sea_orm_migration::prelude::*;
use serde_json::{Map, Value};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How a column reads its value from a record's `data`.
#[derive(Clone, Copy)]
enum FieldKind {
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

use FieldKind::{Flag, Number, Phone, Text, Time};

/// Pre-leads and leads.
const PERSON_FIELDS: &[(&str, FieldKind)] = &[
    ("first_name", Text),
    ("last_name", Text),
    ("email", Text),
    ("phone", Phone),
    ("company_name", Text),
    ("source", Text),
    ("product_interest", Text),
    ("requirements", Text),
    ("expected_value", Number),
    ("assigned_to", Text),
    ("address_line1", Text),
    ("address_line2", Text),
    ("city", Text),
    ("state", Text),
    ("country", Text),
    ("zip_code", Text),
    ("notes", Text),
];

/// Contacts of a pre-lead or lead.
const CONTACT_FIELDS: &[(&str, FieldKind)] = &[
    ("first_name", Text),
    ("last_name", Text),
    ("email", Text),
    ("phone", Phone),
    ("designation", Text),
    ("department", Text),
    ("is_primary", Flag),
];

/// Memos.
const MEMO_FIELDS: &[(&str, FieldKind)] = &[("title", Text), ("content", Text)];

/// Activities.
const ACTIVITY_FIELDS: &[(&str, FieldKind)] = &[
    ("title", Text),
    ("description", Text),
    ("scheduled_at", Time),
    ("completed_at", Time),
    ("outcome", Text),
];

/// A lead's qualified profile.
const PROFILE_FIELDS: &[(&str, FieldKind)] = &[
    ("profile_type", Text),
    ("company", Text),
    ("industry", Text),
    ("contact_name", Text),
    ("designation", Text),
    ("phone", Phone),
    ("email", Text),
    ("need_type", Text),
    ("current_solution", Text),
    ("pain_point", Text),
    ("budget", Number),
    ("decision_timeline", Text),
    ("decision_maker", Text),
    ("competitor_info", Text),
    ("notes", Text),
];

/// Customers.
const CUSTOMER_FIELDS: &[(&str, FieldKind)] = &[
    ("credit_limit", Number),
    ("payment_terms", Text),
    ("notes", Text),
];

/// Every table this migration gives typed columns, and its columns (each
/// named as the field in `data` it reads).
const TABLES: &[(&str, &[(&str, FieldKind)])] = &[
    ("crm_pre_leads", PERSON_FIELDS),
    ("crm_leads", PERSON_FIELDS),
    ("crm_contacts", CONTACT_FIELDS),
    ("crm_memos", MEMO_FIELDS),
    ("crm_activities", ACTIVITY_FIELDS),
    ("crm_qualified_profiles", PROFILE_FIELDS),
    ("crm_customers", CUSTOMER_FIELDS),
];

/// `field`'s value in `data`, as its column holds it; NULL when the field
/// is absent, null, blank or not of its kind.
fn read(data: &Map<String, Value>, field: &str, kind: FieldKind) -> Db {
    let value = data.get(field);
    let text = || match value? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match kind {
        Text => text().into(),
        Phone => text().and_then(|raw| to_e164(&raw)).into(),
        Number => match value {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
            _ => None,
        }
        .into(),
        Flag => match value {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
            Some(Value::Number(n)) => n.as_i64().map(|n| n != 0),
            _ => None,
        }
        .into(),
        Time => text().and_then(|raw| parse_iso8601(&raw)).into(),
    }
}

/// A phone number in E.164, a number without a country code read as
/// Indian (first as libphonenumber reads it for India, then as an Indian
/// national number).
fn to_e164(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 32 {
        return None;
    }
    let mut readings = vec![trimmed.to_owned()];
    if !trimmed.starts_with('+') {
        readings.push(format!("+91{trimmed}"));
    }
    readings.iter().find_map(|reading| {
        let number = PHONE_NUMBER_UTIL.parse(reading, Some(Region::IN)).ok()?;
        PHONE_NUMBER_UTIL.is_valid_number(&number).then(|| {
            PHONE_NUMBER_UTIL
                .format(&number, PhoneNumberFormat::E164)
                .into_owned()
        })
    })
}

/// An ISO 8601 date-time in UTC; one without an offset is read as India
/// Standard Time.
fn parse_iso8601(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.len() < 16 || s.len() > 40 {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    let with_t = s.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&with_t) {
        return Some(dt.with_timezone(&Utc));
    }
    let ist = FixedOffset::east_opt(5 * 3600 + 30 * 60)?;
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&with_t, format) {
            return ist
                .from_local_datetime(&naive)
                .single()
                .map(|dt| dt.with_timezone(&Utc));
        }
    }
    None
}

/// Tables whose people are looked up by phone.
const BY_PHONE: [&str; 2] = ["crm_pre_leads", "crm_leads"];

fn column(name: &str, kind: FieldKind) -> ColumnDef {
    let mut def = ColumnDef::new(Alias::new(name));
    match kind {
        FieldKind::Text | FieldKind::Phone => def.text(),
        FieldKind::Number => def.double(),
        FieldKind::Flag => def.boolean(),
        FieldKind::Time => def.timestamp_with_time_zone(),
    };
    def.null().to_owned()
}

fn data(row: &QueryResult) -> Result<Map<String, Value>, DbErr> {
    let value: Value = row.try_get("", "data")?;
    Ok(match value {
        Value::Object(map) => map,
        // SQLite may hand JSON back as text.
        Value::String(text) => serde_json::from_str(&text).unwrap_or_default(),
        _ => Map::new(),
    })
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, fields) in TABLES {
            // One column per statement: SQLite adds one at a time.
            for (name, kind) in *fields {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(*table))
                            .add_column(column(name, *kind))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        for table in BY_PHONE {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_{table}_phone"))
                        .table(Alias::new(table))
                        .col(Alias::new("phone"))
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        for (table, fields) in TABLES {
            let rows = db
                .query_all(
                    &Query::select()
                        .columns([Alias::new("id"), Alias::new("data")])
                        .from(Alias::new(*table))
                        .to_owned(),
                )
                .await?;
            for row in rows {
                let id: String = row.try_get("", "id")?;
                let mut update = Query::update();
                update
                    .table(Alias::new(*table))
                    .and_where(Expr::col(Alias::new("id")).eq(id));
                let data = data(&row)?;
                for (name, kind) in *fields {
                    update.value(Alias::new(*name), read(&data, name, *kind));
                }
                db.execute(&update).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in BY_PHONE {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_{table}_phone"))
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        for (table, fields) in TABLES {
            for (name, _) in *fields {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new(*table))
                            .drop_column(Alias::new(*name))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn each_kind_reads_what_the_contract_sent_and_nothing_else() {
        let d = data(json!({
            "phone": "098765 43210", "assigned_to": 3, "expected_value": "100000.00",
            "city": "  ", "first_name": " Robert ", "email": null, "is_primary": "TRUE",
            "scheduled_at": "2024-01-20T14:00:00Z", "completed_at": "2024-01-20 19:30"
        }));
        assert_eq!(read(&d, "phone", Phone), Db::from(Some("+919876543210")));
        assert_eq!(read(&d, "assigned_to", Text), Db::from(Some("3")));
        assert_eq!(
            read(&d, "expected_value", Number),
            Db::from(Some(100_000.0_f64))
        );
        assert_eq!(read(&d, "city", Text), Db::from(None::<String>));
        assert_eq!(read(&d, "first_name", Text), Db::from(Some("Robert")));
        assert_eq!(read(&d, "email", Text), Db::from(None::<String>));
        assert_eq!(read(&d, "is_primary", Flag), Db::from(Some(true)));
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            read(&d, "scheduled_at", Time),
            Db::from(Some(utc("2024-01-20T14:00:00Z")))
        );
        // Without an offset: India Standard Time.
        assert_eq!(
            read(&d, "completed_at", Time),
            Db::from(Some(utc("2024-01-20T14:00:00Z")))
        );
        let bad = data(json!({"phone": "call me", "expected_value": "NaN", "is_primary": "maybe"}));
        assert_eq!(read(&bad, "phone", Phone), Db::from(None::<String>));
        assert_eq!(read(&bad, "expected_value", Number), Db::from(None::<f64>));
        assert_eq!(read(&bad, "is_primary", Flag), Db::from(None::<bool>));
    }

    #[test]
    fn every_table_has_its_columns_once() {
        for (table, fields) in TABLES {
            let mut names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), fields.len(), "{table}");
        }
        assert_eq!(TABLES.len(), 7);
    }
}
