//! CRM events: the pre-lead and lead lifecycle, contacts, memos,
//! activities, qualified profiles, status histories, conversions, and the
//! customers' order and payment figures.
//!
//! Lifecycle rules need the current state, so each event first locks its
//! subject row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite's transaction
//! already holds the single write lock, taken by the log-row insert): events
//! about one record take turns, whichever worker runs them. Duplicates are
//! still recognised by constraints: ids the edge assigned are primary keys,
//! and the delivery's log row stops a redelivered message.

use super::writes::{chunk_sizes, rounds};
use super::{Applied, Sighting, Touchpoint, Writes};
use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Order, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, QueryResult, Value as Db,
};
use serde_json::{Map, Value};
use shared::Envelope;
use shared::contracts::crm_events::{CrmWebhook, Event, Subject};
use shared::contracts::crm_fields::{
    self, ACTIVITY_FIELDS, CONTACT_FIELDS, CUSTOMER_FIELDS, MEMO_FIELDS, PERSON_FIELDS,
    PROFILE_FIELDS, Typed, TypedField,
};
use std::collections::HashMap;

/// Statuses no change may leave.
const TERMINAL: &[&str] = &["won", "lost"];

/// A pre-lead or a lead: which table, and what to call it in reasons.
#[derive(Clone, Copy)]
struct Kind {
    table: &'static str,
    name: &'static str,
    label: &'static str,
}

const PRE_LEAD: Kind = Kind {
    table: "crm_pre_leads",
    name: "pre_lead",
    label: "pre-lead",
};
const LEAD: Kind = Kind {
    table: "crm_leads",
    name: "lead",
    label: "lead",
};

/// The locked state of a pre-lead or lead.
struct Record {
    status: String,
    initial_status: String,
    discarded: bool,
    data: Map<String, Value>,
    /// When `data` last changed (see [`merge_data`]).
    data_event_at: Option<i64>,
    /// `converted_lead_id` of a pre-lead, `customer_id` of a lead.
    link: Option<String>,
}

