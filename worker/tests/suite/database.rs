//! Opening the database while another process holds it: workers and the
//! console start side by side on one SQLite file, and whichever comes
//! second must wait for the first instead of failing to start.

use sea_orm::ConnectionTrait;
use sea_orm::sqlx::{Connection as _, Executor as _, SqliteConnection};
use std::time::Duration;
use testkit::{Backend, TestDb, within};

#[tokio::test]
async fn opening_a_sqlite_file_another_process_has_locked_waits_for_the_lock() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Sqlite).await;
    db.conn
        .execute_unprepared("CREATE TABLE started_by_another (x INTEGER)")
        .await
        .expect("create a table");
    // Another process in the middle of a write (its migration, say) holds
    // the file's write lock; switching the file to WAL needs it, and SQLite
    // answers "database is locked" at once rather than wait for it.
    let mut other = SqliteConnection::connect(&db.url)
        .await
        .expect("another connection");
    other
        .execute("BEGIN IMMEDIATE; INSERT INTO started_by_another VALUES (1);")
        .await
        .expect("take the write lock");

    let url = db.url.clone();
    let opening =
        tokio::spawn(async move { store::connect(&url, 1, Duration::from_secs(30)).await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !opening.is_finished(),
        "opening gave up while the lock was held: {:?}",
        opening.await
    );
    other.execute("COMMIT").await.expect("release the lock");

    let opened = within("opening the database", Duration::from_secs(30), opening)
        .await
        .expect("the opening task")
        .expect("the database opens once the lock is released");
    let rows = opened
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT COUNT(*) AS n FROM started_by_another",
        ))
        .await
        .expect("read")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("a count");
    assert_eq!(rows, 1, "the other process's write is there");
    let mode = opened
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .expect("read the journal mode")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("a mode");
    assert_eq!(mode, "wal");
    opened.close().await.ok();
    other.close().await.ok();
    db.drop().await;
}
