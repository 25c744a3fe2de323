//! The rows a report needs, for a date range (IST days) and optional team
//! and source filters.

use super::figures::{FollowUpRow, LeadRow, furthest};
use crate::refusal::Refusal;
use chrono::{NaiveDate, TimeDelta};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use shared::desk::Stage;
use std::collections::HashMap;
use store::entities::{follow_ups, lead_stage_history, leads, team_members};
use uuid::Uuid;

/// The ids per `IN (…)` list.
const CHUNK: usize = 500;

fn unavailable(error: impl std::fmt::Display) -> Refusal {
    Refusal::database("the reports", error)
}

/// What a report covers.
pub struct Scope {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub team: Option<Uuid>,
    pub source: Option<String>,
}

/// The leads first seen in the scope, each with the furthest stage it
/// reached.
pub async fn leads(
    db: &DatabaseConnection,
    scope: &Scope,
    users: &HashMap<Uuid, String>,
) -> Result<Vec<LeadRow>, Refusal> {
    let mut select = leads::Entity::find()
        .filter(leads::Column::FirstSeenAt.gte(shared::time::ist_day_start(scope.from)))
        .filter(
            leads::Column::FirstSeenAt
                .lt(shared::time::ist_day_start(scope.to) + TimeDelta::days(1)),
        );
    if let Some(team) = scope.team {
        select = select.filter(leads::Column::TeamId.eq(team));
    }
    if let Some(source) = &scope.source {
        select = select.filter(leads::Column::FirstSource.eq(source.as_str()));
    }
    let found = select.all(db).await.map_err(unavailable)?;
    let mut reached: HashMap<Uuid, Vec<Stage>> = HashMap::new();
    let ids: Vec<Uuid> = found.iter().map(|l| l.id).collect();
    for chunk in ids.chunks(CHUNK) {
        let history = lead_stage_history::Entity::find()
            .filter(lead_stage_history::Column::LeadId.is_in(chunk.to_vec()))
            .all(db)
            .await
            .map_err(unavailable)?;
        for change in history {
            let stage = Stage::parse(&change.to_stage).ok_or_else(|| {
                unavailable(format!(
                    "unknown stage {:?} in the history",
                    change.to_stage
                ))
            })?;
            reached.entry(change.lead_id).or_default().push(stage);
        }
    }
    found
        .into_iter()
        .map(|lead| {
            let now = Stage::parse(&lead.stage)
                .ok_or_else(|| unavailable(format!("unknown stage {:?}", lead.stage)))?;
            let mut stages = reached.remove(&lead.id).unwrap_or_default();
            stages.push(now);
            Ok(LeadRow {
                first_response_seconds: crate::desk::first_response_seconds(&lead),
                source: lead.first_source,
                owner: lead.owner_id.and_then(|o| users.get(&o).cloned()),
                first_seen_at: lead.first_seen_at,
                furthest: furthest(stages),
                lost_reason: (now == Stage::Lost).then_some(lead.lost_reason).flatten(),
            })
        })
        .collect()
}

/// The follow-ups due in the scope (a team's: those given to its members).
pub async fn follow_ups(
    db: &DatabaseConnection,
    scope: &Scope,
    users: &HashMap<Uuid, String>,
) -> Result<Vec<FollowUpRow>, Refusal> {
    let mut select = follow_ups::Entity::find()
        .filter(follow_ups::Column::DueAt.gte(shared::time::ist_day_start(scope.from)))
        .filter(
            follow_ups::Column::DueAt
                .lt(shared::time::ist_day_start(scope.to) + TimeDelta::days(1)),
        );
    if let Some(team) = scope.team {
        let members: Vec<Uuid> = team_members::Entity::find()
            .filter(team_members::Column::TeamId.eq(team))
            .all(db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        select = select.filter(follow_ups::Column::AssigneeId.is_in(members));
    }
    Ok(select
        .all(db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|task| FollowUpRow {
            assignee: task.assignee_id.and_then(|a| users.get(&a).cloned()),
            due_at: task.due_at,
            done_at: task.done_at,
        })
        .collect())
}
