//! Escalation of unanswered leads, on a timer that survives restarts: each
//! lead's deadline is a column (`escalate_at`, set when it was routed), and
//! every worker sweeps for leads past it. A lead is escalated once: the
//! sweep claims it with a conditional update, so two workers never both
//! notify. Its team's managers are notified; with
//! `DESK_ESCALATE_REASSIGN`, it also moves to the next member on duty.

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use shared::config::DeskConfig;
use store::desk::{Notice, notify};
use store::entities::{leads, staff_users, team_members, teams};
use uuid::Uuid;

/// Leads escalated per sweep at most; the rest wait for the next.
const MAX_PER_SWEEP: u64 = 200;

/// Escalates the leads past their deadline; returns how many this worker
/// escalated.
pub(crate) async fn sweep(db: &DatabaseConnection, desk: &DeskConfig) -> Result<usize, DbErr> {
    let now = Utc::now();
    let due: Vec<Uuid> = leads::Entity::find()
        .select_only()
        .column(leads::Column::Id)
        .filter(leads::Column::EscalatedAt.is_null())
        .filter(leads::Column::FirstResponseAt.is_null())
        .filter(leads::Column::EscalateAt.lte(now))
        .filter(leads::Column::Stage.is_not_in(["won", "lost"]))
        .order_by_asc(leads::Column::EscalateAt)
        .limit(MAX_PER_SWEEP)
        .into_tuple()
        .all(db)
        .await?;
    let mut escalated = 0;
    for lead in due {
        let txn = db.begin().await?;
        if escalate(&txn, lead, desk).await? {
            escalated += 1;
        }
        txn.commit().await?;
    }
    Ok(escalated)
}

/// Escalates one lead, unless another worker did or it was answered
/// meanwhile.
async fn escalate(
    txn: &sea_orm::DatabaseTransaction,
    lead: Uuid,
    desk: &DeskConfig,
) -> Result<bool, DbErr> {
    let now = Utc::now();
    let claimed = leads::Entity::update_many()
        .col_expr(leads::Column::EscalatedAt, Expr::value(now))
        .filter(leads::Column::Id.eq(lead))
        .filter(leads::Column::EscalatedAt.is_null())
        .filter(leads::Column::FirstResponseAt.is_null())
        .exec(txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(false);
    }
    let Some(row) = leads::Entity::find_by_id(lead).one(txn).await? else {
        return Ok(false);
    };
    let Some(team) = row.team_id else {
        return Ok(true);
    };
    let members = team_members::Entity::find()
        .filter(team_members::Column::TeamId.eq(team))
        .all(txn)
        .await?;
    let people = staff_users::Entity::find()
        .filter(staff_users::Column::Id.is_in(members.iter().map(|m| m.user_id)))
        .all(txn)
        .await?;
    let waited = Ord::max(
        (now - row.clock_started_at.unwrap_or(row.first_seen_at)).num_minutes(),
        0,
    );
    let mut notices: Vec<Notice> = people
        .iter()
        .filter(|u| u.role == "manager")
        .map(|u| Notice {
            user: u.id,
            lead: Some(lead),
            kind: "escalated",
            text: format!("A lead has waited {waited} minutes without an answer."),
        })
        .collect();
    if desk.reassign_on_escalation {
        // The member on duty who waited longest for a lead, other than the
        // owner; the turn is taken like any other (the team row locks).
        let mut candidates: Vec<(i64, Uuid)> = members
            .iter()
            .filter(|m| Some(m.user_id) != row.owner_id)
            .filter(|m| people.iter().any(|u| u.id == m.user_id && u.on_duty))
            .map(|m| (m.last_assigned_seq, m.user_id))
            .collect();
        candidates.sort_unstable();
        if let Some(&(_, next)) = candidates.first() {
            let bump = teams::Entity::update_many()
                .col_expr(
                    teams::Column::AssignSeq,
                    Expr::col(teams::Column::AssignSeq).add(1),
                )
                .filter(teams::Column::Id.eq(team))
                .exec(txn)
                .await?;
            if bump.rows_affected == 1 {
                let turn = teams::Entity::find_by_id(team)
                    .one(txn)
                    .await?
                    .map_or(0, |t| t.assign_seq);
                team_members::Entity::update_many()
                    .col_expr(team_members::Column::LastAssignedSeq, Expr::value(turn))
                    .filter(team_members::Column::TeamId.eq(team))
                    .filter(team_members::Column::UserId.eq(next))
                    .exec(txn)
                    .await?;
                leads::Entity::update_many()
                    .col_expr(leads::Column::OwnerId, Expr::value(next))
                    .filter(leads::Column::Id.eq(lead))
                    .exec(txn)
                    .await?;
                notices.push(Notice {
                    user: next,
                    lead: Some(lead),
                    kind: "assigned",
                    text: format!("A lead unanswered for {waited} minutes was reassigned to you."),
                });
            }
        }
    }
    notify(txn, notices).await?;
    Ok(true)
}
