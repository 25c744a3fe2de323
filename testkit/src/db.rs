//! A database of the test's own: a fresh PostgreSQL database or an SQLite file.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::time::Duration;

use crate::*;

/// A database of the test's own.
pub struct TestDb {
    /// `DATABASE_URL` for the worker.
    pub url: String,
    /// A connection for assertions.
    pub conn: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { admin_url: String, name: String },
    Sqlite { _dir: TempDir },
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh PostgreSQL database on the test server.
    Postgres,
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
}

/// The longest any one test database operation may take.
const DB_STEP: Duration = Duration::from_secs(60);

impl TestDb {
    /// Creates an empty database (the worker migrates it).
    pub async fn create(backend: Backend) -> Self {
        within(
            "creating a test database",
            DB_STEP,
            Self::create_now(backend),
        )
        .await
    }

    async fn create_now(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let name = format!("test_{}", uuid::Uuid::now_v7().simple());
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to TEST_POSTGRES_URL (is PostgreSQL running? scripts/services.sh postgres)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
                let url = format!("{base}/{name}");
                let conn = Database::connect(&url)
                    .await
                    .expect("connect to test database");
                Self {
                    url,
                    conn,
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
            Backend::Sqlite => {
                let dir = TempDir::new();
                let url = format!("sqlite://{}?mode=rwc", dir.path.join("leads.db").display());
                let conn = Database::connect(&url).await.expect("open sqlite");
                Self {
                    url,
                    conn,
                    cleanup: Cleanup::Sqlite { _dir: dir },
                }
            }
        }
    }

    /// One number from a query such as `SELECT COUNT(*) …`.
    pub async fn scalar(&self, sql: &str) -> i64 {
        within(sql, DB_STEP, self.scalar_now(sql)).await
    }

    async fn scalar_now(&self, sql: &str) -> i64 {
        let row = self
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                self.conn.get_database_backend(),
                sql,
            ))
            .await
            .expect(sql)
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// One UUID from a query such as `SELECT ingest_id …` (stored as `uuid`
    /// on PostgreSQL and as a blob on SQLite).
    pub async fn uuid(&self, sql: &str) -> uuid::Uuid {
        let row = within(
            sql,
            DB_STEP,
            self.conn.query_one_raw(sea_orm::Statement::from_string(
                self.conn.get_database_backend(),
                sql,
            )),
        )
        .await
        .expect(sql)
        .expect("a row");
        row.try_get_by_index::<uuid::Uuid>(0).expect("a UUID")
    }

    /// Like [`TestDb::scalar`], but 0 while the table does not exist yet.
    pub async fn count(&self, sql: &str) -> i64 {
        within(sql, DB_STEP, self.count_now(sql)).await
    }

    async fn count_now(&self, sql: &str) -> i64 {
        match self
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                self.conn.get_database_backend(),
                sql,
            ))
            .await
        {
            Ok(Some(row)) => row.try_get_by_index::<i64>(0).unwrap_or(0),
            _ => 0,
        }
    }

    /// The schema as the database describes it: every table's columns
    /// (name, type, nullable) and every index's name, sorted, without the
    /// migration bookkeeping. Two databases with the same schema give the
    /// same text, so a test can compare an upgraded database with a new one.
    pub async fn schema(&self) -> Vec<String> {
        within("reading the schema", DB_STEP, self.schema_now()).await
    }

    async fn schema_now(&self) -> Vec<String> {
        let backend = self.conn.get_database_backend();
        let (columns, indexes) = match backend {
            sea_orm::DbBackend::Postgres => (
                "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS line \
                 FROM information_schema.columns WHERE table_schema = 'public'",
                "SELECT 'index ' || indexname AS line FROM pg_indexes WHERE schemaname = 'public'",
            ),
            _ => (
                "SELECT m.name || '.' || p.name || ' ' || p.type || ' ' || \
                 CASE WHEN p.\"notnull\" = 1 OR p.pk > 0 THEN 'NO' ELSE 'YES' END AS line \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
                "SELECT 'index ' || name AS line FROM sqlite_master WHERE type = 'index'",
            ),
        };
        let mut lines = Vec::new();
        for sql in [columns, indexes] {
            let rows = self
                .conn
                .query_all_raw(sea_orm::Statement::from_string(backend, sql))
                .await
                .expect(sql);
            for row in rows {
                lines.push(row.try_get::<String>("", "line").expect("a schema line"));
            }
        }
        lines.retain(|line| {
            !line.starts_with("seaql_migrations") && !line.starts_with("leadpipe_migration_lock")
        });
        lines.sort();
        lines
    }

    /// Takes this test's PostgreSQL database down (`true`: refuse new
    /// connections and terminate existing ones) or brings it back (`false`).
    /// A real outage for the worker, confined to this test's database.
    pub async fn set_down(&self, down: bool) {
        within(
            "taking a test database down or up",
            DB_STEP,
            self.set_down_now(down),
        )
        .await
    }

    async fn set_down_now(&self, down: bool) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            panic!("database outages are simulated on PostgreSQL only");
        };
        let admin = Database::connect(admin_url)
            .await
            .expect("admin connection");
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS {}",
                !down
            ))
            .await
            .expect("alter database");
        if down {
            admin
                .execute_unprepared(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                ))
                .await
                .expect("terminate backends");
        }
        admin.close().await.ok();
    }

    /// Removes the database (PostgreSQL) or its directory (SQLite).
    pub async fn drop(self) {
        within("dropping a test database", DB_STEP, self.drop_now()).await
    }

    async fn drop_now(self) {
        self.conn.close().await.ok();
        if let Cleanup::Postgres { admin_url, name } = self.cleanup
            && let Ok(admin) = Database::connect(&admin_url).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            admin.close().await.ok();
        }
    }
}
