//! Connecting to the database, applying migrations, and telling transient
//! database failures (wait and try again) from permanent ones.

use anyhow::Context as _;
use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
    TransactionTrait,
};
use shared::config::WorkerConfig;
use std::time::Duration;

/// Opens the pool. SQLite runs in WAL mode (readers never block the writer)
/// with full fsync (a commit survives power loss, so acking after it is
/// safe) and waits for locks held by other workers instead of failing.
///
/// Every connection is bounded in time: connecting (5 s), waiting for a
/// pooled one (10 s), and on PostgreSQL each statement
/// (`DATABASE_TIMEOUT_SECS`, enforced by the server). Pooled connections are
/// checked before use and replaced after a minute idle, so one that a
/// restarted server closed is found out before a batch needs it.
pub async fn connect(config: &WorkerConfig) -> anyhow::Result<DatabaseConnection> {
    connect_url(
        config.database_url.expose(),
        config.database_max_connections,
        config.database_timeout,
    )
    .await
}

/// [`connect`] for any process on the workers' database (the console too):
/// `max_connections` on PostgreSQL, each statement bounded by
/// `statement_timeout`.
pub async fn connect_url(
    url: &str,
    max_connections: u32,
    statement_timeout: Duration,
) -> anyhow::Result<DatabaseConnection> {
    let is_sqlite = url.starts_with("sqlite:");
    if let Some(dir) = sqlite_path(url)
        .and_then(|path| std::path::Path::new(path).parent())
        .filter(|dir| !dir.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the database directory {}", dir.display()))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if is_sqlite {
            // One writer at a time is all SQLite allows; more connections
            // would only wait on each other's locks.
            1
        } else {
            max_connections
        })
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(true)
        .idle_timeout(Duration::from_secs(60))
        .max_lifetime(Duration::from_secs(30 * 60))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        })
        .map_sqlx_postgres_opts({
            let statement_timeout = format!("{}ms", statement_timeout.as_millis());
            move |o| o.options([("statement_timeout", statement_timeout.as_str())])
        });
    // Opening a SQLite file switches it to WAL, which needs a lock SQLite
    // cannot wait for with its busy timeout: when another process is
    // opening or migrating the same file at that moment, the connect fails
    // with "database is locked". That goes away by itself, so wait it out.
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        match Database::connect(options.clone()).await {
            Ok(db) => return Ok(db),
            Err(error) if is_contention(&error) && started.elapsed() < CONNECT_PATIENCE => {
                tracing::debug!(%error, "the database is busy; connecting again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
            Err(error) => return Err(error).context("cannot connect to the database"),
        }
    }
}

/// How long connecting waits out another process holding the SQLite file's
/// lock (it is migrating, or switching the file to WAL) before giving up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then_some(path)
}

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

/// True when a database error may go away by itself (connection lost,
/// server restarting, lock contention, serialization conflict): the message
/// is retried in place and never dead-lettered for it. Anything else is a
/// problem with the data or the schema.
pub fn is_transient(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            use sea_orm::sqlx::Error;
            match e.as_ref() {
                Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    // PostgreSQL SQLSTATE classes: 08 connection, 40
                    // serialization/deadlock, 53 resources, 57 operator
                    // intervention (shutdown, statement timeout), 58 system
                    // error; and 55P03, a lock wait past lock_timeout.
                    let pg = code.len() == 5
                        && (["08", "40", "53", "57", "58"]
                            .iter()
                            .any(|c| code.starts_with(c))
                            || code == "55P03");
                    // SQLite result codes: 5 BUSY, 6 LOCKED, 10 IOERR, 13 FULL (and extended forms).
                    let sqlite = code
                        .parse::<i32>()
                        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13));
                    pg || sqlite
                }
                Error::Io(_)
                | Error::PoolTimedOut
                | Error::PoolClosed
                | Error::Protocol(_)
                | Error::Tls(_)
                | Error::WorkerCrashed => true,
                _ => false,
            }
        }
        DbErr::Exec(RuntimeErr::Internal(_)) | DbErr::Query(RuntimeErr::Internal(_)) => true,
        _ => false,
    }
}

/// True for lock contention between transactions (or, on SQLite, between
/// connections being opened): PostgreSQL's serialization failures and
/// deadlocks (SQLSTATE 40001, 40P01), SQLite's busy and locked results.
pub fn is_contention(error: &DbErr) -> bool {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                code == "40001"
                    || code == "40P01"
                    || code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_paths() {
        assert_eq!(
            super::sqlite_path("sqlite://data/x.db?mode=rwc"),
            Some("data/x.db")
        );
        assert_eq!(super::sqlite_path("sqlite::memory:"), None);
        assert_eq!(super::sqlite_path("postgres://h/db"), None);
    }
}
