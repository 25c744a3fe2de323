//! A batch's new leads are routed and assigned as the batch writes them:
//! each lead's row is written once, with its team, owner and deadlines.
//!
//! They used to be written bare and routed a moment later by an `UPDATE`
//! of every new lead. That second write cost PostgreSQL more than
//! everything else the batch wrote for the lead (BENCHMARKS.md, night of
//! 2026-12-07), so it is gone; [`super::route::route_pending`] remains
//! only for leads left unrouted (written by an older version).
//!
//! **Exactly once.** Which of the batch's people are new is read under a
//! lock on each one's lead id: on PostgreSQL a transaction-scoped advisory
//! lock per id, taken in id order; on SQLite the batch holds the
//! database's only write lock. Of two batches that see a new person at the
//! same moment, the second waits for the first to commit, then finds the
//! lead there: one turn is taken for the person, never two, never none.
//!
//! **Turns without waiting.** Taking a turn locks the team's row. On
//! PostgreSQL the turns are taken in a short transaction of their own, on
//! another pooled connection and in one round trip ([`super::turns`]), so
//! no batch holds the row until its commit:
//! when one did, the batches in flight waited for each other and the drain
//! lost half its rate. The price: a batch that fails after taking turns
//! leaves them taken. Its messages are retried and their leads take new
//! turns, so each member it named skips one turn (a database error or a
//! crash mid-batch, not a race). On SQLite the batch already holds the
//! only write lock, so the turns are taken in it and go back with it.
//!
//! **Erased people stay erased** (issue 24). The same read returns the
//! erasures of the batch's people, and an erasure takes the same lock on
//! its person. A batch holding a message received before its person was
//! erased is refused whole ([`crate::persist::ERASED`]) and applied again
//! one message at a time, where only that message is left out. A status
//! receipt locks and reads its recipient the same way: one received after
//! the erasure, while they have no lead again, is stored without their
//! number.

use super::route::{Routed, Rules, place};
use super::{CrmStatus, Desk};
use chrono::DateTime;
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Query, UnionType};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter};
use std::collections::{HashMap, HashSet};
use store::entities::{erasures, leads, staff_users};
use uuid::Uuid;

/// Advisory-lock class of a lead id's lock (the first key of
/// `pg_advisory_xact_lock(int, int)`; ours alone: "LEAD" in ASCII).
const LEAD_LOCK_CLASS: i32 = 0x4c45_4144;

/// What [`route`] found of a batch's people.
pub(crate) struct People {
    /// Where each new lead went, to [`super::route::announce`] once
    /// written.
    pub routed: Vec<Routed>,
    /// Status receipts' recipients who were erased and have no lead now:
    /// their receipts are stored without their number.
    pub gone: HashSet<Uuid>,
}

/// Locks the batch's people (`rows`, staged lead rows in message order,
/// and `recipients`, the lead ids of its status receipts' recipients) and
/// routes and assigns the leads among `rows` that do not exist yet: fills
/// their team, owner, routing time and deadlines on every row of theirs,
/// so the insert writes them. `crm` holds the batch's CRM statuses: a new
/// lead whose CRM event names an account's CRM user is that account's,
/// and takes no turn.
pub(crate) async fn route(
    txn: &impl ConnectionTrait,
    desk: &Desk,
    rows: &mut [(Uuid, leads::ActiveModel)],
    recipients: Vec<Uuid>,
    crm: &[CrmStatus],
    received: Option<DateTime<Utc>>,
) -> Result<People, DbErr> {
    let mut ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).chain(recipients).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(People {
            routed: Vec::new(),
            gone: HashSet::new(),
        });
    }
    lock_ids(txn, &ids).await?;
    let (known, erased) = existing(txn, &ids).await?;
    // Someone erased after one of the batch's messages was received (a
    // delivery queued, retried or spooled across the erasure): nothing of
    // the batch is written (see [`crate::persist::ERASED`]).
    if let Some(received) = received
        && erased.iter().any(|(_, at)| *at > received)
    {
        return Err(DbErr::Custom(crate::persist::ERASED.into()));
    }
    let staged: HashSet<Uuid> = rows.iter().map(|(id, _)| *id).collect();
    let gone = erased
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !known.contains(id) && !staged.contains(id))
        .collect();
    let new: HashSet<Uuid> = staged
        .into_iter()
        .filter(|id| !known.contains(id))
        .collect();
    if new.is_empty() {
        return Ok(People {
            routed: Vec::new(),
            gone,
        });
    }
    let rules = Rules::load(txn).await?;
    let preset = crm_owners(txn, crm, &new).await?;

    // Each new lead's team, from its first sighting.
    let mut unplaced = new;
    let mut placed = Vec::with_capacity(unplaced.len());
    for (id, row) in rows.iter() {
        if unplaced.remove(id) {
            let source = row.first_source.try_as_ref().map_or("", String::as_str);
            let line = row.line.try_as_ref().and_then(Option::as_deref);
            placed.push((*id, rules.team_for(source, line), preset.get(id).copied()));
        }
    }
    let routed = place(txn, &rules, placed, &desk.turns).await?;

    // The desk learns of the lead now: its deadlines count from here, so a
    // partner's old event time does not make a lead overdue on arrival.
    let now = Utc::now();
    let (due, escalate) = desk.config.deadlines(now);
    let by_id: HashMap<Uuid, &Routed> = routed.iter().map(|r| (r.id, r)).collect();
    for (id, row) in rows.iter_mut() {
        let Some(lead) = by_id.get(id) else {
            continue;
        };
        row.team_id = sea_orm::Set(lead.team);
        row.owner_id = sea_orm::Set(lead.owner);
        row.routed_at = sea_orm::Set(Some(now));
        row.response_due_at = sea_orm::Set(Some(due));
        row.escalate_at = sea_orm::Set(Some(escalate));
    }
    Ok(People { routed, gone })
}

