//! Where and how a batch takes its new leads' turns of the round-robin.
//!
//! On SQLite the batch holds the database's only write lock, so its turns
//! are taken in it and roll back with it: for teams without a cap, in two
//! statements for all of them ([`uncapped_in_batch`]); else team by team
//! ([`super::route::assign`]).
//!
//! On PostgreSQL taking a turn locks the team's row, and a batch that held
//! it until its commit made the batches in flight wait for each other (the
//! drain lost half its rate). So the turns are taken in a transaction of
//! their own on another pooled connection, and, for teams without a cap
//! on open leads, in one round trip: a single simple-protocol message
//! whose statements PostgreSQL runs as one implicit transaction. Each
//! statement still reads the database as it is when it starts, so the
//! members' last turns are read after the team's row is locked, exactly as
//! [`super::route::assign`] reads them. The batch's commit comes after
//! this one in the log, so turns need not wait for the disk: if they are
//! lost, so is the batch. A team with a cap counts its members' open leads
//! between the statements and goes through [`super::route::assign`] in a
//! short transaction.

use super::route::assign;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::sqlx::{self, AssertSqlSafe, PgPool, Row};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use std::collections::HashMap;
use std::fmt::Write as _;
use store::entities::teams;
use uuid::Uuid;

/// Where a batch takes its new leads' turns.
#[derive(Debug, Clone, Default)]
pub(crate) enum Turns {
    /// In the batch's own transaction (SQLite, where it holds the only
    /// write lock anyway; and code that has no pool at hand).
    #[default]
    InBatch,
    /// In a transaction of their own on this pool (PostgreSQL).
    OwnTransaction(DatabaseConnection),
}

impl Turns {
    /// The right place for `db`'s backend.
    pub(crate) fn for_pool(db: &DatabaseConnection) -> Self {
        match db.get_database_backend() {
            DbBackend::Postgres => Self::OwnTransaction(db.clone()),
            _ => Self::InBatch,
        }
    }

    /// Takes each team's count of turns, teams in the order given (the
    /// lock order every worker takes): their owners, team by team, each
    /// `None` when nobody on duty could take it.
    pub(crate) async fn take(
        &self,
        batch: &impl ConnectionTrait,
        wanted: &[(&teams::Model, usize)],
    ) -> Result<Vec<Vec<Option<Uuid>>>, DbErr> {
        let mut owners = Vec::with_capacity(wanted.len());
        match self {
            Self::InBatch
                if batch.get_database_backend() == DbBackend::Sqlite
                    && wanted.iter().all(|(t, _)| t.max_open_leads.is_none()) =>
            {
                owners = uncapped_in_batch(batch, wanted).await?;
            }
            Self::InBatch => {
                for (team, count) in wanted {
                    owners.push(assign(batch, team, *count, None).await?);
                }
            }
            Self::OwnTransaction(db) if wanted.iter().all(|(t, _)| t.max_open_leads.is_none()) => {
                owners = uncapped(db.get_postgres_connection_pool(), wanted).await?;
            }
            Self::OwnTransaction(db) => {
                let turns = db.begin().await?;
                // Not waiting for the disk: see the module's comment.
                turns
                    .execute_unprepared("SET LOCAL synchronous_commit = off")
                    .await?;
                for (team, count) in wanted {
                    owners.push(assign(&turns, team, *count, None).await?);
                }
                turns.commit().await?;
            }
        }
        Ok(owners)
    }
}

/// Takes the turns of teams without a cap in one round trip (PostgreSQL):
/// bump each team's counter (locking its row, teams in the order given),
/// then give the turns to its members on duty in the order of their last
/// turns (ties by account id), recording each one's last.
///
/// Turn `first + i` goes to the member at position `i mod k` of the `k` on
/// duty: what [`assign`] gives one turn at a time. A member at position
/// `p < n` of a team taking `n` turns last takes `first + p + k·⌊(n−1−p)/k⌋`.
async fn uncapped(
    pool: &PgPool,
    wanted: &[(&teams::Model, usize)],
) -> Result<Vec<Vec<Option<Uuid>>>, DbErr> {
    // Only uuids and counts are written into the text, so it cannot carry
    // anything but what it says. Sent unprepared: it changes with every
    // batch.
    let mut sql = String::from("SET LOCAL synchronous_commit = off;");
    let mut values = Vec::with_capacity(wanted.len());
    for (team, count) in wanted {
        let _ = write!(
            sql,
            "UPDATE teams SET assign_seq = assign_seq + {count} WHERE id = '{id}';",
            id = team.id
        );
        values.push(format!("('{}'::uuid, {count}::bigint)", team.id));
    }
    let _ = write!(
        sql,
        "WITH wanted(team_id, n) AS (VALUES {values}), \
         duty AS ( \
           SELECT m.team_id, m.user_id, w.n, t.assign_seq - w.n + 1 AS first, \
             row_number() OVER (PARTITION BY m.team_id ORDER BY m.last_assigned_seq, m.user_id) - 1 AS pos, \
             count(*) OVER (PARTITION BY m.team_id) AS k \
           FROM team_members m \
           JOIN staff_users u ON u.id = m.user_id AND u.on_duty \
           JOIN wanted w ON w.team_id = m.team_id \
           JOIN teams t ON t.id = m.team_id) \
         UPDATE team_members m \
           SET last_assigned_seq = d.first + d.pos + d.k * ((d.n - 1 - d.pos) / d.k) \
           FROM duty d \
           WHERE m.team_id = d.team_id AND m.user_id = d.user_id AND d.pos < d.n \
           RETURNING m.team_id, m.user_id, d.pos;",
        values = values.join(",")
    );
    let rows = sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(|e| DbErr::Custom(format!("taking turns: {e}")))?;
    let mut members: HashMap<Uuid, Vec<(i64, Uuid)>> = HashMap::new();
    for row in rows {
        let read = |e: sqlx::Error| DbErr::Custom(format!("reading turns: {e}"));
        let team: Uuid = row.try_get("team_id").map_err(read)?;
        members.entry(team).or_default().push((
            row.try_get("pos").map_err(read)?,
            row.try_get("user_id").map_err(read)?,
        ));
    }
    Ok(deal(wanted, members))
}