/// Merges an event's fields into stored ones: an event at least as new as
/// the last change (`stored_at`) overwrites the fields it brings; an older
/// one, applied late, only fills fields still missing. Returns the merged
/// fields and the new time of the last change.
fn merge_data(
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

fn t(name: &str) -> Alias {
    Alias::new(name)
}

fn custom(error: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(error.to_string())
}

/// A stored JSON column as the object it must hold. Anything else is an
/// error, never an empty object: the event's fields would be merged into
/// it and written back over what was stored. The message is retried, then
/// dead-lettered with this reason, and the row stays as it is for someone
/// to look at.
fn json_field(row: &QueryResult, column: &str) -> Result<Map<String, Value>, DbErr> {
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
async fn lock(txn: &DatabaseTransaction, kind: Kind, id: &str) -> Result<Option<Record>, DbErr> {
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
        .from(t(kind.table))
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

async fn insert(
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

async fn update(
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

fn text(value: &str) -> Expr {
    Expr::val(value.to_owned())
}

fn json(map: &Map<String, Value>) -> Expr {
    Expr::val(Db::Json(Some(Box::new(Value::Object(map.clone())))))
}

/// The typed columns of `fields` (see `crm_fields`), read from `data`.
fn typed<'a>(fields: &[TypedField], data: &Map<String, Value>) -> Vec<(&'a str, Expr)> {
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

fn now() -> Expr {
    Expr::val(Utc::now())
}

fn data_str<'a>(data: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    data.get(field).and_then(Value::as_str)
}

fn data_amount(data: &Map<String, Value>, fields: &[&str]) -> f64 {
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
fn creation_values<'a>(id: &str, data: &Map<String, Value>) -> Vec<(&'a str, Expr)> {
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
async fn create(
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
        kind.table,
        values,
        OnConflict::column(t("id")).do_nothing().to_owned(),
    )
    .await
}

/// Contacts, memos and activities: their table and typed columns.
type ChildTable = (&'static str, &'static [TypedField]);
const CONTACTS: ChildTable = ("crm_contacts", CONTACT_FIELDS);
const MEMOS: ChildTable = ("crm_memos", MEMO_FIELDS);
const ACTIVITIES: ChildTable = ("crm_activities", ACTIVITY_FIELDS);

/// Adds a contact, memo or activity to a pre-lead or lead.
async fn child(
    txn: &DatabaseTransaction,
    (table, fields): ChildTable,
    kind: Kind,
    subject: &str,
    id: &str,
    child_kind: Option<&str>,
    data: &Map<String, Value>,
) -> Result<(), DbErr> {
    let mut values = vec![
        ("id", text(id)),
        ("subject_kind", text(kind.name)),
        ("subject_id", text(subject)),
        ("kind", Expr::val(child_kind.map(str::to_owned))),
        ("data", json(data)),
        ("created_at", now()),
    ];
    values.extend(typed(fields, data));
    insert(
        txn,
        table,
        values,
        OnConflict::column(t("id")).do_nothing().to_owned(),
    )
    .await
}

/// One status change, as an event states it.
struct Change<'a> {
    new_status: &'a str,
    remarks: Option<&'a str>,
    /// Microseconds since the epoch.
    event_at: i64,
}

/// Records a status change in event order, repairs the history around it,
/// and sets the record's status to that of its newest change.
async fn change_status(
    txn: &DatabaseTransaction,
    kind: Kind,
    id: &str,
    record: &Record,
    change: Change<'_>,
    envelope: &Envelope,
) -> Result<Applied, DbErr> {
    let Change {
        new_status,
        remarks,
        event_at,
    } = change;
    let history = Query::select()
        .columns(["id", "new_status", "event_at"].map(t))
        .from(t("crm_status_history"))
        .and_where(Expr::col(t("subject_kind")).eq(kind.name))
        .and_where(Expr::col(t("subject_id")).eq(id))
        .order_by(t("event_at"), Order::Asc)
        .order_by(t("id"), Order::Asc)
        .to_owned();
    let rows = txn.query_all(&history).await?;
    let this_id = envelope.ingest_id.to_string();
    let mut entries: Vec<(i64, String, String)> = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.push((
            row.try_get("", "event_at")?,
            row.try_get("", "id")?,
            row.try_get("", "new_status")?,
        ));
    }
    let key = (event_at, this_id.clone());
    let previous = entries
        .iter()
        .rfind(|(at, row_id, _)| (*at, row_id.clone()) < key)
        .map(|(_, _, status)| status.clone())
        .unwrap_or_else(|| record.initial_status.clone());
    if TERMINAL.contains(&previous.as_str()) && previous != new_status {
        return Ok(Applied::Invalid(format!(
            "{} {id} cannot move from {previous} to {new_status}: {previous} is final",
            kind.label
        )));
    }
    insert(
        txn,
        "crm_status_history",
        vec![
            ("id", text(&this_id)),
            ("subject_kind", text(kind.name)),
            ("subject_id", text(id)),
            ("old_status", text(&previous)),
            ("new_status", text(new_status)),
            ("remarks", Expr::val(remarks.map(str::to_owned))),
            ("event_at", Expr::val(event_at)),
            ("ingest_id", Expr::val(envelope.ingest_id)),
            ("created_at", now()),
        ],
        OnConflict::column(t("id")).do_nothing().to_owned(),
    )
    .await?;
    // The change that follows this one in event order now starts from it.
    if let Some((_, next_id, _)) = entries
        .iter()
        .find(|(at, row_id, _)| (*at, row_id.clone()) > key)
    {
        update(
            txn,
            "crm_status_history",
            next_id,
            vec![("old_status", text(new_status))],
        )
        .await?;
    }
    let newest = entries
        .iter()
        .map(|(at, row_id, status)| ((*at, row_id.clone()), status.as_str()))
        .chain(std::iter::once((key, new_status)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, status)| status.to_owned())
        .unwrap_or_else(|| new_status.to_owned());
    if newest != record.status {
        update(
            txn,
            kind.table,
            id,
            vec![("status", text(&newest)), ("updated_at", now())],
        )
        .await?;
    }
    Ok(Applied::Written)
}

/// When a change happened: its `status_date`, else when the edge received it.
fn event_time(hook: &CrmWebhook, envelope: &Envelope) -> i64 {
    data_str(&hook.data, "status_date")
        .and_then(shared::time::parse_iso8601)
        .unwrap_or(envelope.received_at)
        .timestamp_micros()
}

fn assigned<'a>(envelope: &'a Envelope, field: &str) -> Result<&'a str, Applied> {
    envelope
        .assigned_ids
        .get(field)
        .map(String::as_str)
        .ok_or_else(|| Applied::Invalid(format!("message carries no {field} from the edge")))
}

