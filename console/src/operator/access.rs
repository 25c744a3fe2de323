//! The audit of staff access (issue 24), for operators: who viewed which
//! lead, conversation or delivery, who exported, who signed in, when and
//! from where, newest first, with filters (staff member, lead or delivery
//! id, IST dates), and the same as a CSV download.

use super::database_unavailable;
use crate::auth::Staff;
use crate::desk::list::{blank, date};
use crate::refusal::Refusal;
use crate::views::page;
use crate::{AppState, ist};
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use store::entities::staff_access_log;

/// Entries a page shows.
const PAGE_ROWS: u64 = 200;
/// Entries a CSV holds at most.
const CSV_ROWS: u64 = 50_000;

/// The filters, as the form sends them.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AccessQuery {
    /// A staff member's user name.
    staff: Option<String>,
    /// A lead or delivery id (what an entry is about).
    subject: Option<String>,
    /// IST dates, inclusive.
    from: Option<String>,
    to: Option<String>,
}

/// The filtered entries, newest first.
fn select(query: &AccessQuery) -> Result<Select<staff_access_log::Entity>, Refusal> {
    use staff_access_log::Column as C;
    let mut select = staff_access_log::Entity::find().order_by_desc(C::At);
    if let Some(staff) = blank(&query.staff) {
        select = select.filter(C::Username.eq(staff));
    }
    if let Some(subject) = blank(&query.subject) {
        select = select.filter(C::Subject.eq(subject));
    }
    if let Some(from) = date("from", &query.from)? {
        select = select.filter(C::At.gte(shared::time::ist_day_start(from)));
    }
    if let Some(to) = date("to", &query.to)?.and_then(|d| d.succ_opt()) {
        select = select.filter(C::At.lt(shared::time::ist_day_start(to)));
    }
    Ok(select)
}

/// The newest `limit` entries the filters select (400 for a bad filter,
/// 503 when the database is unavailable).
async fn entries(
    state: &AppState,
    query: &AccessQuery,
    limit: u64,
) -> Result<Vec<staff_access_log::Model>, Refusal> {
    select(query)?
        .limit(limit)
        .all(&state.db)
        .await
        .map_err(database_unavailable)
}

/// `GET /operator/access`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<AccessQuery>,
) -> Response {
    let found = match entries(&state, &query, PAGE_ROWS).await {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let filters = serde_urlencoded::to_string(&query).unwrap_or_default();
    page(
        "Access audit",
        &staff,
        "operator",
        html! {
            (super::log::subnav())
            h1 { "Access audit" }
            p.muted { "Who viewed or exported personal data, and every sign-in, newest first (the last " (PAGE_ROWS) " that match). Numbers are never recorded: a lead or delivery id, or a hash." }
            form.filters method="get" action="/operator/access" {
                input name="staff" placeholder="Staff member" aria-label="Staff member" value=[blank(&query.staff)];
                input name="subject" placeholder="Lead or delivery id" aria-label="Lead or delivery id" value=[blank(&query.subject)];
                label { "From " input type="date" name="from" value=[blank(&query.from)]; }
                label { "To " input type="date" name="to" value=[blank(&query.to)]; }
                button type="submit" { "Filter" }
            }
            p { a #access-csv href={ "/operator/access.csv?" (filters) } download { "Download CSV" } }
            div.scroll tabindex="0" role="region" aria-label="Access audit" {
                table #access {
                    thead { tr { th { "When" } th { "Who" } th { "What" } th { "About" } th { "From" } } }
                    tbody {
                        @for entry in &found {
                            tr {
                                td { (ist(entry.at)) }
                                td { (entry.username) }
                                td { (entry.action) }
                                td { (entry.subject.as_deref().unwrap_or("")) }
                                td { (entry.address.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

/// `GET /operator/access.csv` with the page's filters.
pub async fn csv(State(state): State<Arc<AppState>>, Query(query): Query<AccessQuery>) -> Response {
    let found = match entries(&state, &query, CSV_ROWS).await {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let rows: Vec<Vec<String>> = found
        .into_iter()
        .map(|e| {
            vec![
                e.at.to_rfc3339(),
                e.username,
                e.action,
                e.subject.unwrap_or_default(),
                e.address.unwrap_or_default(),
            ]
        })
        .collect();
    crate::spreadsheet::download(
        "access-audit.csv",
        &["At (UTC)", "Who", "What", "About", "From"],
        &rows,
    )
}
