//! One lead's desk facts: owner, team, stage and its history, the response
//! clock, notes and follow-ups. Served as JSON (`GET /ajax/leads/{id}`) and
//! drawn on the lead's page.

use super::{first_response_seconds, is_overdue, unavailable};
use crate::refusal::Refusal;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use store::entities::{follow_ups, lead_notes, lead_stage_history, leads};
use uuid::Uuid;

/// Most notes, history lines and follow-ups shown.
const MAX_ITEMS: u64 = 200;

/// One stage change.
#[derive(Debug, Serialize)]
pub struct StageChange {
    pub from: Option<String>,
    pub to: String,
    /// A user name, or the partner event that moved it.
    pub by: String,
    pub at: DateTime<Utc>,
    pub lost_reason: Option<String>,
}

/// One note.
#[derive(Debug, Serialize)]
pub struct Note {
    pub author: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// One follow-up.
#[derive(Debug, Serialize)]
pub struct FollowUp {
    pub id: Uuid,
    pub due_at: DateTime<Utc>,
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub done: bool,
}

/// The lead as the desk shows it.
#[derive(Debug, Serialize)]
pub struct Detail {
    pub id: Uuid,
    pub name: Option<String>,
    pub phone: String,
    pub email: Option<String>,
    pub vehicle: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub stage: String,
    pub lost_reason: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub clock_started_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub first_response_by: Option<String>,
    pub first_response_seconds: Option<i64>,
    pub response_due_at: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub stage_history: Vec<StageChange>,
    pub notes: Vec<Note>,
    pub follow_ups: Vec<FollowUp>,
}

/// Reads the desk facts of `lead` (already checked visible).
pub async fn read(db: &DatabaseConnection, lead: leads::Model) -> Result<Detail, Refusal> {
    let users = super::usernames(db).await?;
    let teams = super::team_names(db).await?;
    let name_of = |id: Uuid| {
        users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "(removed)".into())
    };
    let history = lead_stage_history::Entity::find()
        .filter(lead_stage_history::Column::LeadId.eq(lead.id))
        .order_by_asc(lead_stage_history::Column::At)
        .order_by_asc(lead_stage_history::Column::Id)
        .limit(MAX_ITEMS)
        .all(db)
        .await
        .map_err(unavailable)?;
    let notes = lead_notes::Entity::find()
        .filter(lead_notes::Column::LeadId.eq(lead.id))
        .order_by_desc(lead_notes::Column::CreatedAt)
        .limit(MAX_ITEMS)
        .all(db)
        .await
        .map_err(unavailable)?;
    let tasks = follow_ups::Entity::find()
        .filter(follow_ups::Column::LeadId.eq(lead.id))
        .order_by_asc(follow_ups::Column::DueAt)
        .limit(MAX_ITEMS)
        .all(db)
        .await
        .map_err(unavailable)?;
    let now = Utc::now();
    Ok(Detail {
        id: lead.id,
        owner: lead.owner_id.map(name_of),
        team: lead.team_id.and_then(|t| teams.get(&t).cloned()),
        first_response_seconds: first_response_seconds(&lead),
        overdue: is_overdue(&lead, now),
        clock_started_at: lead.clock_started_at.unwrap_or(lead.first_seen_at),
        first_response_by: lead.first_response_by.map(name_of),
        stage_history: history
            .into_iter()
            .map(|h| StageChange {
                by: match (h.by_user, h.by_event) {
                    (Some(user), _) => name_of(user),
                    (None, Some(event)) => format!("CRM: {event}"),
                    (None, None) => "—".into(),
                },
                from: h.from_stage,
                to: h.to_stage,
                at: h.at,
                lost_reason: h.lost_reason,
            })
            .collect(),
        notes: notes
            .into_iter()
            .map(|n| Note {
                author: name_of(n.author_id),
                text: n.text,
                at: n.created_at,
            })
            .collect(),
        follow_ups: tasks
            .into_iter()
            .map(|t| FollowUp {
                id: t.id,
                due_at: t.due_at,
                assignee: t.assignee_id.map(name_of),
                note: t.notes,
                done: t.done_at.is_some(),
            })
            .collect(),
        name: lead.name,
        phone: lead.phone,
        email: lead.email,
        vehicle: lead.vehicle,
        stage: lead.stage,
        lost_reason: lead.lost_reason,
        first_seen_at: lead.first_seen_at,
        first_response_at: lead.first_response_at,
        response_due_at: lead.response_due_at,
    })
}
