//! The lead desk (issue 26): every lead owned, answered within minutes,
//! moved through its stages. The list with its views and filters
//! ([`list`]), one lead's desk facts ([`detail`]), what staff do to a lead
//! ([`actions`]), the JSON routes the pages and other systems use
//! ([`api`]), the pages themselves ([`pages`]), the list as a CSV file
//! ([`export`]) and the routing rules managers edit ([`rules`]).
//!
//! Who sees what is decided here, on the server: managers and operators
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

use crate::AppState;
use crate::auth::Staff;
use crate::refusal::Refusal;
use axum::Router;
use axum::routing::{get, post};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::Arc;
use store::entities::{follow_ups, leads, staff_users};
use uuid::Uuid;

/// The desk's routes (inside the session check).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/leads/", get(pages::desk))
        .route("/leads/export.csv", get(export::csv))
        .route("/leads/{id}", get(crate::leads::timeline))
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

/// The lead, if it exists and `staff` may see it; 404 either way
/// otherwise (a salesperson cannot tell someone else's lead from none).
pub(crate) async fn visible_lead(
    db: &DatabaseConnection,
    staff: &Staff,
    id: Uuid,
) -> Result<leads::Model, Refusal> {
    let lead = leads::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Refusal::NotFound("No such lead.".into()))?;
    if may_see(db, staff, &lead).await? {
        Ok(lead)
    } else {
        Err(Refusal::NotFound("No such lead.".into()))
    }
}

/// Whether `staff` sees `lead` by role, ownership or team alone (see the
/// module's doc); the follow-ups are the rest of the rule.
fn sees_without_tasks(staff: &Staff, lead: &leads::Model) -> bool {
    staff.role.sees_all_leads()
        || lead.owner_id == Some(staff.user_id)
        || (lead.owner_id.is_none() && lead.team_id.is_none_or(|t| staff.teams.contains(&t)))
}

/// Which leads one member of staff may see, read once for a whole list
/// (the WhatsApp conversations): the same rule as [`may_see`].
pub(crate) struct Sight<'a> {
    staff: &'a Staff,
    /// Leads with a follow-up assigned to them.
    tasks: std::collections::HashSet<Uuid>,
}

impl<'a> Sight<'a> {
    /// Reads what the rule needs beyond the session.
    pub(crate) async fn of(
        db: &DatabaseConnection,
        staff: &'a Staff,
    ) -> Result<Self, sea_orm::DbErr> {
        use sea_orm::QuerySelect;
        let tasks = if staff.role.sees_all_leads() {
            Default::default()
        } else {
            follow_ups::Entity::find()
                .select_only()
                .column(follow_ups::Column::LeadId)
                .filter(follow_ups::Column::AssigneeId.eq(staff.user_id))
                .into_tuple::<Uuid>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        };
        Ok(Self { staff, tasks })
    }

    /// Whether they may see `lead`.
    pub(crate) fn sees(&self, lead: &leads::Model) -> bool {
        sees_without_tasks(self.staff, lead) || self.tasks.contains(&lead.id)
    }

    /// Whether they may see what belongs to no lead (managers and
    /// operators only).
    pub(crate) fn sees_unattached(&self) -> bool {
        self.staff.role.sees_all_leads()
    }
}

/// Whether `staff` may see `lead` (see the module's doc).
pub(crate) async fn may_see(
    db: &DatabaseConnection,
    staff: &Staff,
    lead: &leads::Model,
) -> Result<bool, Refusal> {
    if sees_without_tasks(staff, lead) {
        return Ok(true);
    }
    let tasks = follow_ups::Entity::find()
        .filter(follow_ups::Column::LeadId.eq(lead.id))
        .filter(follow_ups::Column::AssigneeId.eq(staff.user_id))
        .count(db)
        .await
        .map_err(unavailable)?;
    Ok(tasks > 0)
}

/// Every account's user name by id (a dealer has tens of staff).
pub(crate) async fn usernames(db: &DatabaseConnection) -> Result<HashMap<Uuid, String>, Refusal> {
    Ok(staff_users::Entity::find()
        .all(db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
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
