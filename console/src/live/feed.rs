//! The change feed of one console process: one task reads the database's
//! `live_changes` in id order every [`POLL_EVERY`] and hands each change,
//! with the lead's owner and team as they are now, to every open page of
//! this process ([`Feed::subscribe`]). However many pages are open, the
//! database answers one small query per tick per process.
//!
//! Ids come from a sequence (PostgreSQL) or an autoincrement (SQLite). On
//! PostgreSQL a transaction can commit after a later one took a higher id,
//! so an id skipped over is looked for again for [`GAP_PATIENCE`] before
//! it is given up as a rolled-back write.

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use store::entities::{leads, live_changes};
use store::live::ChangeKind;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the feed reads the database.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// How long an id skipped over is waited for.
const GAP_PATIENCE: Duration = Duration::from_secs(10);

/// Changes read per query.
const READ_LIMIT: u64 = 1000;

/// Ids waited for at most (more: the oldest are given up).
const MAX_MISSING: usize = 10_000;

/// Changes a page may fall behind by before it is told to reload.
const CHANNEL_CAPACITY: usize = 4096;

/// A change, ready to filter per page.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Its id (the Server-Sent Event's).
    pub id: i64,
    /// What changed.
    pub kind: ChangeKind,
    /// The lead it is about.
    pub lead: Option<Uuid>,
    /// The one staff member it is for (a notification).
    pub user: Option<Uuid>,
    /// The lead's owner when the change was read.
    pub owner: Option<Uuid>,
    /// The lead's team when the change was read.
    pub team: Option<Uuid>,
    /// Whether the lead existed when the change was read.
    pub lead_found: bool,
    /// The lead's number (E.164): the chat panel's key for a conversation.
    pub phone: Option<String>,
}

/// The handle pages subscribe through.
#[derive(Clone)]
pub struct Feed {
    sender: broadcast::Sender<Arc<Pushed>>,
    /// The newest id read so far (0 before the first read).
    read_up_to: Arc<AtomicI64>,
}

impl Feed {
    /// Starts reading the feed from its newest change, until `shutdown`.
    pub fn start(db: DatabaseConnection, shutdown: CancellationToken) -> Feed {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        let read_up_to = Arc::new(AtomicI64::new(0));
        let feed = Feed {
            sender: sender.clone(),
            read_up_to: read_up_to.clone(),
        };
        tokio::spawn(async move {
            let mut reader = Reader::default();
            let mut tick = tokio::time::interval(POLL_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match reader.read(&db).await {
                    Ok(changes) => {
                        read_up_to.store(reader.newest.unwrap_or(0), Ordering::Release);
                        for change in changes {
                            // No page open: nobody to tell.
                            let _ = sender.send(Arc::new(change));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "reading the change feed failed; trying again")
                    }
                }
            }
        });
        feed
    }

    /// Every change read from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Pushed>> {
        self.sender.subscribe()
    }

    /// The newest id read so far: a page subscribed now hears of every
    /// change after it.
    pub fn read_up_to(&self) -> i64 {
        self.read_up_to.load(Ordering::Acquire)
    }
}

/// Where the feed's reader is.
#[derive(Default)]
struct Reader {
    /// The highest id seen (`None`: not started; starts at the newest).
    newest: Option<i64>,
    /// Ids below `newest` not seen yet, with when they were first missed.
    missing: BTreeMap<i64, Instant>,
}

impl Reader {
    /// The changes committed since the last read.
    async fn read(&mut self, db: &DatabaseConnection) -> Result<Vec<Pushed>, DbErr> {
        let Some(newest) = self.newest else {
            self.newest = Some(store::live::newest_id(db).await?);
            return Ok(Vec::new());
        };
        let mut rows = store::live::after(db, newest, READ_LIMIT).await?;
        let now = Instant::now();
        let mut expected = newest + 1;
        for row in &rows {
            // Ids between the last one and this one: not committed yet, or
            // never (a rolled-back write).
            for id in expected..row.id {
                self.missing.insert(id, now);
            }
            expected = row.id + 1;
        }
        if let Some(last) = rows.last() {
            self.newest = Some(last.id);
        }
        self.missing
            .retain(|_, since| now.duration_since(*since) < GAP_PATIENCE);
        while self.missing.len() > MAX_MISSING {
            self.missing.pop_first();
        }
        if !self.missing.is_empty() {
            let late = live_changes::Entity::find()
                .filter(live_changes::Column::Id.is_in(self.missing.keys().copied()))
                .all(db)
                .await?;
            for row in &late {
                self.missing.remove(&row.id);
            }
            rows.extend(late);
        }
        resolve(db, rows).await
    }
}

/// A change's lead as it is when the change is read.
struct FoundLead {
    owner: Option<Uuid>,
    team: Option<Uuid>,
    phone: String,
}

/// Adds each change's lead's owner, team and number, read in one query.
pub async fn resolve(
    db: &DatabaseConnection,
    rows: Vec<live_changes::Model>,
) -> Result<Vec<Pushed>, DbErr> {
    let mut ids: Vec<Uuid> = rows.iter().filter_map(|r| r.lead_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found_leads: HashMap<Uuid, FoundLead> = HashMap::new();
    for chunk in ids.chunks(500) {
        let found: Vec<(Uuid, Option<Uuid>, Option<Uuid>, String)> = leads::Entity::find()
            .select_only()
            .columns([
                leads::Column::Id,
                leads::Column::OwnerId,
                leads::Column::TeamId,
                leads::Column::Phone,
            ])
            .filter(leads::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        found_leads.extend(
            found
                .into_iter()
                .map(|(id, owner, team, phone)| (id, FoundLead { owner, team, phone })),
        );
    }
    rows.into_iter()
        .map(|row| {
            let kind = ChangeKind::parse(&row.kind).ok_or_else(|| {
                DbErr::Custom(format!(
                    "change {} has an unknown kind {:?}",
                    row.id, row.kind
                ))
            })?;
            let found = row.lead_id.and_then(|lead| found_leads.get(&lead));
            Ok(Pushed {
                id: row.id,
                kind,
                lead: row.lead_id,
                user: row.user_id,
                owner: found.and_then(|l| l.owner),
                team: found.and_then(|l| l.team),
                lead_found: found.is_some(),
                phone: found.map(|l| l.phone.clone()),
            })
        })
        .collect()
}

/// The changes after `last` for a page that reconnects, up to what this
/// process has read (`read_up_to`: later ones reach the page through the
/// feed), or `None` when some may be gone (older than the feed keeps, or
/// too many): the page reloads what it shows instead.
pub async fn replay(
    db: &DatabaseConnection,
    last: i64,
    read_up_to: i64,
) -> Result<Option<Vec<Pushed>>, DbErr> {
    if last >= read_up_to {
        return Ok(Some(Vec::new()));
    }
    match store::live::oldest_id(db).await? {
        Some(oldest) if oldest <= last + 1 => {}
        _ => return Ok(None),
    }
    let rows = store::live::after(db, last, READ_LIMIT).await?;
    if rows.len() as u64 == READ_LIMIT {
        return Ok(None);
    }
    resolve(db, rows).await.map(Some)
}
