//! Transactions that read, then write.
//!
//! On SQLite a transaction begins as a reader; its first write must then
//! take the database's one write lock, and if another process (a worker
//! draining a backlog) committed since the transaction read, SQLite
//! refuses at once with "database is locked" instead of waiting: the
//! snapshot it read is stale. A staff member's stage move or a dealer's
//! `console team add` would fail for no reason of theirs. [`begin_write`]
//! takes the write lock at `BEGIN` (`BEGIN IMMEDIATE`), waiting for it
//! under the connection's busy timeout like any writer.

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

/// Begins a transaction that will write (see the module's comment); on
/// PostgreSQL an ordinary one.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::teams;
    use sea_orm::{ActiveValue::Set, EntityTrait, PaginatorTrait};
    use std::time::Duration;

    fn team(name: &str) -> teams::ActiveModel {
        teams::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            name: Set(name.into()),
            is_default: Set(false),
            assign_seq: Set(0),
            max_open_leads: Set(None),
            created_at: Set(chrono::Utc::now()),
        }
    }

    /// A transaction that read, while another process committed a write,
    /// still writes: the other waits for it instead.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_then_write_is_not_refused_when_another_writer_commits_between() {
        let dir = std::env::temp_dir().join(format!("leadpipe-write-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/db.sqlite?mode=rwc", dir.display());
        let console = crate::connect(&url, 2, Duration::from_secs(30))
            .await
            .unwrap();
        crate::migrate(&console).await.unwrap();
        let worker = crate::connect(&url, 2, Duration::from_secs(30))
            .await
            .unwrap();

        let txn = begin_write(&console).await.unwrap();
        assert_eq!(teams::Entity::find().count(&txn).await.unwrap(), 0);
        // Another process writes meanwhile (it waits for the lock).
        let other = tokio::spawn(async move {
            teams::Entity::insert(team("Tata sales"))
                .exec_without_returning(&worker)
                .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        teams::Entity::insert(team("MG sales"))
            .exec_without_returning(&txn)
            .await
            .expect("the write after the read");
        txn.commit().await.unwrap();
        other.await.unwrap().expect("the other process's write");
        assert_eq!(teams::Entity::find().count(&console).await.unwrap(), 2);
        std::fs::remove_dir_all(&dir).ok();
    }
}
