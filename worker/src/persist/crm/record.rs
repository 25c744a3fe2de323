//! A pre-lead's or lead's row: locked and read, merged, inserted and
//! updated, with the typed columns written beside `data`.

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, QueryResult, Value as Db,
};
use serde_json::{Map, Value};
use shared::contracts::crm_fields::{self, PERSON_FIELDS, Typed, TypedField};

use super::*;

/// The locked state of a pre-lead or lead.
pub(super) struct Record {
    pub(super) status: String,
    pub(super) initial_status: String,
    pub(super) discarded: bool,
    pub(super) data: Map<String, Value>,
    /// When `data` last changed (see [`merge_data`]).
    pub(super) data_event_at: Option<i64>,
    /// `converted_lead_id` of a pre-lead, `customer_id` of a lead.
    pub(super) link: Option<String>,
}

/// Merges an event's fields into stored ones: an event at least as new as
/// the last change (`stored_at`) overwrites the fields it brings; an older
/// one, applied late, only fills fields still missing. Returns the merged
/// fields and the new time of the last change.
pub(super) fn merge_data(
    stored: &Map<String, Value>,
    stored_at: Option<i64>,
    incoming: &Map<String, Value>,
    at: i64,
) -> (Map<String, Value>, i64) {
    let mut merged = stored.clone();
    match stored_at {
        Some(stored_at) if at < stored_at => {
            for (key, value) in incoming {
                merged.entry(key.clone()).or_insert_with(|| value.clone());
            }
            (merged, stored_at)
        }
        _ => {
            merged.extend(incoming.iter().map(|(k, v)| (k.clone(), v.clone())));
            (merged, at)
        }
    }
}

pub(super) fn t(name: &str) -> Alias {
    Alias::new(name)
}

pub(super) fn custom(error: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(error.to_string())
}

/// A stored JSON column as the object it must hold. Anything else is an
/// error, never an empty object: the event's fields would be merged into
/// it and written back over what was stored. The message is retried, then
/// dead-lettered with this reason, and the row stays as it is for someone
/// to look at.
pub(super) fn json_field(row: &QueryResult, column: &str) -> Result<Map<String, Value>, DbErr> {
    let value: Value = row.try_get("", column)?;
    let unreadable = |what: &str| {
        DbErr::Custom(format!(
            "the stored {column} is {what}, not a JSON object; left as it is"
        ))
    };
    match value {
        Value::Object(map) => Ok(map),
        // SQLite may hand JSON back as text.
        Value::String(text) => match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(unreadable("JSON text of another kind")),
            Err(_) => Err(unreadable("unreadable text")),
        },
        Value::Array(_) => Err(unreadable("an array")),
        Value::Null => Err(unreadable("null")),
        Value::Bool(_) | Value::Number(_) => Err(unreadable("a single value")),
    }
}

/// Reads and locks a pre-lead or lead; `None` when it does not exist (yet).
pub(super) async fn lock(
    txn: &DatabaseTransaction,
    kind: Kind,
    id: &str,
) -> Result<Option<Record>, DbErr> {
    let link = if kind.name == "lead" {
        "customer_id"
    } else {
        "converted_lead_id"
    };
    let mut query = Query::select();
    query
        .columns(
            [
                "status",
                "initial_status",
                "discarded",
                "data",
                "data_event_at",
                link,
            ]
            .map(t),
        )
        .from(t(kind.table()))
        .and_where(Expr::col(t("id")).eq(id));
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        query.lock(LockType::Update);
    }
    let Some(row) = txn.query_one(&query).await? else {
        return Ok(None);
    };
    Ok(Some(Record {
        status: row.try_get("", "status")?,
        initial_status: row.try_get("", "initial_status")?,
        discarded: row.try_get("", "discarded")?,
        data: json_field(&row, "data")?,
        data_event_at: row.try_get("", "data_event_at")?,
        link: row.try_get("", link)?,
    }))
}

pub(super) async fn insert(
    txn: &DatabaseTransaction,
    table: &str,
    values: Vec<(&str, Expr)>,
    on_conflict: OnConflict,
) -> Result<(), DbErr> {
    let (columns, values): (Vec<_>, Vec<_>) = values.into_iter().map(|(c, v)| (t(c), v)).unzip();
    let mut statement = Query::insert();
    statement
        .into_table(t(table))
        .columns(columns)
        .values(values)
        .map_err(custom)?
        .on_conflict(on_conflict);
    txn.execute(&statement).await?;
    Ok(())
}

pub(super) async fn update(
    txn: &DatabaseTransaction,
    table: &str,
    id: &str,
    values: Vec<(&str, Expr)>,
) -> Result<(), DbErr> {
    let mut statement = Query::update();
    statement
        .table(t(table))
        .and_where(Expr::col(t("id")).eq(id));
    for (column, value) in values {
        statement.value(t(column), value);
    }
    txn.execute(&statement).await?;
    Ok(())
}

pub(super) fn text(value: &str) -> Expr {
    Expr::val(value.to_owned())
}

pub(super) fn json(map: &Map<String, Value>) -> Expr {
    Expr::val(Db::Json(Some(Box::new(Value::Object(map.clone())))))
}

/// The typed columns of `fields` (see `crm_fields`), read from `data`.
pub(super) fn typed<'a>(fields: &[TypedField], data: &Map<String, Value>) -> Vec<(&'a str, Expr)> {
    crm_fields::read_all(fields, data)
        .into_iter()
        .map(|(column, value)| {
            let value = match value {
                Typed::Text(v) => Expr::val(v),
                Typed::Number(v) => Expr::val(v),
                Typed::Flag(v) => Expr::val(v),
                Typed::Time(v) => Expr::val(v),
            };
            (column, value)
        })
        .collect()
}

pub(super) fn now() -> Expr {
    Expr::val(Utc::now())
}

pub(super) fn data_str<'a>(data: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    data.get(field).and_then(Value::as_str)
}

pub(super) fn data_amount(data: &Map<String, Value>, fields: &[&str]) -> f64 {
    fields
        .iter()
        .find_map(|f| match data.get(*f)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .unwrap_or(0.0)
}

/// A new pre-lead's or lead's columns, the same set for every record (a
/// field not sent is a typed NULL), so records share a multi-row insert.
pub(super) fn creation_values<'a>(id: &str, data: &Map<String, Value>) -> Vec<(&'a str, Expr)> {
    let status = data_str(data, "lead_status").unwrap_or("new");
    let mut values = vec![
        ("id", text(id)),
        ("status", text(status)),
        ("initial_status", text(status)),
        (
            "priority",
            Expr::val(data_str(data, "priority").map(str::to_owned)),
        ),
        ("discarded", Expr::val(false)),
        ("data", json(data)),
        ("created_at", now()),
        ("updated_at", now()),
    ];
    values.extend(typed(PERSON_FIELDS, data));
    values
}

/// Creates a pre-lead or lead under the id the edge assigned.
pub(super) async fn create(
    txn: &DatabaseTransaction,
    kind: Kind,
    id: &str,
    data: &Map<String, Value>,
    pre_lead: Option<&str>,
) -> Result<(), DbErr> {
    let mut values = creation_values(id, data);
    if let Some(pre_lead) = pre_lead {
        values.push(("pre_lead_id", text(pre_lead)));
    }
    insert(
        txn,
        kind.table(),
        values,
        OnConflict::column(t("id")).do_nothing().to_owned(),
    )
    .await
}
