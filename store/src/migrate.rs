//! Applying migrations, one process at a time.

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

/// Applies pending migrations. Several workers may start at once: on
/// PostgreSQL an advisory lock held for the migration transaction lets one
/// migrate while the others wait; on SQLite the first write takes the
/// database's single write lock for the whole transaction.
///
/// A transient error (another worker's lock, a lost connection) is returned
/// as such: the caller waits and tries again.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    match db.get_database_backend() {
        DbBackend::Postgres => {
            // Waiting for another worker's migration is bounded: past it,
            // PostgreSQL answers 55P03 (transient), and the caller tries again.
            txn.execute_unprepared("SET LOCAL lock_timeout = '10s'")
                .await?;
            // An arbitrary, fixed key: "leadpipe" in ASCII.
            txn.execute_unprepared("SELECT pg_advisory_xact_lock(7018134011736764261)")
                .await?;
        }
        DbBackend::Sqlite => {
            txn.execute_unprepared(
                "CREATE TABLE IF NOT EXISTS leadpipe_migration_lock (id INTEGER PRIMARY KEY)",
            )
            .await?;
            txn.execute_unprepared("DELETE FROM leadpipe_migration_lock")
                .await?;
        }
        _ => {}
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}
