//! Escalation of unanswered leads, on a timer that survives restarts: each
//! lead's deadline is a column (`escalate_at`, set when it was routed), and
//! every worker sweeps for leads past it. A lead is escalated once: the
//! sweep claims it with a conditional update, so two workers never both
//! notify. Its team's managers are notified, and its owner; with
//! `DESK_ESCALATE_REASSIGN`, it moves instead to the next member on duty
//! (by the team's round-robin, cap included), who is told.

use chrono::Utc;
use sea_orm::sea_query::Expr;
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
    // Overdue now: open desks show it.
    store::live::record(
        txn,
        [store::live::Change::lead(
            store::live::ChangeKind::Lead,
            lead,
        )],
    )
    .await?;
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
    let mut reassigned = false;
    if desk.reassign_on_escalation {
        // The next member on duty other than the owner, by the team's
        // round-robin (its turn counter locks, its cap applies).
        let team = teams::Entity::find_by_id(team)
            .one(txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("team {team} vanished")))?;
        let next = super::route::assign(txn, &team, 1, row.owner_id).await?;
        if let Some(next) = next.into_iter().flatten().next() {
            reassigned = true;
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
    // Its owner, if it is still theirs, hears that it is overdue.
    if let Some(owner) = row.owner_id.filter(|_| !reassigned) {
        notices.push(Notice {
            user: owner,
            lead: Some(lead),
            kind: "overdue",
            text: format!("Your lead has waited {waited} minutes without an answer."),
        });
    }
    notify(txn, notices).await?;
    Ok(true)
}
