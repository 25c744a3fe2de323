//! Connecting to the database: the pool's bounds, SQLite's durability
//! settings, and waiting out another process's lock on a SQLite file.

use anyhow::Context as _;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use std::time::Duration;

/// Opens the pool. SQLite runs in WAL mode (readers never block the writer)
/// with full fsync (a commit survives power loss, so acking after it is
/// safe) and waits for locks held by other processes instead of failing.
///
/// Every connection is bounded in time: connecting (5 s), waiting for a
/// pooled one (10 s), and on PostgreSQL each statement
/// (`statement_timeout`, enforced by the server). Pooled connections are
/// checked before use and replaced after a minute idle, so one that a
/// restarted server closed is found out before it is needed.
/// `max_connections` applies to PostgreSQL; SQLite gets one.
pub async fn connect(
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
                // Deleted content is overwritten with zeros, not left in
                // free pages: an erased person's bytes leave the file
                // (issue 24).
                .pragma("secure_delete", "ON")
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
            Err(error)
                if crate::errors::is_contention(&error) && started.elapsed() < CONNECT_PATIENCE =>
            {
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
