//! The rows a report needs, for a date range (IST days) and optional team
//! and source filters.

use super::figures::{FollowUpRow, LeadRow, furthest};
use crate::refusal::Refusal;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect,
};
use shared::desk::Stage;
use std::collections::HashMap;
use store::entities::{follow_ups, lead_stage_history, leads, team_members};
use uuid::Uuid;

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

/// A lead's columns the reports read (not the whole row: a report over
/// months reads tens of thousands).
#[derive(Debug, FromQueryResult)]
struct ReportedLead {
    id: Uuid,
    first_source: String,
    owner_id: Option<Uuid>,
    first_seen_at: DateTime<Utc>,
    clock_started_at: Option<DateTime<Utc>>,
    first_response_at: Option<DateTime<Utc>>,
    stage: String,
    lost_reason: Option<String>,
}

/// The scope's leads, as a condition on `leads` (the range, the team,
/// the source).
fn in_scope(scope: &Scope) -> Condition {
    let mut condition = Condition::all()
        .add(leads::Column::FirstSeenAt.gte(shared::time::ist_day_start(scope.from)))
        .add(
            leads::Column::FirstSeenAt
                .lt(shared::time::ist_day_start(scope.to) + TimeDelta::days(1)),
        );
    if let Some(team) = scope.team {
        condition = condition.add(leads::Column::TeamId.eq(team));
    }
    if let Some(source) = &scope.source {
        condition = condition.add(leads::Column::FirstSource.eq(source.as_str()));
    }
    condition
}

/// The leads first seen in the scope, each with the furthest stage it
/// reached (its history read in one query, by the same condition).
pub async fn leads(
    db: &DatabaseConnection,
    scope: &Scope,
    users: &HashMap<Uuid, String>,
) -> Result<Vec<LeadRow>, Refusal> {
    use leads::Column as C;
    let found: Vec<ReportedLead> = leads::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::FirstSource,
            C::OwnerId,
            C::FirstSeenAt,
            C::ClockStartedAt,
            C::FirstResponseAt,
            C::Stage,
            C::LostReason,
        ])
        .filter(in_scope(scope))
        .into_model()
        .all(db)
        .await
        .map_err(unavailable)?;
    let in_range = Query::select()
        .column(C::Id)
        .from(leads::Entity)
        .cond_where(in_scope(scope))
        .to_owned();
    let history: Vec<(Uuid, String)> = lead_stage_history::Entity::find()
        .select_only()
        .columns([
            lead_stage_history::Column::LeadId,
            lead_stage_history::Column::ToStage,
        ])
        .filter(lead_stage_history::Column::LeadId.in_subquery(in_range))
        .into_tuple()
        .all(db)
        .await
        .map_err(unavailable)?;
    let mut reached: HashMap<Uuid, Vec<Stage>> = HashMap::new();
    for (lead, to_stage) in history {
        let stage = Stage::parse(&to_stage)
            .ok_or_else(|| unavailable(format!("unknown stage {to_stage:?} in the history")))?;
        reached.entry(lead).or_default().push(stage);
    }
    found
        .into_iter()
        .map(|lead| {
            let now = Stage::parse(&lead.stage)
                .ok_or_else(|| unavailable(format!("unknown stage {:?}", lead.stage)))?;
            let mut stages = reached.remove(&lead.id).unwrap_or_default();
            stages.push(now);
            Ok(LeadRow {
                first_response_seconds: crate::desk::response_seconds(
                    lead.first_seen_at,
                    lead.clock_started_at,
                    lead.first_response_at,
                ),
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
