//! Routing: which team a lead goes to ([`Rules`]), whose turn it is
//! ([`assign`]), and a sweep for leads left unrouted ([`route_pending`]).
//!
//! A batch routes its own new leads as it writes them
//! ([`super::new_leads`]). The sweep takes what that leaves: leads written
//! before routing moved into the batch (`routed_at` empty). Each worker's
//! sweep takes the unrouted leads (on PostgreSQL `FOR UPDATE SKIP LOCKED`,
//! so two sweeps never take the same lead), assigns them, and commits at
//! once.
//!
//! Exactly once: a lead is written routed only if it still is not (a
//! concurrent sweep's commit rolls this round back, to be tried again).
//! Fair: a team's members on duty take turns by `last_assigned_seq` (the
//! team's turn counter at their last lead), and bumping the counter locks
//! the team's row, so two rounds' turns never interleave. A member over
//! the team's cap of open leads is skipped; with nobody left, the lead
//! stays unassigned in the team.

use super::Turns;
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use shared::config::DeskConfig;
use std::collections::{BTreeMap, HashMap};
use store::desk::{Notice, notify_along};
use store::entities::{leads, routing_rules, staff_users, team_members, teams};
use store::live::{Change, ChangeKind};
use uuid::Uuid;

/// Leads per statement.
const CHUNK: usize = 64;

/// A lead waiting for routing.
struct Unrouted {
    id: Uuid,
    source: String,
    line: Option<String>,
    /// Set before routing (the CRM's `assigned_to`, a manager): kept, and
    /// no turn taken for it.
    owner: Option<Uuid>,
}

/// Where a lead went.
pub(crate) struct Routed {
    pub id: Uuid,
    pub team: Option<Uuid>,
    pub owner: Option<Uuid>,
    /// Whether its owner is told (not when the owner was set before).
    pub notify: bool,
}

/// Leads one round routes at most.
pub(crate) const MAX_PER_ROUND: u64 = 512;

/// Routes and assigns the leads not routed yet (at most
/// [`MAX_PER_ROUND`]), in one transaction; returns how many.
pub(crate) async fn route_pending(
    db: &DatabaseConnection,
    desk: &DeskConfig,
) -> Result<usize, DbErr> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == sea_orm::DbBackend::Sqlite {
        // Take SQLite's write lock before reading (waiting for it like any
        // writer): a read first would make the round's first write fail
        // whenever a batch committed in between, and under a steady drain
        // that is every time.
        txn.execute_unprepared("UPDATE teams SET assign_seq = assign_seq WHERE 1 = 0")
            .await?;
    }
    let unrouted: Vec<(Uuid, String, Option<String>, Option<Uuid>)> = leads::Entity::find()
        .select_only()
        .columns([
            leads::Column::Id,
            leads::Column::FirstSource,
            leads::Column::Line,
            leads::Column::OwnerId,
        ])
        .filter(leads::Column::RoutedAt.is_null())
        .order_by_asc(leads::Column::FirstSeenAt)
        .limit(MAX_PER_ROUND)
        // Another router's leads are skipped, not waited for (PostgreSQL;
        // SQLite has one writer at a time anyway).
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(&txn)
        .await?;
    if unrouted.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    let unrouted: Vec<Unrouted> = unrouted
        .into_iter()
        .map(|(id, source, line, owner)| Unrouted {
            id,
            source,
            line,
            owner,
        })
        .collect();
    let count = unrouted.len();
    route(&txn, unrouted, desk).await?;
    txn.commit().await?;
    Ok(count)
}

/// The routing rules and the teams, as one round reads them.
pub(crate) struct Rules {
    /// In the order they are tried.
    rules: Vec<routing_rules::Model>,
    teams: HashMap<Uuid, teams::Model>,
    default_team: Option<Uuid>,
}

impl Rules {
    /// Reads the rules and teams (a few rows each).
    pub(crate) async fn load(conn: &impl ConnectionTrait) -> Result<Self, DbErr> {
        let rules = routing_rules::Entity::find()
            .order_by_asc(routing_rules::Column::Position)
            .all(conn)
            .await?;
        let teams: HashMap<Uuid, teams::Model> = teams::Entity::find()
            .all(conn)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let default_team = teams.values().find(|t| t.is_default).map(|t| t.id);
        Ok(Self {
            rules,
            teams,
            default_team,
        })
    }

    /// The team of a lead first seen from `source` on `line`: the first
    /// rule that matches, else the default team (none when there is none).
    pub(crate) fn team_for(&self, source: &str, line: Option<&str>) -> Option<Uuid> {
        self.rules
            .iter()
            .find(|r| {
                r.source.as_deref().is_none_or(|s| s == source)
                    && r.line.as_deref().is_none_or(|l| Some(l) == line)
            })
            .map(|r| r.team_id)
            .filter(|team| self.teams.contains_key(team))
            .or(self.default_team)
    }