/// Locks `ids` (sorted) until the batch ends, so that whether each exists
/// cannot change under it (see the module's comment).
pub(crate) async fn lock_ids(txn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), DbErr> {
    match txn.get_database_backend() {
        DbBackend::Postgres => {
            // Keys in order, so two batches never wait for each other in a
            // circle. Two ids sharing a key only wait for each other.
            let mut keys: Vec<i32> = ids.iter().map(|id| lock_key(*id)).collect();
            keys.sort_unstable();
            keys.dedup();
            let list = keys
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            // Unprepared: the text changes with every batch, and a
            // prepared statement per text would only fill the cache. The
            // plan setting is for [`existing`], sent along to save a round
            // trip.
            txn.execute_unprepared(&format!(
                "SET LOCAL plan_cache_mode = force_custom_plan; \
                 SELECT pg_advisory_xact_lock({LEAD_LOCK_CLASS}, k) FROM unnest(ARRAY[{list}]::int[]) WITH ORDINALITY AS u(k, n) ORDER BY n"
            ))
            .await?;
        }
        _ => {
            // Takes SQLite's write lock (waiting for it like any writer)
            // if the batch does not hold it yet: until then another
            // process could write one of these leads after we looked.
            txn.execute_unprepared("UPDATE teams SET assign_seq = assign_seq WHERE 1 = 0")
                .await?;
        }
    }
    Ok(())
}

/// A lead id's advisory-lock key: its first four bytes.
fn lock_key(id: Uuid) -> i32 {
    let bytes = id.as_bytes();
    i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Which of `ids` (sorted) are leads already, and which were erased and
/// when (issue 24), in one read.
///
/// On PostgreSQL, a prepared statement's generic plan, made while `leads`
/// was small, scans the whole table for these ids, and keeps doing so as
/// it grows (the drain fell to half its rate). Plans made for the values
/// at hand look them up by key: [`lock_ids`] sets `plan_cache_mode` so,
/// and this resets it once read.
async fn existing(
    txn: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<(HashSet<Uuid>, Vec<(Uuid, DateTime<Utc>)>), DbErr> {
    let mut known = HashSet::new();
    let mut erased = Vec::new();
    // Power-of-two chunks: a handful of statement texts, whatever the
    // batch size, so prepared statements keep being reused.
    for chunk in store::chunks::split(ids, 64) {
        let read = Query::select()
            .column(leads::Column::Id)
            .expr_as(Expr::cust("NULL"), "erased_at")
            .from(leads::Entity)
            .and_where(Expr::col(leads::Column::Id).is_in(chunk.iter().copied()))
            .union(
                UnionType::All,
                Query::select()
                    .column(erasures::Column::LeadId)
                    .column(erasures::Column::ErasedAt)
                    .from(erasures::Entity)
                    .and_where(Expr::col(erasures::Column::LeadId).is_in(chunk.iter().copied()))
                    .to_owned(),
            )
            .to_owned();
        for row in txn.query_all(&read).await? {
            let id = row.try_get::<Uuid>("", "id")?;
            match row.try_get::<Option<DateTime<Utc>>>("", "erased_at")? {
                Some(at) => erased.push((id, at)),
                None => {
                    known.insert(id);
                }
            }
        }
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("RESET plan_cache_mode").await?;
    }
    Ok((known, erased))
}

/// The owners the batch's CRM events name for its new leads: the accounts
/// carrying those CRM user ids (`console user change --crm-user-id`).
async fn crm_owners(
    txn: &impl ConnectionTrait,
    crm: &[CrmStatus],
    new: &HashSet<Uuid>,
) -> Result<HashMap<Uuid, Uuid>, DbErr> {
    let named: Vec<(Uuid, &str)> = crm
        .iter()
        .filter(|s| new.contains(&s.lead))
        .filter_map(|s| Some((s.lead, s.assigned_to.as_deref()?)))
        .collect();
    if named.is_empty() {
        return Ok(HashMap::new());
    }
    let accounts: HashMap<String, Uuid> = staff_users::Entity::find()
        .filter(staff_users::Column::CrmUserId.is_in(named.iter().map(|(_, user)| *user)))
        .all(txn)
        .await?
        .into_iter()
        .filter_map(|u| Some((u.crm_user_id?, u.id)))
        .collect();
    // The last event in message order names the owner, as applying them
    // one after another would.
    Ok(named
        .into_iter()
        .filter_map(|(lead, user)| Some((lead, *accounts.get(user)?)))
        .collect())
}
