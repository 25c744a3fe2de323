//! `GET /leads/export.csv`: the lead list with the filters in force (the
//! list's own query string), every page of it, as a spreadsheet-safe CSV.
//! A salesperson exports what their views show, no more.

use super::list::{self, Filters, ListQuery};
use super::source_label;
use crate::auth::Staff;
use crate::{AppState, ist};
use axum::extract::{Extension, Query, State};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The file's columns.
const HEADER: [&str; 11] = [
    "Name",
    "Phone",
    "Owner",
    "Team",
    "Stage",
    "Sources",
    "Vehicle",
    "First seen (IST)",
    "First response (seconds)",
    "Waiting (seconds)",
    "Overdue",
];

/// `GET /leads/export.csv?view=&stage=&source=&owner=&overdue=&q=&from=&to=`.
pub async fn csv(
    State(state): State<Arc<AppState>>,
    Extension(staff): Extension<Staff>,
    Query(query): Query<ListQuery>,
) -> Response {
    let rows = async {
        let filters = Filters::parse(&state.db, &staff, &query).await?;
        list::everything(&state.db, &staff, &filters).await
    };
    let rows = match rows.await {
        Ok(rows) => rows,
        Err(refusal) => return refusal.into_response(),
    };
    let cells: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| {
            vec![
                row.name.unwrap_or_default(),
                row.phone,
                row.owner.unwrap_or_default(),
                row.team.unwrap_or_default(),
                row.stage,
                row.sources
                    .iter()
                    .map(|s| source_label(s))
                    .collect::<Vec<_>>()
                    .join(", "),
                row.vehicle.unwrap_or_default(),
                ist(row.first_seen_at),
                row.first_response_seconds
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                row.waiting_seconds
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                if row.overdue { "yes" } else { "no" }.to_owned(),
            ]
        })
        .collect();
    crate::spreadsheet::download("leads.csv", &HEADER, &cells)
}
