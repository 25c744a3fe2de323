//! Follow-ups coming due are announced to whoever must do them (the
//! assignee, or the lead's owner when nobody is assigned): a staff
//! notification, which their open pages hear of at once. Like escalation,
//! on the worker's sweep: the deadline is the row's `due_at`, and each
//! follow-up is claimed with a conditional update (`due_notified_at`), so
//! two workers never both announce it and a restart loses none. A
//! follow-up moved later (a repeated call) is announced again when due.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use store::desk::{Notice, notify};
use store::entities::{follow_ups, leads};
use uuid::Uuid;

/// The notification's kind.
pub const KIND: &str = "follow_up_due";

/// Follow-ups announced per sweep at most; the rest wait for the next.
const MAX_PER_SWEEP: u64 = 200;

/// Announces the follow-ups now due; returns how many this worker did.
pub(crate) async fn sweep(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let now = Utc::now();
    let due: Vec<follow_ups::Model> = follow_ups::Entity::find()
        .filter(follow_ups::Column::DoneAt.is_null())
        .filter(follow_ups::Column::DueNotifiedAt.is_null())
        .filter(follow_ups::Column::DueAt.lte(now))
        .order_by_asc(follow_ups::Column::DueAt)
        .limit(MAX_PER_SWEEP)
        .all(db)
        .await?;
    let mut announced = 0;
    for task in due {
        let txn = db.begin().await?;
        let claimed = follow_ups::Entity::update_many()
            .col_expr(follow_ups::Column::DueNotifiedAt, Expr::value(now))
            .filter(follow_ups::Column::Id.eq(task.id))
            .filter(follow_ups::Column::DueNotifiedAt.is_null())
            .filter(follow_ups::Column::DueAt.eq(task.due_at))
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 1 {
            if let Some(user) = whose(&txn, &task).await? {
                let notice = Notice {
                    user,
                    lead: task.lead_id,
                    kind: KIND,
                    text: "A follow-up is due now.".into(),
                };
                notify(&txn, vec![notice]).await?;
            }
            announced += 1;
        }
        txn.commit().await?;
    }
    Ok(announced)
}

/// Who must do it: its assignee, or its lead's owner.
async fn whose(
    txn: &sea_orm::DatabaseTransaction,
    task: &follow_ups::Model,
) -> Result<Option<Uuid>, DbErr> {
    if task.assignee_id.is_some() {
        return Ok(task.assignee_id);
    }
    let Some(lead) = task.lead_id else {
        return Ok(None);
    };
    Ok(leads::Entity::find_by_id(lead)
        .select_only()
        .column(leads::Column::OwnerId)
        .into_tuple::<Option<Uuid>>()
        .one(txn)
        .await?
        .flatten())
}