    /// A team by its id.
    pub(crate) fn team(&self, id: Uuid) -> Option<&teams::Model> {
        self.teams.get(&id)
    }
}

/// Routes and assigns `unrouted`, in `txn`.
async fn route(
    txn: &DatabaseTransaction,
    unrouted: Vec<Unrouted>,
    desk: &DeskConfig,
) -> Result<(), DbErr> {
    let rules = Rules::load(txn).await?;
    let placed = unrouted
        .iter()
        .map(|lead| {
            let team = rules.team_for(&lead.source, lead.line.as_deref());
            (lead.id, team, lead.owner)
        })
        .collect();
    let routed = place(txn, &rules, placed, &Turns::InBatch).await?;
    write(txn, &routed, desk).await?;
    announce(txn, &routed).await
}

/// Tells open desks of routed leads, and each new owner of their lead.
pub(crate) async fn announce(txn: &impl ConnectionTrait, routed: &[Routed]) -> Result<(), DbErr> {
    let (changes, notices) = announcements(routed);
    notify_along(txn, notices, changes).await
}

/// What [`announce`] writes, for a batch that writes it along with the
/// rest of its change feed and notifications ([`super::apply`]).
pub(crate) fn announcements(routed: &[Routed]) -> (Vec<Change>, Vec<Notice<'static>>) {
    let changes = routed
        .iter()
        .map(|r| Change::lead(ChangeKind::Lead, r.id))
        .collect();
    let notices = routed
        .iter()
        .filter(|r| r.notify)
        .filter_map(|r| {
            Some(Notice {
                user: r.owner?,
                lead: Some(r.id),
                kind: "assigned",
                text: "A new lead was assigned to you.".into(),
            })
        })
        .collect();
    (changes, notices)
}

/// Where each lead goes: `(lead, its team, an owner set before)`. A lead
/// with an owner keeps it and takes no turn; the others take their team's
/// turns through `turns` (teams in key order: the lock order every worker
/// takes), or stay unassigned with no team.
pub(crate) async fn place(
    txn: &impl ConnectionTrait,
    rules: &Rules,
    leads: Vec<(Uuid, Option<Uuid>, Option<Uuid>)>,
    turns: &Turns,
) -> Result<Vec<Routed>, DbErr> {
    let mut routed = Vec::with_capacity(leads.len());
    let mut by_team: BTreeMap<Option<Uuid>, Vec<Uuid>> = BTreeMap::new();
    for (id, team, owner) in leads {
        match owner {
            // Owned already: it joins the team, its owner stays.
            Some(owner) => routed.push(Routed {
                id,
                team,
                owner: Some(owner),
                notify: false,
            }),
            None => by_team.entry(team).or_default().push(id),
        }
    }
    let wanted: Vec<(&teams::Model, usize)> = by_team
        .iter()
        .filter_map(|(team, leads)| Some((rules.team((*team)?)?, leads.len())))
        .collect();
    let mut taken = if wanted.is_empty() {
        Vec::new()
    } else {
        turns.take(txn, &wanted).await?
    }
    .into_iter();
    for (team, leads) in by_team {
        let owners = match team.and_then(|t| rules.team(t)) {
            Some(_) => taken.next().unwrap_or_else(|| vec![None; leads.len()]),
            None => vec![None; leads.len()],
        };
        routed.extend(leads.into_iter().zip(owners).map(|(id, owner)| Routed {
            id,
            team,
            owner,
            notify: true,
        }));
    }
    Ok(routed)
}

