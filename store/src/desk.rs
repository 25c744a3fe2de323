//! The lead desk's writes that the worker and the console both make: a
//! stage change (with its history line), and a staff notification.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use shared::config::DeskConfig;
use shared::desk::Stage;
use uuid::Uuid;

use crate::entities::{lead_stage_history, leads, staff_notifications};
use crate::live::{Change, ChangeKind};

/// Who moved a lead.
#[derive(Debug, Clone, Copy)]
pub enum MovedBy<'a> {
    /// A staff account, from the console.
    Staff(Uuid),
    /// A partner's event (`crm_events: lead_status_update`).
    Event(&'a str),
}

/// A requested stage change.
#[derive(Debug, Clone, Copy)]
pub struct StageMove<'a> {
    /// The lead.
    pub lead: Uuid,
    /// The stage it goes to.
    pub to: Stage,
    /// Why, when `to` is lost.
    pub lost_reason: Option<&'a str>,
    /// Who asked.
    pub by: MovedBy<'a>,
    /// When (a partner event's own time, or now for staff).
    pub at: DateTime<Utc>,
}

/// What came of a [`StageMove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// It moved, from this stage.
    From(Stage),
    /// It was there already: nothing written.
    Unchanged,
    /// A newer change won (an event older than the stage's last change, or
    /// a concurrent change between read and write): nothing written.
    Stale,
    /// No such lead.
    NoLead,
}

/// Moves a lead's stage, with a history line, unless a newer change is
/// already there (whoever made it). A move to contacted is a first response
/// when there was none; a move out of won or lost reopens the lead and
/// starts a new response clock.
pub async fn move_stage(
    db: &impl ConnectionTrait,
    desk: &DeskConfig,
    change: StageMove<'_>,
) -> Result<Moved, DbErr> {
    let Some((stage, changed_at)) = leads::Entity::find_by_id(change.lead)
        .select_only()
        .columns([leads::Column::Stage, leads::Column::StageChangedAt])
        .into_tuple::<(String, Option<DateTime<Utc>>)>()
        .one(db)
        .await?
    else {
        return Ok(Moved::NoLead);
    };
    let from = Stage::parse(&stage).ok_or_else(|| {
        DbErr::Custom(format!(
            "lead {} has an unknown stage {stage:?}",
            change.lead
        ))
    })?;
    if changed_at.is_some_and(|changed| changed > change.at) {
        return Ok(Moved::Stale);
    }
    if from == change.to {
        return Ok(Moved::Unchanged);
    }
    let mut update = leads::Entity::update_many()
        .col_expr(leads::Column::Stage, Expr::value(change.to.name()))
        .col_expr(leads::Column::StageChangedAt, Expr::value(change.at))
        .col_expr(
            leads::Column::LostReason,
            Expr::value(change.lost_reason.filter(|_| change.to == Stage::Lost)),
        )
        .col_expr(leads::Column::UpdatedAt, Expr::value(Utc::now()));
    let reopened = from.is_closed() && !change.to.is_closed();
    if reopened {
        let (due, escalate) = desk.deadlines(change.at);
        update = update
            .col_expr(leads::Column::ClockStartedAt, Expr::value(change.at))
            .col_expr(leads::Column::ResponseDueAt, Expr::value(due))
            .col_expr(leads::Column::EscalateAt, Expr::value(escalate))
            .col_expr(
                leads::Column::EscalatedAt,
                Expr::value(None::<DateTime<Utc>>),
            );
    }
    // A move to contacted is a response: the first, when the clock (new
    // or restarted) has none yet, made by whoever moved it (staff; an
    // event names nobody of ours).
    let responder = match change.by {
        MovedBy::Staff(user) => Some(user),
        MovedBy::Event(_) => None,
    };
    match (change.to == Stage::Contacted, reopened) {
        (true, true) => {
            update = update
                .col_expr(leads::Column::FirstResponseAt, Expr::value(change.at))
                .col_expr(leads::Column::FirstResponseBy, Expr::value(responder));
        }
        (true, false) => {
            if let Some(user) = responder {
                update = update.col_expr(
                    leads::Column::FirstResponseBy,
                    Expr::case(
                        Expr::col(leads::Column::FirstResponseAt).is_null(),
                        Expr::value(user),
                    )
                    .finally(Expr::col(leads::Column::FirstResponseBy))
                    .into(),
                );
            }
            update = update.col_expr(
                leads::Column::FirstResponseAt,
                Expr::col(leads::Column::FirstResponseAt).if_null(change.at),
            );
        }
        (false, true) => {
            update = update
                .col_expr(
                    leads::Column::FirstResponseAt,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .col_expr(leads::Column::FirstResponseBy, Expr::value(None::<Uuid>));
        }
        (false, false) => {}
    }
    // Compare and set: the stage as read, unchanged since.
    let mut update = update
        .filter(leads::Column::Id.eq(change.lead))
        .filter(leads::Column::Stage.eq(stage.as_str()));
    update = match changed_at {
        Some(changed) => update.filter(leads::Column::StageChangedAt.eq(changed)),
        None => update.filter(leads::Column::StageChangedAt.is_null()),
    };
    if update.exec(db).await?.rows_affected != 1 {
        return Ok(Moved::Stale);
    }
    let (by_user, by_event) = match change.by {
        MovedBy::Staff(user) => (Some(user), None),
        MovedBy::Event(event) => (None, Some(event.to_owned())),
    };
    lead_stage_history::Entity::insert(lead_stage_history::ActiveModel {
        id: Set(Uuid::now_v7()),
        lead_id: Set(change.lead),
        from_stage: Set(Some(from.name().to_owned())),
        to_stage: Set(change.to.name().to_owned()),
        lost_reason: Set(change.lost_reason.map(str::to_owned)),
        by_user: Set(by_user),
        by_event: Set(by_event),
        at: Set(change.at),
    })
    .exec_without_returning(db)
    .await?;
    crate::live::record(db, [Change::lead(ChangeKind::Lead, change.lead)]).await?;
    Ok(Moved::From(from))
}

/// The kind of notice that tells an owner their customer wrote: raised by
/// the worker, marked read by the console when the conversation is read.
pub const CUSTOMER_WROTE: &str = "message";

/// A notification for a staff member.
pub struct Notice<'a> {
    /// Whom it is for.
    pub user: Uuid,
    /// The lead it is about.
    pub lead: Option<Uuid>,
    /// `assigned`, `mention`, `escalated`, [`CUSTOMER_WROTE`], …
    pub kind: &'a str,
    /// What they read.
    pub text: String,
}