/// Applies one CRM event that reads its record's current state (every
/// event but a creation, which [`create_batch`] writes); a pre-lead's or
/// lead's event also joins the person's unified lead (by the phone in its
/// record) with a touchpoint and its current CRM status.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    hook: &CrmWebhook,
) -> Result<Applied, DbErr> {
    let applied = apply_event(txn, envelope, hook).await?;
    if applied == Applied::Written {
        join_unified_lead(txn, envelope, hook).await?;
    }
    Ok(applied)
}

/// The pre-lead or lead an event is about, as stored after it.
fn subject(envelope: &Envelope, hook: &CrmWebhook) -> Option<(Kind, String)> {
    match hook.event.subject() {
        Subject::PreLead | Subject::NewPreLead => {
            let id = match hook.event {
                Event::NewInquiry => envelope.assigned_ids.get("pre_lead_id").cloned(),
                _ => hook.subject_id.clone(),
            };
            Some((PRE_LEAD, id?))
        }
        Subject::Lead | Subject::NewLead => {
            let id = match hook.event {
                Event::NewLead => envelope.assigned_ids.get("lead_id").cloned(),
                _ => hook.subject_id.clone(),
            };
            Some((LEAD, id?))
        }
        _ => None,
    }
}

async fn join_unified_lead(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    hook: &CrmWebhook,
) -> Result<(), DbErr> {
    let Some((kind, id)) = subject(envelope, hook) else {
        return Ok(());
    };
    let mut query = Query::select();
    query
        .columns(["status", "data"].map(t))
        .from(t(kind.table))
        .and_where(Expr::col(t("id")).eq(id.as_str()));
    let Some(row) = txn.query_one(&query).await? else {
        return Ok(());
    };
    let status: String = row.try_get("", "status")?;
    let data = json_field(&row, "data")?;
    let mut writes = Writes::default();
    stage_join(&mut writes, envelope, hook, kind, &id, &status, &data);
    writes.flush(txn).await
}

/// Stages a pre-lead's or lead's join to the person's unified lead, from
/// the record as stored: the person (by the phone in its data) with the
/// record's status as their CRM status, and a line on their timeline.
fn stage_join(
    writes: &mut Writes,
    envelope: &Envelope,
    hook: &CrmWebhook,
    kind: Kind,
    id: &str,
    status: &str,
    data: &Map<String, Value>,
) {
    let Some(phone) = ["phone", "mobile", "phone_number", "mobile_number"]
        .iter()
        .find_map(|f| data_str(data, f))
        .and_then(shared::phone::to_e164)
    else {
        return;
    };
    let name = match (data_str(data, "first_name"), data_str(data, "last_name")) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (Some(first), None) => Some(first.to_owned()),
        _ => data_str(data, "name").map(str::to_owned),
    };
    let at = chrono::DateTime::from_timestamp_micros(event_time(hook, envelope))
        .unwrap_or(envelope.received_at);
    let lead = writes.lead(&Sighting {
        phone: &phone,
        name: name.as_deref(),
        email: data_str(data, "email"),
        lead_quality: None,
        is_lead: Some(true),
        source: shared::Source::CrmEvents,
        at,
        crm_status: Some(status),
    });
    writes.touchpoint(Touchpoint {
        lead,
        source: shared::Source::CrmEvents,
        key: envelope.ingest_id.to_string(),
        at,
        summary: format!(
            "CRM {}: {} {id}, status {status}",
            hook.event.name(),
            kind.label
        ),
        ingest_id: envelope.ingest_id,
    });
}

/// A creation (`new_inquiry`, `new_lead`) under the id the edge assigned:
/// it needs no current state, so it can share a batch's multi-row
/// statements (see [`create_batch`]). Every other event goes one message at
/// a time.
fn creation<'a>(envelope: &'a Envelope, hook: &CrmWebhook) -> Option<(Kind, &'a str)> {
    let (kind, field) = match hook.event {
        Event::NewInquiry => (PRE_LEAD, "pre_lead_id"),
        Event::NewLead => (LEAD, "lead_id"),
        _ => return None,
    };
    envelope
        .assigned_ids
        .get(field)
        .map(|id| (kind, id.as_str()))
}

