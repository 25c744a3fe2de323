//! Status changes in event order, and the history that records them.

use crate::persist::Applied;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr};
use shared::Envelope;

use super::*;

/// One status change, as an event states it.
pub(super) struct Change<'a> {
    pub(super) new_status: &'a str,
    pub(super) remarks: Option<&'a str>,
    /// Microseconds since the epoch.
    pub(super) event_at: i64,
}

/// Records a status change in event order, repairs the history around it,
/// and sets the record's status to that of its newest change.
pub(super) async fn change_status(
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
        .from(t(crm_status_history::Entity.table_name()))
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
        crm_status_history::Entity.table_name(),
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
            crm_status_history::Entity.table_name(),
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
            kind.table(),
            id,
            vec![("status", text(&newest)), ("updated_at", now())],
        )
        .await?;
    }
    Ok(Applied::Written)
}