/// Takes `count` turns of `team`'s round-robin: the owner of each (or none
/// when nobody on duty is under the cap), never `exclude` (an escalated
/// lead's owner). Routing and escalation both take turns here, in three
/// statements (four with a cap): bump the counter, read who is on duty,
/// record each member's last turn.
pub(crate) async fn assign(
    txn: &impl ConnectionTrait,
    team: &teams::Model,
    count: usize,
    exclude: Option<Uuid>,
) -> Result<Vec<Option<Uuid>>, DbErr> {
    use store::entities::{staff_users::Column as U, team_members::Column as M};
    let count_i64 = i64::try_from(count).unwrap_or(i64::MAX);
    // Locks the team's row until commit: the turns are ours alone.
    let bump = Query::update()
        .table(teams::Entity)
        .value(
            teams::Column::AssignSeq,
            Expr::col(teams::Column::AssignSeq).add(count_i64),
        )
        .and_where(Expr::col(teams::Column::Id).eq(team.id))
        .returning_col(teams::Column::AssignSeq)
        .to_owned();
    let last: i64 = txn
        .query_one(&bump)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("team {} vanished", team.id)))?
        .try_get("", "assign_seq")?;
    let first_turn = last - count_i64 + 1;
    // The members on duty, with their last turns.
    let on_duty = Query::select()
        .column((team_members::Entity, M::UserId))
        .column((team_members::Entity, M::LastAssignedSeq))
        .from(team_members::Entity)
        .inner_join(
            staff_users::Entity,
            Expr::col((staff_users::Entity, U::Id)).equals((team_members::Entity, M::UserId)),
        )
        .and_where(Expr::col((team_members::Entity, M::TeamId)).eq(team.id))
        .and_where(Expr::col((staff_users::Entity, U::OnDuty)).eq(true))
        .to_owned();
    let mut queue: Vec<(i64, Uuid)> = Vec::new();
    for row in txn.query_all(&on_duty).await? {
        let user: Uuid = row.try_get("", "user_id")?;
        if Some(user) != exclude {
            queue.push((row.try_get("", "last_assigned_seq")?, user));
        }
    }
    let mut open: HashMap<Uuid, i64> = HashMap::new();
    if let Some(cap) = team.max_open_leads {
        let users: Vec<Uuid> = queue.iter().map(|(_, user)| *user).collect();
        open = open_leads(txn, &users).await?;
        queue.retain(|(_, user)| open.get(user).copied().unwrap_or(0) < i64::from(cap));
    }
    // (last turn, user): the smallest goes next; ties by account id.
    let mut owners = Vec::with_capacity(count);
    let mut taken: BTreeMap<Uuid, i64> = BTreeMap::new();
    for turn in first_turn..=last {
        queue.sort_unstable();
        let Some(next) = queue.first_mut() else {
            owners.push(None);
            continue;
        };
        let user = next.1;
        next.0 = turn;
        taken.insert(user, turn);
        owners.push(Some(user));
        if let Some(cap) = team.max_open_leads {
            let owned = open.entry(user).or_default();
            *owned += 1;
            if *owned >= i64::from(cap) {
                queue.retain(|(_, u)| *u != user);
            }
        }
    }
    if let Some((&first, _)) = taken.iter().next() {
        let mut turns = Expr::case(Expr::col(M::UserId).eq(first), taken[&first]);
        for (user, turn) in taken.iter().skip(1) {
            turns = turns.case(Expr::col(M::UserId).eq(*user), *turn);
        }
        let record = Query::update()
            .table(team_members::Entity)
            .value(
                M::LastAssignedSeq,
                turns.finally(Expr::col(M::LastAssignedSeq)),
            )
            .and_where(Expr::col(M::TeamId).eq(team.id))
            .and_where(Expr::col(M::UserId).is_in(taken.keys().copied()))
            .to_owned();
        txn.execute(&record).await?;
    }
    Ok(owners)
}

/// Open leads (not won or lost) each of `users` owns.
async fn open_leads(
    txn: &impl ConnectionTrait,
    users: &[Uuid],
) -> Result<HashMap<Uuid, i64>, DbErr> {
    use sea_orm::QuerySelect;
    let rows: Vec<(Option<Uuid>, i64)> = leads::Entity::find()
        .select_only()
        .column(leads::Column::OwnerId)
        .column_as(leads::Column::Id.count(), "open")
        .filter(leads::Column::OwnerId.is_in(users.to_vec()))
        .filter(leads::Column::Stage.is_not_in(["won", "lost"]))
        .group_by(leads::Column::OwnerId)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(owner, n)| Some((owner?, n)))
        .collect())
}

/// Writes each lead's team, owner and deadlines: one statement per 64.
async fn write(
    txn: &impl ConnectionTrait,
    routed: &[Routed],
    desk: &DeskConfig,
) -> Result<(), DbErr> {
    use leads::Column as C;
    // The desk learns of the lead now: its deadlines count from here, so a
    // partner's old event time does not make a lead overdue on arrival.
    let now = Utc::now();
    let (due, escalate) = desk.deadlines(now);
    for chunk in routed.chunks(CHUNK) {
        let mut team = Expr::case(Expr::col(C::Id).eq(chunk[0].id), chunk[0].team);
        let mut owner = Expr::case(Expr::col(C::Id).eq(chunk[0].id), chunk[0].owner);
        for lead in &chunk[1..] {
            team = team.case(Expr::col(C::Id).eq(lead.id), lead.team);
            owner = owner.case(Expr::col(C::Id).eq(lead.id), lead.owner);
        }
        let update = Query::update()
            .table(leads::Entity)
            .value(C::TeamId, team.finally(Expr::col(C::TeamId)))
            .value(C::OwnerId, owner.finally(Expr::col(C::OwnerId)))
            .value(C::RoutedAt, now)
            .value(C::ResponseDueAt, due)
            .value(C::EscalateAt, escalate)
            .and_where(Expr::col(C::Id).is_in(chunk.iter().map(|r| r.id)))
            .and_where(Expr::col(C::RoutedAt).is_null())
            .to_owned();
        let written = txn.execute(&update).await?.rows_affected();
        if written != chunk.len() as u64 {
            // Another router took some of them meanwhile (SQLite, where
            // nothing was locked): roll this round back, turns and all.
            return Err(DbErr::Custom(format!(
                "{} of {} leads were routed by another worker meanwhile; routing again",
                chunk.len() as u64 - written,
                chunk.len()
            )));
        }
    }
    Ok(())
}