/// Whether the event can share a batch's multi-row statements.
pub(crate) fn batches(envelope: &Envelope, hook: &CrmWebhook) -> bool {
    creation(envelope, hook).is_some()
}

/// Creates a batch's pre-leads and leads with one statement per table and
/// chunk (in rounds, like every table: see [`super::writes`]), each
/// returning the record as stored, and stages each one's join to the
/// unified lead from it: what [`apply`] does for one.
pub(crate) async fn create_batch(
    txn: &DatabaseTransaction,
    writes: &mut Writes,
    creations: &[(&Envelope, &CrmWebhook)],
) -> Result<(), DbErr> {
    for kind in [PRE_LEAD, LEAD] {
        let rows: Vec<(String, (&Envelope, &CrmWebhook))> = creations
            .iter()
            .filter_map(|&(envelope, hook)| {
                let (of, id) = creation(envelope, hook)?;
                (of.table == kind.table).then(|| (id.to_owned(), (envelope, hook)))
            })
            .collect();
        for round in rounds(rows) {
            let mut round = round.into_iter();
            for size in chunk_sizes(round.len()) {
                let chunk: Vec<_> = round.by_ref().take(size).collect();
                let mut insert = Query::insert();
                insert.into_table(t(kind.table));
                for (n, (id, (_, hook))) in chunk.iter().enumerate() {
                    let (columns, values): (Vec<_>, Vec<_>) = creation_values(id, &hook.data)
                        .into_iter()
                        .map(|(c, v)| (t(c), v))
                        .unzip();
                    if n == 0 {
                        insert.columns(columns);
                    }
                    insert.values(values).map_err(custom)?;
                }
                // A record already there stays as it is (as with `DO
                // NOTHING`); the no-op update makes the statement return it.
                insert
                    .on_conflict(
                        OnConflict::column(t("id"))
                            .value(
                                t("updated_at"),
                                Expr::cust(format!("{}.updated_at", kind.table)),
                            )
                            .to_owned(),
                    )
                    .returning(Query::returning().columns(["id", "status", "data"].map(t)));
                let mut stored = HashMap::with_capacity(chunk.len());
                for row in txn.query_all(&insert).await? {
                    let id: String = row.try_get("", "id")?;
                    let status: String = row.try_get("", "status")?;
                    stored.insert(id, (status, json_field(&row, "data")?));
                }
                for (id, (envelope, hook)) in chunk {
                    if let Some((status, data)) = stored.get(&id) {
                        stage_join(writes, envelope, hook, kind, &id, status, data);
                    }
                }
            }
        }
    }
    Ok(())
}

