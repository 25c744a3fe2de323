//! What staff do to a lead: assign it, move its stage, write a note
//! (mentioning colleagues), create a follow-up; and switch their own duty.
//! Each checks the request and the role here, once, for the JSON route and
//! the page's form alike.

use super::{unavailable, visible_lead};
use crate::AppState;
use crate::auth::{Role, Staff};
use crate::refusal::Refusal;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter,
};
use shared::desk::Stage;
use store::desk::{Moved, MovedBy, Notice, StageMove, move_stage, notify};
use store::entities::{follow_ups, lead_notes, leads, staff_users, team_members};
use store::live::{Change, ChangeKind};
use uuid::Uuid;

/// Longest note.
pub const MAX_NOTE_CHARS: usize = 4000;
/// Longest follow-up note.
pub const MAX_FOLLOW_UP_NOTE_CHARS: usize = 1000;

async fn user_named(db: &DatabaseConnection, name: &str) -> Result<staff_users::Model, Refusal> {
    staff_users::Entity::find()
        .filter(staff_users::Column::Username.eq(name.trim()))
        .one(db)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| Refusal::NotFound(format!("No user {:?}.", name.trim())))
}

async fn teams_of(db: &DatabaseConnection, user: Uuid) -> Result<Vec<Uuid>, Refusal> {
    Ok(team_members::Entity::find()
        .filter(team_members::Column::UserId.eq(user))
        .all(db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|m| m.team_id)
        .collect())
}

