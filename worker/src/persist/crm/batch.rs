//! CRM creations (`new_inquiry`, `new_lead`) in a batch, and the person
//! each joins in the unified lead.

use crate::persist::writes::{chunk_sizes, rounds};
use crate::persist::{Sighting, Touchpoint, Writes};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use serde_json::{Map, Value};
use shared::Envelope;
use shared::contracts::crm_events::{CrmWebhook, Event};
use std::collections::HashMap;

use super::*;

pub(super) async fn join_unified_lead(
    txn: &DatabaseTransaction,
    envelope: &Envelope,
    hook: &CrmWebhook,
    desk: &crate::desk::Desk,
) -> Result<(), DbErr> {
    let Some((kind, id)) = subject(envelope, hook) else {
        return Ok(());
    };
    let mut query = Query::select();
    query
        .columns(["status", "data"].map(t))
        .from(t(kind.table()))
        .and_where(Expr::col(t("id")).eq(id.as_str()));
    let Some(row) = txn.query_one(&query).await? else {
        return Ok(());
    };
    let status: String = row.try_get("", "status")?;
    let data = json_field(&row, "data")?;
    let mut writes = Writes::default();
    writes.received(envelope.received_at);
    stage_join(&mut writes, envelope, hook, kind, &id, &status, &data);
    writes.flush(txn, desk).await
}

/// Stages a pre-lead's or lead's join to the person's unified lead, from
/// the record as stored: the person (by the phone in its data) with the
/// record's status as their CRM status, and a line on their timeline.
pub(super) fn stage_join(
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
        line: None,
        vehicle: data_str(data, "vehicle_model").or_else(|| data_str(data, "car_model")),
    });
    if let Some(change) = crate::desk::CrmStatus::of(lead, hook, status, at) {
        writes.crm_status(change);
    }
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
pub(super) fn creation<'a>(envelope: &'a Envelope, hook: &CrmWebhook) -> Option<(Kind, &'a str)> {
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
                (of.name == kind.name).then(|| (id.to_owned(), (envelope, hook)))
            })
            .collect();
        for round in rounds(rows) {
            let mut round = round.into_iter();
            for size in chunk_sizes(round.len()) {
                let chunk: Vec<_> = round.by_ref().take(size).collect();
                let mut insert = Query::insert();
                insert.into_table(t(kind.table()));
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
                                Expr::cust(format!("{}.updated_at", kind.table())),
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