async fn apply_event(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    hook: &CrmWebhook,
) -> Result<Applied, DbErr> {
    let data = &hook.data;
    let kind = match hook.event.subject() {
        Subject::PreLead | Subject::NewPreLead => PRE_LEAD,
        _ => LEAD,
    };
    // Creations and customer events need no existing pre-lead or lead.
    match hook.event {
        Event::NewInquiry | Event::NewLead => {
            let field = if hook.event == Event::NewLead {
                "lead_id"
            } else {
                "pre_lead_id"
            };
            return match assigned(envelope, field) {
                Ok(id) => create(txn, kind, id, data, None)
                    .await
                    .map(|()| Applied::Written),
                Err(invalid) => Ok(invalid),
            };
        }
        Event::OrderCreated | Event::PaymentReceived => return customer_figures(txn, hook).await,
        _ => {}
    }
    let Some(id) = hook.subject_id.as_deref() else {
        return Ok(Applied::Invalid(format!(
            "{} event without a {} id",
            hook.event.name(),
            kind.label
        )));
    };
    let Some(record) = lock(txn, kind, id).await? else {
        // Perhaps its creation is still behind it in the queue.
        return Ok(Applied::Missing(format!("{} {id} not found", kind.label)));
    };
    match hook.event {
        Event::PreLeadUpdate | Event::LeadUpdate => {
            let at = event_time(hook, envelope);
            let (merged, last_change) = merge_data(&record.data, record.data_event_at, data, at);
            let mut values = vec![
                ("data", json(&merged)),
                ("data_event_at", Expr::val(last_change)),
                ("updated_at", now()),
            ];
            values.extend(typed(PERSON_FIELDS, &merged));
            if let Some(priority) = data_str(&merged, "priority") {
                values.push(("priority", text(priority)));
            }
            update(txn, kind.table, id, values).await?;
            if let Some(status) = data_str(data, "lead_status") {
                if record.discarded {
                    return Ok(Applied::Invalid(format!(
                        "{} {id} is discarded; its status cannot change",
                        kind.label
                    )));
                }
                let change = Change {
                    new_status: status,
                    remarks: Some("set by update"),
                    event_at: event_time(hook, envelope),
                };
                return change_status(txn, kind, id, &record, change, envelope).await;
            }
            Ok(Applied::Written)
        }
        Event::PreLeadDiscard | Event::LeadDiscard => {
            let reason = [data_str(data, "reason"), data_str(data, "loss_reason")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" — ");
            update(
                txn,
                kind.table,
                id,
                vec![
                    ("discarded", Expr::val(true)),
                    (
                        "discard_reason",
                        Expr::val((!reason.is_empty()).then_some(reason)),
                    ),
                    ("updated_at", now()),
                ],
            )
            .await?;
            Ok(Applied::Written)
        }
        Event::PreLeadContactAdd | Event::LeadContactAdd => {
            match assigned(envelope, "contact_id") {
                Ok(child_id) => child(txn, CONTACTS, kind, id, child_id, None, data)
                    .await
                    .map(|()| Applied::Written),
                Err(invalid) => Ok(invalid),
            }
        }
        Event::PreLeadMemoAdd | Event::LeadMemoAdd => match assigned(envelope, "memo_id") {
            Ok(child_id) => child(
                txn,
                MEMOS,
                kind,
                id,
                child_id,
                data_str(data, "memo_type"),
                data,
            )
            .await
            .map(|()| Applied::Written),
            Err(invalid) => Ok(invalid),
        },
        Event::LeadActivityAdd => match assigned(envelope, "activity_id") {
            Ok(child_id) => child(
                txn,
                ACTIVITIES,
                kind,
                id,
                child_id,
                data_str(data, "activity_type"),
                data,
            )
            .await
            .map(|()| Applied::Written),
            Err(invalid) => Ok(invalid),
        },
        Event::PreLeadStatusUpdate | Event::LeadStatusUpdate => {
            if record.discarded {
                return Ok(Applied::Invalid(format!(
                    "{} {id} is discarded; its status cannot change",
                    kind.label
                )));
            }
            let Some(status) = data_str(data, "lead_status") else {
                return Ok(Applied::Invalid("status update without lead_status".into()));
            };
            let change = Change {
                new_status: status,
                remarks: data_str(data, "remarks"),
                event_at: event_time(hook, envelope),
            };
            change_status(txn, kind, id, &record, change, envelope).await
        }
        Event::PreLeadConvert => {
            if record.discarded {
                return Ok(Applied::Invalid(format!(
                    "pre-lead {id} is discarded and cannot be converted"
                )));
            }
            if let Some(lead) = &record.link {
                return Ok(Applied::Invalid(format!(
                    "pre-lead {id} was already converted to lead {lead}"
                )));
            }
            let lead_id = match assigned(envelope, "lead_id") {
                Ok(lead_id) => lead_id,
                Err(invalid) => return Ok(invalid),
            };
            let mut lead_data = record.data.clone();
            lead_data.remove("lead_status");
            lead_data.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
            create(txn, LEAD, lead_id, &lead_data, Some(id)).await?;
            update(
                txn,
                PRE_LEAD.table,
                id,
                vec![("converted_lead_id", text(lead_id)), ("updated_at", now())],
            )
            .await?;
            Ok(Applied::Written)
        }
        Event::LeadQualifiedProfileUpdate => {
            let profile_id = match assigned(envelope, "profile_id") {
                Ok(profile_id) => profile_id,
                Err(invalid) => return Ok(invalid),
            };
            // The lead is locked (above): profile updates take turns.
            let existing = txn
                .query_one(
                    Query::select()
                        .columns([t("data"), t("data_event_at")])
                        .from(t("crm_qualified_profiles"))
                        .and_where(Expr::col(t("lead_id")).eq(id)),
                )
                .await?;
            let (stored, stored_at) = match existing {
                Some(row) => (json_field(&row, "data")?, row.try_get("", "data_event_at")?),
                None => (Map::new(), None),
            };
            let (merged, last_change) =
                merge_data(&stored, stored_at, data, event_time(hook, envelope));
            let mut values = vec![
                ("id", text(profile_id)),
                ("lead_id", text(id)),
                ("data", json(&merged)),
                ("data_event_at", Expr::val(last_change)),
                ("created_at", now()),
                ("updated_at", now()),
            ];
            values.extend(typed(PROFILE_FIELDS, &merged));
            let updated = ["data", "data_event_at", "updated_at"]
                .into_iter()
                .chain(PROFILE_FIELDS.iter().map(|f| f.column))
                .map(t);
            insert(
                txn,
                "crm_qualified_profiles",
                values,
                OnConflict::column(t("lead_id"))
                    .update_columns(updated)
                    .to_owned(),
            )
            .await?;
            Ok(Applied::Written)
        }
        Event::LeadConvert => {
            if record.discarded {
                return Ok(Applied::Invalid(format!(
                    "lead {id} is discarded and cannot be converted"
                )));
            }
            if let Some(customer) = &record.link {
                return Ok(Applied::Invalid(format!(
                    "lead {id} was already converted to customer {customer}"
                )));
            }
            let customer_id = match assigned(envelope, "customer_id") {
                Ok(customer_id) => customer_id,
                Err(invalid) => return Ok(invalid),
            };
            let mut values = vec![
                ("id", text(customer_id)),
                ("lead_id", text(id)),
                (
                    "customer_code",
                    Expr::val(data_str(data, "customer_code").map(str::to_owned)),
                ),
                ("data", json(data)),
                ("orders_count", Expr::val(0)),
                ("orders_total", Expr::val(0.0)),
                ("payments_count", Expr::val(0)),
                ("payments_total", Expr::val(0.0)),
                ("created_at", now()),
                ("updated_at", now()),
            ];
            values.extend(typed(CUSTOMER_FIELDS, data));
            insert(
                txn,
                "crm_customers",
                values,
                OnConflict::column(t("id")).do_nothing().to_owned(),
            )
            .await?;
            update(
                txn,
                LEAD.table,
                id,
                vec![("customer_id", text(customer_id)), ("updated_at", now())],
            )
            .await?;
            Ok(Applied::Written)
        }
        Event::NewInquiry | Event::NewLead | Event::OrderCreated | Event::PaymentReceived => {
            Ok(Applied::Written)
        }
    }
}

