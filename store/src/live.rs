//! The console's change feed: each change an open page should hear of is
//! written here in the same transaction as the change itself, so a page
//! hears of it only once it is committed, and of every one that is. The
//! console reads the feed in order ([`after`]) and pushes it to its pages.
//! Rows are hints, not data: a page that hears of one asks for the data
//! again, and rows older than [`KEEP_FOR`] are removed by the worker's
//! timer ([`remove_older_than`]).

use crate::entities::live_changes;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A customer wrote on the lead's conversation.
    Message,
    /// A reply to the lead moved on (queued, sent, delivered, read, failed).
    Reply,
    /// The lead was created, assigned, moved, noted, or went overdue.
    Lead,
    /// A notification was raised for one staff member.
    Notification,
}

impl ChangeKind {
    /// Every kind.
    pub const ALL: [ChangeKind; 4] = [
        ChangeKind::Message,
        ChangeKind::Reply,
        ChangeKind::Lead,
        ChangeKind::Notification,
    ];

    /// The stored name, which is also the Server-Sent Event's type.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Message => "message",
            ChangeKind::Reply => "reply",
            ChangeKind::Lead => "lead",
            ChangeKind::Notification => "notification",
        }
    }

    /// The kind a stored name spells.
    pub fn parse(name: &str) -> Option<ChangeKind> {
        ChangeKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One change to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// The lead it is about.
    pub lead: Option<Uuid>,
    /// The one staff member it is for; `None`: whoever may see the lead.
    pub user: Option<Uuid>,
}

impl Change {
    /// A change about a lead, for whoever may see it.
    pub fn lead(kind: ChangeKind, lead: Uuid) -> Change {
        Change {
            kind,
            lead: Some(lead),
            user: None,
        }
    }
}

/// Most rows per insert (a power of two, well under both databases' bound
/// on parameters); fewer go in power-of-two chunks ([`crate::chunks`]).
const ROWS_PER_STATEMENT: usize = 256;

/// Records `changes` in the caller's transaction, each once (a batch that
/// touches a lead twice records it once).
pub async fn record(
    db: &impl ConnectionTrait,
    changes: impl IntoIterator<Item = Change>,
) -> Result<(), DbErr> {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<Change> = changes.into_iter().filter(|c| seen.insert(*c)).collect();
    if unique.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    for chunk in crate::chunks::split(&unique, ROWS_PER_STATEMENT) {
        let rows = chunk.iter().map(|c| live_changes::ActiveModel {
            id: NotSet,
            kind: Set(c.kind.name().to_owned()),
            lead_id: Set(c.lead),
            user_id: Set(c.user),
            created_at: Set(now),
        });
        live_changes::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Up to `limit` changes after id `after`, oldest first.
pub async fn after(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<live_changes::Model>, DbErr> {
    live_changes::Entity::find()
        .filter(live_changes::Column::Id.gt(after))
        .order_by_asc(live_changes::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The newest change's id (0 when there is none): where a new reader
/// starts.
pub async fn newest_id(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(live_changes::Entity::find()
        .order_by_desc(live_changes::Column::Id)
        .one(db)
        .await?
        .map_or(0, |c| c.id))
}

/// How long a change is kept: a page away for longer than this (a phone
/// asleep overnight) reloads what it shows instead of replaying.
pub const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// The oldest change's id still kept (`None`: none is): a page that last
/// saw an id before it may have missed changes.
pub async fn oldest_id(db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    Ok(live_changes::Entity::find()
        .order_by_asc(live_changes::Column::Id)
        .one(db)
        .await?
        .map(|c| c.id))
}

/// Removes changes written before `cutoff`; how many went.
pub async fn remove_older_than(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(live_changes::Entity::delete_many()
        .filter(live_changes::Column::CreatedAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}