/// Gives the lead to `owner` (a user name; `None` unassigns). Managers
/// assign any lead to anyone; a salesperson may only take an unassigned
/// lead they can see for themselves.
pub async fn assign(
    state: &AppState,
    staff: &Staff,
    lead: Uuid,
    owner: Option<&str>,
) -> Result<(), Refusal> {
    let db = &state.db;
    let lead = visible_lead(db, staff, lead).await?;
    let owner = match owner.map(str::trim).filter(|o| !o.is_empty()) {
        Some(name) => Some(user_named(db, name).await?),
        None => None,
    };
    let taking_it =
        lead.owner_id.is_none() && owner.as_ref().is_some_and(|o| o.id == staff.user_id);
    if staff.role != Role::Manager && !taking_it {
        return Err(Refusal::Forbidden(
            "Only a manager reassigns a lead; you may take an unassigned one for yourself.".into(),
        ));
    }
    // The lead follows its owner into their team when it is not theirs.
    let team = match &owner {
        Some(owner) => {
            let teams = teams_of(db, owner.id).await?;
            match lead.team_id {
                Some(team) if teams.contains(&team) => Some(team),
                _ => teams.first().copied().or(lead.team_id),
            }
        }
        None => lead.team_id,
    };
    let txn = store::write::begin_write(db).await.map_err(unavailable)?;
    let updated = leads::Entity::update_many()
        .col_expr(
            leads::Column::OwnerId,
            Expr::value(owner.as_ref().map(|o| o.id)),
        )
        .col_expr(leads::Column::TeamId, Expr::value(team))
        .col_expr(leads::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(leads::Column::Id.eq(lead.id))
        // Compare and set: a concurrent assignment wins, this one is stale.
        .filter(match lead.owner_id {
            Some(current) => leads::Column::OwnerId.eq(current),
            None => leads::Column::OwnerId.is_null(),
        })
        .exec(&txn)
        .await
        .map_err(unavailable)?;
    if updated.rows_affected != 1 {
        return Err(Refusal::Conflict(
            "Someone else changed the owner meanwhile; reload and try again.".into(),
        ));
    }
    if let Some(owner) = owner.filter(|o| o.id != staff.user_id) {
        let notice = Notice {
            user: owner.id,
            lead: Some(lead.id),
            kind: "assigned",
            text: format!("{} assigned you a lead.", staff.username),
        };
        notify(&txn, vec![notice]).await.map_err(unavailable)?;
    }
    lead_changed(&txn, lead.id).await?;
    txn.commit().await.map_err(unavailable)
}

/// Tells open desks that the lead changed, in the change's transaction.
async fn lead_changed(txn: &DatabaseTransaction, lead: Uuid) -> Result<(), Refusal> {
    store::live::record(txn, [Change::lead(ChangeKind::Lead, lead)])
        .await
        .map_err(unavailable)
}

/// Moves the lead's stage (`lost` needs a reason from the list).
pub async fn stage(
    state: &AppState,
    staff: &Staff,
    lead: Uuid,
    stage: &str,
    lost_reason: Option<&str>,
) -> Result<(), Refusal> {
    let to = Stage::parse(stage.trim()).ok_or_else(|| {
        Refusal::BadRequest(format!(
            "stage is one of {}",
            shared::desk::stage::STAGES.map(|s| s.name()).join(", ")
        ))
    })?;
    let lost_reason = lost_reason.map(str::trim).filter(|r| !r.is_empty());
    match (to, lost_reason) {
        (Stage::Lost, None) => {
            return Err(Refusal::BadRequest(
                "A lost lead needs a lost_reason.".into(),
            ));
        }
        (Stage::Lost, Some(reason)) if !shared::desk::stage::is_lost_reason(reason) => {
            let reasons: Vec<_> = shared::desk::LOST_REASONS.iter().map(|(k, _)| *k).collect();
            return Err(Refusal::BadRequest(format!(
                "lost_reason is one of {}",
                reasons.join(", ")
            )));
        }
        (stage, Some(_)) if stage != Stage::Lost => {
            return Err(Refusal::BadRequest(
                "lost_reason is only for a lost lead.".into(),
            ));
        }
        _ => {}
    }
    let lead = visible_lead(&state.db, staff, lead).await?;
    let txn = store::write::begin_write(&state.db)
        .await
        .map_err(unavailable)?;
    let moved = move_stage(
        &txn,
        &state.desk,
        StageMove {
            lead: lead.id,
            to,
            lost_reason,
            by: MovedBy::Staff(staff.user_id),
            at: Utc::now(),
        },
    )
    .await
    .map_err(unavailable)?;
    txn.commit().await.map_err(unavailable)?;
    match moved {
        Moved::From(_) | Moved::Unchanged => Ok(()),
        Moved::Stale => Err(Refusal::Conflict(
            "The stage changed meanwhile; reload and try again.".into(),
        )),
        Moved::NoLead => Err(Refusal::NotFound("No such lead.".into())),
    }
}

/// The `@name`s in a note that are accounts (other than the author).
async fn mentioned(
    db: &DatabaseConnection,
    staff: &Staff,
    text: &str,
) -> Result<Vec<Uuid>, Refusal> {
    let names: Vec<String> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '!' | '?' | '(' | ')'))
        .filter_map(|word| word.strip_prefix('@'))
        .map(|name| name.trim_end_matches('.').to_owned())
        .filter(|name| !name.is_empty() && *name != staff.username)
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    Ok(staff_users::Entity::find()
        .filter(staff_users::Column::Username.is_in(names))
        .all(db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

/// Adds a note; each `@name` mentioned is notified.
pub async fn note(state: &AppState, staff: &Staff, lead: Uuid, text: &str) -> Result<(), Refusal> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_NOTE_CHARS {
        return Err(Refusal::BadRequest(format!(
            "A note has 1 to {MAX_NOTE_CHARS} characters, not {chars}."
        )));
    }
    let lead = visible_lead(&state.db, staff, lead).await?;
    let mentions = mentioned(&state.db, staff, text).await?;
    let txn = store::write::begin_write(&state.db)
        .await
        .map_err(unavailable)?;
    lead_notes::Entity::insert(lead_notes::ActiveModel {
        id: Set(Uuid::now_v7()),
        lead_id: Set(lead.id),
        author_id: Set(staff.user_id),
        text: Set(text.to_owned()),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(unavailable)?;
    let notices = mentions
        .into_iter()
        .map(|user| Notice {
            user,
            lead: Some(lead.id),
            kind: "mention",
            text: format!("{} mentioned you in a note.", staff.username),
        })
        .collect();
    notify(&txn, notices).await.map_err(unavailable)?;
    lead_changed(&txn, lead.id).await?;
    txn.commit().await.map_err(unavailable)
}

/// Reads a due time: RFC 3339 with an offset, or a local date and time
/// (`2026-12-08T10:30`, as a browser's date-time field sends it) in IST.
pub fn parse_due(raw: &str) -> Result<DateTime<Utc>, Refusal> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
        .and_then(|local| local.and_local_timezone(shared::time::ist()).single())
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| {
            Refusal::BadRequest(format!(
                "due_at is a date and time, such as 2026-12-08T10:30 (IST) or RFC 3339; not {raw:?}"
            ))
        })
}

/// Creates a follow-up on the lead for `assignee` (default: the author),
/// who must be on the lead's team when it has one.
pub async fn follow_up(
    state: &AppState,
    staff: &Staff,
    lead: Uuid,
    due_at: &str,
    assignee: Option<&str>,
    note: Option<&str>,
) -> Result<Uuid, Refusal> {
    let due = parse_due(due_at)?;
    if due <= Utc::now() {
        return Err(Refusal::BadRequest("due_at is in the past.".into()));
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = note
        && note.chars().count() > MAX_FOLLOW_UP_NOTE_CHARS
    {
        return Err(Refusal::BadRequest(format!(
            "A follow-up's note has at most {MAX_FOLLOW_UP_NOTE_CHARS} characters."
        )));
    }
    let lead = visible_lead(&state.db, staff, lead).await?;
    let assignee = match assignee.map(str::trim).filter(|a| !a.is_empty()) {
        Some(name) => user_named(&state.db, name).await?,
        None => user_named(&state.db, &staff.username).await?,
    };
    if let Some(team) = lead.team_id
        && !teams_of(&state.db, assignee.id).await?.contains(&team)
    {
        return Err(Refusal::BadRequest(format!(
            "{} is not on this lead's team.",
            assignee.username
        )));
    }
    let local = due.with_timezone(&shared::time::ist());
    let now = Utc::now();
    let id = Uuid::now_v7();
    let txn = store::write::begin_write(&state.db)
        .await
        .map_err(unavailable)?;
    follow_ups::Entity::insert(follow_ups::ActiveModel {
        id: Set(id),
        call_record_id: Set(None),
        lead_id: Set(Some(lead.id)),
        phone: Set(Some(lead.phone.clone())),
        due_date: Set(local.date_naive()),
        due_time: Set(Some(local.time())),
        due_at: Set(due),
        auto_call: Set(false),
        notes: Set(note.map(str::to_owned)),
        done_at: Set(None),
        done_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        assignee_id: Set(Some(assignee.id)),
        created_by: Set(Some(staff.user_id)),
        due_notified_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await
    .map_err(unavailable)?;
    if assignee.id != staff.user_id {
        let notice = Notice {
            user: assignee.id,
            lead: Some(lead.id),
            kind: "follow_up",
            text: format!(
                "{} gave you a follow-up due {}.",
                staff.username,
                crate::ist(due)
            ),
        };
        notify(&txn, vec![notice]).await.map_err(unavailable)?;
    }
    lead_changed(&txn, lead.id).await?;
    txn.commit().await.map_err(unavailable)?;
    Ok(id)
}

/// Switches the signed-in account's duty (new leads go only to members on
/// duty).
pub async fn duty(state: &AppState, staff: &Staff, on_duty: bool) -> Result<(), Refusal> {
    staff_users::Entity::update_many()
        .col_expr(staff_users::Column::OnDuty, Expr::value(on_duty))
        .col_expr(staff_users::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(staff_users::Column::Id.eq(staff.user_id))
        .exec(&state.db)
        .await
        .map_err(unavailable)?;
    tracing::info!(username = %staff.username, on_duty, "duty switched");
    Ok(())
}