/// `order_created` and `payment_received`: add to the customer's figures.
async fn customer_figures(txn: &DatabaseTransaction, hook: &CrmWebhook) -> Result<Applied, DbErr> {
    let data = &hook.data;
    // A null, empty or blank customer_id is no id: the code decides then.
    let id = match data.get("customer_id") {
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
    .filter(|id| !id.is_empty());
    let code = data_str(data, "customer_code")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let column = if id.is_some() { "id" } else { "customer_code" };
    let Some(key) = id.or(code) else {
        return Ok(Applied::Invalid("no customer_id or customer_code".into()));
    };
    let (count, total) = match hook.event {
        Event::OrderCreated => ("orders_count", "orders_total"),
        _ => ("payments_count", "payments_total"),
    };
    let amount = data_amount(data, &["amount", "order_value", "total_amount"]);
    let mut statement = Query::update();
    statement
        .table(t("crm_customers"))
        .value(t(count), Expr::col(t(count)).add(1))
        .value(t(total), Expr::col(t(total)).add(amount))
        .value(t("updated_at"), now())
        .and_where(Expr::col(t(column)).eq(key.clone()));
    let updated = txn.execute(&statement).await?.rows_affected();
    if updated == 0 {
        return Ok(Applied::Missing(format!("customer {key} not found")));
    }
    Ok(Applied::Written)
}
