//! The lead desk (issue 26): every lead owned, answered within minutes,
//! moved through its stages. The list with its views and filters
//! ([`list`]), one lead's desk facts ([`detail`]), what staff do to a lead
//! ([`actions`]), the JSON routes the pages and other systems use
//! ([`api`]), the pages themselves ([`pages`]), the list as a CSV file
//! ([`export`]), the routing rules managers edit ([`rules`]) and who sees
//! which lead ([`visibility`]).
//!
//! Who sees what is decided on the server: managers and operators
//! see every lead; a salesperson sees their own leads, the unassigned
//! leads of their teams (and of no team), and leads where a follow-up is
//! theirs.

pub mod actions;
pub mod api;
pub mod detail;
pub mod export;
pub mod list;
pub mod pages;
pub mod rules;
pub mod visibility;

pub(crate) use visibility::visible_lead;

use crate::AppState;
use crate::refusal::Refusal;
use axum::Router;
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::Arc;
use store::entities::leads;
use uuid::Uuid;

/// The desk's routes (inside the session check).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/leads/", get(pages::desk))
        .route("/leads/export.csv", get(export::csv))
        .route("/leads/{id}/assign", post(pages::assign))
        .route("/leads/{id}/stage", post(pages::stage))
        .route("/leads/{id}/notes", post(pages::note))
        .route("/leads/{id}/follow-ups", post(pages::follow_up))
        .route("/me/duty", post(pages::duty))
        .route("/desk/rules", get(rules::show).post(rules::add))
        .route("/desk/rules/{id}/delete", post(rules::delete))
        .route("/ajax/leads/", get(api::list))
        .route("/ajax/leads/{id}", get(api::one))
        .route("/ajax/leads/{id}/assign", post(api::assign))
        .route("/ajax/leads/{id}/stage", post(api::stage))
        .route("/ajax/leads/{id}/notes", post(api::note))
        .route("/ajax/leads/{id}/follow-ups", post(api::follow_up))
        .route("/ajax/me/duty", post(api::duty))
}

/// Logs a database failure; the client is told the database is
/// unavailable.
pub(crate) fn unavailable(error: impl std::fmt::Display) -> Refusal {
    Refusal::database("the lead desk", error)
}

/// A lead id from the path (400 when it is not a UUID).
pub(crate) fn lead_id(raw: &str) -> Result<Uuid, Refusal> {
    Uuid::parse_str(raw).map_err(|_| Refusal::BadRequest("A lead id is a UUID.".into()))
}

/// Every account's user name by id (a dealer has tens of staff).
pub(crate) async fn usernames(db: &DatabaseConnection) -> Result<HashMap<Uuid, String>, Refusal> {
    crate::users::names(db).await.map_err(unavailable)
}

/// Every team's name by id.
pub(crate) async fn team_names(db: &DatabaseConnection) -> Result<HashMap<Uuid, String>, Refusal> {
    crate::teams::names(db)
        .await
        .map_err(|e| Refusal::database("the lead desk", format!("{e:#}")))
}

/// Seconds from the lead's clock start to its first response.
pub(crate) fn first_response_seconds(lead: &leads::Model) -> Option<i64> {
    response_seconds(
        lead.first_seen_at,
        lead.clock_started_at,
        lead.first_response_at,
    )
}

/// The same from the columns alone (the reports read only those): the
/// clock starts when it was (re)started, else when the lead was first seen.
pub(crate) fn response_seconds(
    first_seen_at: chrono::DateTime<chrono::Utc>,
    clock_started_at: Option<chrono::DateTime<chrono::Utc>>,
    first_response_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<i64> {
    let start = clock_started_at.unwrap_or(first_seen_at);
    first_response_at.map(|at| Ord::max((at - start).num_seconds(), 0))
}

/// Unanswered past its response deadline, and still open.
pub(crate) fn is_overdue(lead: &leads::Model, now: chrono::DateTime<chrono::Utc>) -> bool {
    lead.first_response_at.is_none()
        && !shared::desk::Stage::parse(&lead.stage).is_some_and(|s| s.is_closed())
        && lead.response_due_at.is_some_and(|due| due < now)
}

/// What staff read for a source's stored name ([`shared::Source::label`]);
/// a name no source has is shown as stored.
pub fn source_label(source: &str) -> &str {
    match source.parse::<shared::Source>() {
        Ok(known) => known.label(),
        Err(_) => source,
    }
}
