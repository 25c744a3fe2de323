//! Where a batch takes its new leads' turns of the round-robin: in the
//! batch (SQLite) or in a short transaction of its own (PostgreSQL); see
//! [`super::new_leads`] for why.

use super::route::assign;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use store::entities::teams;
use uuid::Uuid;

/// Where a batch takes its new leads' turns.
#[derive(Debug, Clone, Default)]
pub(crate) enum Turns {
    /// In the batch's own transaction (SQLite, where it holds the only
    /// write lock anyway; and code that has no pool at hand).
    #[default]
    InBatch,
    /// In a short transaction of their own on this pool (PostgreSQL).
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
            Self::InBatch => {
                for (team, count) in wanted {
                    owners.push(assign(batch, team, *count, None).await?);
                }
            }
            Self::OwnTransaction(db) => {
                let turns = db.begin().await?;
                // Safe without waiting for the disk: the batch that uses
                // these turns commits after this, and its commit flushes
                // the log up to and past this one. If this is lost, so is
                // the batch.
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