/// Takes the turns of teams without a cap in two statements, in the
/// batch's transaction (SQLite, where the batch holds the only write lock
/// and each statement costs a trip to the database's thread): bump every
/// team's counter, then record the last turn of each member on duty who
/// takes one, as [`uncapped`] does.
///
/// SQLite's `RETURNING` cannot name the `FROM` clause's columns, so each
/// member's position is read back from its last turn: of the `r` members
/// returned (all `k` on duty when `n ≥ k`, else the first `n`), the member
/// at position `p` last took `first + p + k·⌊(n−1−p)/k⌋`, which is
/// `first + p` modulo `r` either way.
async fn uncapped_in_batch(
    batch: &impl ConnectionTrait,
    wanted: &[(&teams::Model, usize)],
) -> Result<Vec<Vec<Option<Uuid>>>, DbErr> {
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let (first_team, first_count) = wanted[0];
    let mut by = Expr::case(
        Expr::col(teams::Column::Id).eq(first_team.id),
        count(first_count),
    );
    for (team, n) in &wanted[1..] {
        by = by.case(Expr::col(teams::Column::Id).eq(team.id), count(*n));
    }
    let bump = Query::update()
        .table(teams::Entity)
        .value(
            teams::Column::AssignSeq,
            Expr::col(teams::Column::AssignSeq).add(by.finally(0)),
        )
        .and_where(Expr::col(teams::Column::Id).is_in(wanted.iter().map(|(t, _)| t.id)))
        .returning(Query::returning().columns([teams::Column::Id, teams::Column::AssignSeq]))
        .to_owned();
    let mut first: HashMap<Uuid, i64> = HashMap::new();
    for row in batch.query_all(&bump).await? {
        let team: Uuid = row.try_get("", "id")?;
        let last: i64 = row.try_get("", "assign_seq")?;
        let n = wanted
            .iter()
            .find(|(t, _)| t.id == team)
            .map_or(0, |(_, n)| count(*n));
        first.insert(team, last - n + 1);
    }
    let backend = batch.get_database_backend();
    let mut values = Vec::with_capacity(wanted.len() * 2);
    for (team, n) in wanted {
        values.push(team.id.into());
        values.push(count(*n).into());
    }
    let sql = format!(
        "WITH wanted(team_id, n) AS (VALUES {pairs}), \
         duty AS ( \
           SELECT m.team_id, m.user_id, w.n, t.assign_seq - w.n + 1 AS first, \
             row_number() OVER (PARTITION BY m.team_id ORDER BY m.last_assigned_seq, m.user_id) - 1 AS pos, \
             count(*) OVER (PARTITION BY m.team_id) AS k \
           FROM team_members m \
           JOIN staff_users u ON u.id = m.user_id AND u.on_duty \
           JOIN wanted w ON w.team_id = m.team_id \
           JOIN teams t ON t.id = m.team_id) \
         UPDATE team_members \
           SET last_assigned_seq = d.first + d.pos + d.k * ((d.n - 1 - d.pos) / d.k) \
           FROM duty d \
           WHERE team_members.team_id = d.team_id AND team_members.user_id = d.user_id \
             AND d.pos < d.n \
           RETURNING team_id, user_id, last_assigned_seq",
        pairs = vec!["(?, ?)"; wanted.len()].join(", ")
    );
    let mut returned: HashMap<Uuid, Vec<(i64, Uuid)>> = HashMap::new();
    for row in batch
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        let team: Uuid = row.try_get("", "team_id")?;
        returned.entry(team).or_default().push((
            row.try_get("", "last_assigned_seq")?,
            row.try_get("", "user_id")?,
        ));
    }
    let members = returned
        .into_iter()
        .map(|(team, lasts)| {
            let r = i64::try_from(lasts.len()).unwrap_or(i64::MAX);
            let first = first.get(&team).copied().unwrap_or(0);
            let on_duty = lasts
                .into_iter()
                .map(|(last, user)| ((last - first).rem_euclid(r), user))
                .collect();
            (team, on_duty)
        })
        .collect();
    Ok(deal(wanted, members))
}

/// Gives each team's turns to its members who took one (`(position,
/// member)` by team, in any order): turn `i` goes to the member at
/// position `i mod r` of the `r` returned, which is [`assign`]'s order
/// (when fewer than `k` turns are taken, only the first `n` take one).
fn deal(
    wanted: &[(&teams::Model, usize)],
    mut members: HashMap<Uuid, Vec<(i64, Uuid)>>,
) -> Vec<Vec<Option<Uuid>>> {
    wanted
        .iter()
        .map(|(team, count)| {
            let Some(mut on_duty) = members.remove(&team.id) else {
                return vec![None; *count];
            };
            on_duty.sort_unstable();
            (0..*count)
                .map(|i| on_duty.get(i % on_duty.len()).map(|(_, user)| *user))
                .collect()
        })
        .collect()
}
