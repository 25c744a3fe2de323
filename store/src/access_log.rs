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
    LeadViewed,
    ConversationViewed,
    DeliveryViewed,
    LeadsExported,
    PersonExported,
}

impl Action {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Action::SignedIn => "signed_in",
            Action::LeadViewed => "lead_viewed",
            Action::ConversationViewed => "conversation_viewed",
            Action::DeliveryViewed => "delivery_viewed",
            Action::LeadsExported => "leads_exported",
            Action::PersonExported => "person_exported",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The account (`None`: the command line).
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
