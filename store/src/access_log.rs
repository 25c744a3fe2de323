//! The audit of staff access to personal data (issue 24): every view of a
//! lead, a conversation or a delivery's body, every export, every sign-in:
//! who, what (a lead or delivery id, or a hash of a number, never the
//! number), when, from which address. Written by the console (and its
//! command line); kept [`KEEP_FOR`], then removed by the worker's timer.

use crate::entities::staff_access_log;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long an entry is kept (the DPDP Rules ask for a year).
pub const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignedIn,
    /// A sign-in refused: wrong user name or password, or too many
    /// failures from the address.
    SignInFailed,
    LeadViewed,
    ConversationViewed,
    DeliveryViewed,
    LeadsExported,
    PersonExported,
    /// An erasure of a person was asked for.
    PersonErased,
}

impl Action {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Action::SignedIn => "signed_in",
            Action::SignInFailed => "sign_in_failed",
            Action::LeadViewed => "lead_viewed",
            Action::ConversationViewed => "conversation_viewed",
            Action::DeliveryViewed => "delivery_viewed",
            Action::LeadsExported => "leads_exported",
            Action::PersonExported => "person_exported",
            Action::PersonErased => "person_erased",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The account (`None`: the command line, or a failed sign-in).
    pub user: Option<Uuid>,
    pub username: String,
    /// The client's address, when over the network.
    pub address: Option<String>,
}

/// A number as the audit names it: a hash, never the digits.
pub fn number_subject(e164: &str) -> String {
    format!(
        "sha256:{}",
        &hex::encode(Sha256::digest(e164.as_bytes()))[..32]
    )
}

/// The name a failed sign-in is recorded under: the account's, when one
/// has it; otherwise a placeholder, since what was typed may be anything
/// (a number, or a password typed in the wrong box).
pub async fn attempted_name(db: &impl ConnectionTrait, typed: &str) -> Result<String, DbErr> {
    use crate::entities::staff_users;
    let exists = staff_users::Entity::find()
        .filter(staff_users::Column::Username.eq(typed))
        .one(db)
        .await?
        .is_some();
    Ok(if exists {
        typed.to_owned()
    } else {
        "(no such account)".to_owned()
    })
}

/// Records a view unless the same person already viewed the same subject
/// within `within`: an open conversation that refreshes on every pushed
/// change, or a lead page reloaded, is one entry (the first), not one per
/// refresh. Whether it recorded.
pub async fn record_view(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: Action,
    subject: Option<String>,
    within: chrono::Duration,
) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    let mut recent = staff_access_log::Entity::find()
        .filter(staff_access_log::Column::At.gt(Utc::now() - within))
        .filter(staff_access_log::Column::Action.eq(action.name()))
        .filter(staff_access_log::Column::Username.eq(actor.username.as_str()));
    recent = match actor.user {
        Some(user) => recent.filter(staff_access_log::Column::UserId.eq(user)),
        None => recent.filter(staff_access_log::Column::UserId.is_null()),
    };
    recent = match &subject {
        Some(subject) => recent.filter(staff_access_log::Column::Subject.eq(subject.as_str())),
        None => recent.filter(staff_access_log::Column::Subject.is_null()),
    };
    if recent.count(db).await? > 0 {
        return Ok(false);
    }
    record(db, actor, action, subject).await?;
    Ok(true)
}

/// Records one access.
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: Action,
    subject: Option<String>,
) -> Result<(), DbErr> {
    staff_access_log::Entity::insert(staff_access_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        at: Set(Utc::now()),
        user_id: Set(actor.user),
        username: Set(actor.username.chars().take(64).collect()),
        action: Set(action.name().to_owned()),
        subject: Set(subject.map(|s| s.chars().take(80).collect())),
        address: Set(actor.address.clone()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Removes entries from before `cutoff`; how many went.
pub async fn remove_older_than(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(staff_access_log::Entity::delete_many()
        .filter(staff_access_log::Column::At.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}