/// Stores notifications (one statement for all of them).
pub async fn notify(db: &impl ConnectionTrait, notices: Vec<Notice<'_>>) -> Result<(), DbErr> {
    notify_along(db, notices, []).await
}

/// Stores notifications, and records `changes` in the same insert into the
/// change feed as theirs: a worker's batch writes its feed once, whatever
/// it notifies.
pub async fn notify_along(
    db: &impl ConnectionTrait,
    notices: Vec<Notice<'_>>,
    changes: impl IntoIterator<Item = Change>,
) -> Result<(), DbErr> {
    let now = Utc::now();
    // Each one's addressee hears of it at once on their open pages: one
    // change per person (their pages read their notifications again, so
    // twenty new leads for one owner are one row of the feed, not twenty).
    let changes = changes.into_iter().chain(notices.iter().map(|n| Change {
        kind: ChangeKind::Notification,
        lead: None,
        user: Some(n.user),
    }));
    crate::live::record(db, changes).await?;
    if notices.is_empty() {
        return Ok(());
    }
    let rows: Vec<staff_notifications::ActiveModel> = notices
        .into_iter()
        .map(|n| staff_notifications::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(n.user),
            lead_id: Set(n.lead),
            kind: Set(n.kind.to_owned()),
            text: Set(n.text),
            created_at: Set(now),
            read_at: Set(None),
        })
        .collect();
    // Power-of-two chunks: a handful of statement texts, prepared once.
    for chunk in crate::chunks::split(&rows, 256) {
        staff_notifications::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
