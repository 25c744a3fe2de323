//! Test support shared by the integration tests: every test gets its own
//! broker prefix (so its own exchanges and queues) and its own database, and
//! runs the real edge and worker against the real RabbitMQ and database.
//!
//! Environment: `TEST_AMQP_URL` (default `amqp://127.0.0.1:5672/%2f`),
//! `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! a role allowed to create databases), `RABBITMQCTL` (default: the
//! workspace's `scripts/services.sh rabbitmqctl`).

pub mod examples;

/// Generates, from `async fn name(Backend)` test bodies, one test per
/// backend: `postgres::name` and `sqlite::name`, so a failure names both the
/// case and the database.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
    };
}

use ingest::config::IngestConfig;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use shared::config::{BrokerConfig, Env};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use worker::config::WorkerConfig;

/// The contract's minimal example (`tata-calls.md`, Option 1).
pub const TATA_MINIMAL: &str = r#"{
  "call_id": "UNIQUE-CALL-ID",
  "caller_number": "+919876543210",
  "call_start_time": "2025-11-07T16:30:00Z"
}"#;

/// The contract's complete example (`tata-calls.md`, Option 2).
pub const TATA_COMPLETE: &str = r#"{
  "call_id": "TATA-CALL-12345",
  "call_sid": "SID-ABC123",
  "caller_number": "+919876543210",
  "caller_name": "Rohit Kumar",
  "call_start_time": "2025-11-07T16:30:00Z",
  "call_end_time": "2025-11-07T16:35:30Z",
  "call_duration": 330,
  "call_status": "completed",
  "staff_name": "Priya Sharma",
  "staff_id": "EMP-101",
  "recording_url": "https://example.com/recordings/call-12345.mp3",
  "disposition_code": "SALES_INQ",
  "disposition_notes": "Customer interested in Harrier Dark Edition, Budget 25L",
  "customer_name": "Rohit Kumar",
  "customer_email": "rohit.kumar@gmail.com",
  "customer_address": "Mumbai, Maharashtra",
  "vehicle_model": "Harrier",
  "vehicle_variant": "Dark Edition",
  "is_lead": true,
  "lead_quality": "hot"
}"#;

/// Logs from the code under test, shown for failing tests (`RUST_LOG`).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// The value of the sample `series` (a metric's name, with its labels as
/// printed) on a Prometheus text page; `None` when it is not there.
pub fn metric_sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The broker URL tests use.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://127.0.0.1:5672/%2f".into())
}

/// A prefix no other test uses.
pub fn unique_prefix(test: &str) -> String {
    format!("test-{test}-{}", uuid::Uuid::now_v7().simple())
}

/// Variables for a test's edge and worker: its own prefix, plus `extra`.
pub fn test_env(prefix: &str, database_url: Option<&str>, extra: &[(&str, &str)]) -> Env {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("AMQP_URL".into(), amqp_url());
    vars.insert("AMQP_PREFIX".into(), prefix.into());
    vars.insert("INGEST_ADDR".into(), "127.0.0.1:0".into());
    if let Some(url) = database_url {
        vars.insert("DATABASE_URL".into(), url.into());
    }
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Env::from_map(vars)
}

/// Variables for an edge that every partner reaches with `key` (the CRM's
/// HMAC secret too) and no rate limit stops: for tests that send many
/// requests to every route.
pub fn every_partner_keyed_env(prefix: &str, key: &str) -> Env {
    test_env(
        prefix,
        None,
        &[
            ("LEAD_API_KEY_CARDEKHO", key),
            ("LEAD_API_KEY_CARWALE", key),
            ("CALL_CAPTURE_API_KEYS", key),
            ("CRM_WEBHOOK_SECRET", key),
            ("LEAD_RATE_LIMIT_PER_MINUTE", "0"),
            ("CRM_RATE_LIMIT_PER_MINUTE", "0"),
        ],
    )
}

/// The broker configuration for a prefix.
pub fn broker_config(prefix: &str) -> BrokerConfig {
    BrokerConfig::from_env(&test_env(prefix, None, &[])).expect("test broker config")
}

/// The real edge, served in this process on a free port.
pub struct Edge {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its admin listener (health, readiness, metrics) listens.
    pub admin_addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    /// Its own spool, unless the test gave `SPOOL_DIR`.
    _spool_dir: Option<TempDir>,
}

impl Edge {
    /// Starts the edge and waits until it is connected to the broker.
    pub async fn start(env: &Env) -> Self {
        let edge = Self::start_serving(env).await;
        // Generous: right after the broker-outage test the broker is busy
        // recovering, and many tests declare their topology at once.
        eventually(
            "edge connected to the broker",
            Duration::from_secs(60),
            || async {
                let ready = edge.get("/readyz").await;
                ready.status == 200 && ready.json()["broker"] == "connected"
            },
        )
        .await;
        edge
    }

    /// Starts the edge and waits only until it serves (its broker may be
    /// unreachable: it spools).
    pub async fn start_serving(env: &Env) -> Self {
        let mut config = IngestConfig::from_env(env).expect("test ingest config");
        let spool_dir = if env.get("SPOOL_DIR").is_none() {
            let dir = TempDir::new();
            config.spool.dir = dir.path.clone();
            Some(dir)
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let admin_addr = admin.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let listeners = ingest::Listeners {
            partner: listener,
            admin: Some(admin),
        };
        let task = tokio::spawn(ingest::run(config, listeners, shutdown.clone()));
        let edge = Self {
            addr,
            admin_addr,
            shutdown,
            task,
            _spool_dir: spool_dir,
        };
        eventually("edge serving", Duration::from_secs(60), || async {
            edge.task.is_finished() || try_http(edge.addr, "/healthz").await.is_some()
        })
        .await;
        if edge.task.is_finished() {
            panic!("the edge stopped while starting: {:?}", edge.task.await);
        }
        edge
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, path: &str, body: &str) -> HttpResponse {
        http(
            self.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    /// POSTs a JSON body with extra headers.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        http(self.addr, "POST", path, &all, body.as_bytes()).await
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, &[], b"").await
    }

    /// One sample's value on the edge's `/metrics` (admin listener).
    pub async fn metric(&self, series: &str) -> f64 {
        let page = http(self.admin_addr, "GET", "/metrics", &[], b"").await;
        metric_sample(&String::from_utf8_lossy(&page.body), series)
            .unwrap_or_else(|| panic!("{series} is not on the edge's /metrics page"))
    }

    /// Shuts the edge down gracefully and waits for it (at most a minute).
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the edge to stop", Duration::from_secs(60), self.task)
            .await
            .expect("edge task")
            .expect("edge run");
    }
}

/// The real worker, run in this process.
pub struct Worker {
    /// Where its admin listener (health, readiness, metrics, webhook log) listens.
    pub admin_addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Worker {
    /// Starts a worker (it connects, migrates and consumes in the background).
    pub fn start(env: &Env) -> Self {
        let config = WorkerConfig::from_env(env).expect("test worker config");
        let admin = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        admin.set_nonblocking(true).expect("nonblocking");
        let admin_addr = admin.local_addr().expect("addr");
        let admin = tokio::net::TcpListener::from_std(admin).expect("tokio listener");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(worker::run(config, Some(admin), shutdown.clone()));
        Self {
            admin_addr,
            shutdown,
            task,
        }
    }

    /// GETs a path on the admin listener, with a bearer token if given.
    pub async fn admin_get(&self, path: &str, token: Option<&str>) -> HttpResponse {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("Authorization", b)])
            .unwrap_or_default();
        http(self.admin_addr, "GET", path, &headers, b"").await
    }

    /// Waits until the worker reports ready (broker and database reachable).
    pub async fn wait_ready(&self) {
        eventually("worker ready", Duration::from_secs(60), || async {
            self.admin_get("/readyz", None).await.status == 200
        })
        .await;
    }

    /// Shuts the worker down gracefully and waits for it (at most a minute).
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the worker to stop", Duration::from_secs(60), self.task)
            .await
            .expect("worker task")
            .expect("worker run");
    }
}

/// Deletes a test's exchanges and queues and closes the inspector. Every
/// test calls it last: quorum queues left behind by hundreds of tests would
/// weigh the shared broker down.
pub async fn cleanup(inspector: shared::broker::QueueInspector) {
    if let Err(error) = inspector.delete_topology().await {
        eprintln!("could not delete the test's topology: {error:#}");
    }
    inspector.close().await;
}

/// Messages waiting in `source`'s dead-letter queue.
pub async fn dead_letter_count(
    inspector: &shared::broker::QueueInspector,
    source: shared::Source,
) -> u32 {
    inspector
        .ready_count(&inspector.topology.dead_letter_queue(source))
        .await
        .expect("counting dead letters")
}

/// A CRM `new_lead` for `lead_id`, as the edge would publish it: the cause
/// fixed for a status change dead-lettered because the lead was unknown.
pub async fn crm_lead_arrives(inspector: &shared::broker::QueueInspector, lead_id: &str) {
    let mut create = shared::Envelope::new(shared::Source::CrmEvents, vec![]);
    create
        .assigned_ids
        .insert("lead_id".into(), lead_id.to_owned());
    let body = serde_json::json!({"event": "new_lead", "data": {"first_name": "Asha"}});
    inspector
        .publish(&create, body.to_string().as_bytes())
        .await
        .expect("publishing a CRM lead");
}

/// Connects an inspector for `prefix` and deletes its topology (for tests
/// that never held an inspector).
pub async fn cleanup_prefix(prefix: &str) {
    if let Ok(inspector) = shared::broker::QueueInspector::connect(&broker_config(prefix)).await {
        cleanup(inspector).await;
    }
}

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

/// A directory removed when dropped.
pub struct TempDir {
    /// Its path.
    pub path: PathBuf,
}

impl TempDir {
    /// A new, empty directory under the system's temp dir.
    pub fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("leadpipe-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// An HTTP response as a partner sees it.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to
/// the end. Raw on purpose: tests also send what well-behaved clients never
/// would.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("HTTP exchange timed out")
        .expect("HTTP exchange failed");
    parse_response(&raw)
}

/// [`http`] for a probe: a refused or reset connection is `None`, not a
/// failed test (a server still starting).
pub async fn try_http(addr: SocketAddr, path: &str) -> Option<HttpResponse> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    match tokio::time::timeout(Duration::from_secs(30), exchange).await {
        Ok(Ok(raw)) => Some(parse_response(&raw)),
        _ => None,
    }
}

/// Parses a raw HTTP/1.1 response (`Content-Length` bodies only).
pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Polls `check` until it holds, panicking with `what` after `timeout`.
/// The deadline holds even when one check never returns (a query on a dead
/// connection, say): each check gets only the time that is left.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, check()).await {
            Ok(true) => return,
            Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => panic!(
                "timed out after {timeout:?} waiting for: {what} (the last check itself never answered)"
            ),
        }
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}

/// Awaits `future` for at most `timeout`, panicking with `what` after it:
/// no test waits forever on anything.
pub async fn within<T>(what: &str, timeout: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {timeout:?} waiting for: {what}"))
}

/// Runs a command to completion within `timeout`, returning its output; on
/// expiry the command is killed and the test fails naming it.
pub fn run_bounded(command: &mut std::process::Command, timeout: Duration) -> std::process::Output {
    use std::process::Stdio;
    let described = format!("{command:?}");
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {described}: {error}"));
    run_bounded_child(child, timeout)
}

/// Waits for a spawned command (bounded, like [`run_bounded`]) and returns
/// its output.
pub fn run_bounded_child(
    mut child: std::process::Child,
    timeout: Duration,
) -> std::process::Output {
    let described = format!("process {}", child.id());
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let output = child.wait_with_output().ok();
                let stderr = output
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    .unwrap_or_default();
                panic!(
                    "{described} did not finish within {timeout:?}; killed it. stderr: {stderr}"
                );
            }
            Err(error) => panic!("waiting for {described}: {error}"),
        }
    }
    child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("reading the output of {described}: {error}"))
}

/// Runs `rabbitmqctl` against the test broker (to stop and start it), for
/// at most two minutes.
pub fn rabbitmqctl(args: &[&str]) {
    let mut command = match std::env::var("RABBITMQCTL") {
        Ok(cmd) => {
            let mut parts = cmd.split_whitespace();
            let mut c = std::process::Command::new(parts.next().expect("RABBITMQCTL is empty"));
            c.args(parts);
            c
        }
        Err(_) => {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
            let mut c = std::process::Command::new(script);
            c.arg("rabbitmqctl");
            c
        }
    };
    let output = run_bounded(command.args(args), Duration::from_secs(120));
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Makes a child process die with the test that spawned it: if the test
/// process is killed (cancelled, or stopped by a time limit), the kernel
/// sends the child SIGKILL, so no edge or worker outlives its test. Use
/// with `kill_on_drop(true)` for the ordinary ends (pass, fail, panic).
pub fn die_with_test(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    // SAFETY: prctl is async-signal-safe and changes only the child.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.kill_on_drop(true)
}

/// A TCP proxy on loopback in front of a real server, able to fail the way
/// networks and peers fail:
/// - [`FaultProxy::freeze`]: from then on nothing is forwarded either way on
///   the connections open now and nothing is closed, which is what a
///   half-open connection or a frozen peer looks like to the client.
///   Connections made after a freeze pass normally, so a client that
///   notices and reconnects recovers.
/// - [`FaultProxy::sever`]: every connection is closed and new ones are
///   closed as soon as they are made, until [`FaultProxy::restore`]: the
///   server is unreachable, as when it is down.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    generation: std::sync::Arc<std::sync::Mutex<CancellationToken>>,
    severed: std::sync::Arc<std::sync::Mutex<Option<CancellationToken>>>,
    stop: CancellationToken,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let generation = std::sync::Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        // `Some(token)` while connections pass; severing cancels the token.
        let severed = std::sync::Arc::new(std::sync::Mutex::new(Some(CancellationToken::new())));
        let stop = CancellationToken::new();
        let (current, passing, stopped) = (generation.clone(), severed.clone(), stop.clone());
        tokio::spawn(async move {
            // Frozen connections are kept open here until the proxy stops.
            let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            loop {
                let (mut client, _) = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                let Some(cut) = passing.lock().expect("severed").clone() else {
                    // Severed: closed at once.
                    continue;
                };
                let frozen = current.lock().expect("generation").clone();
                let (held, stopped) = (held.clone(), stopped.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = stopped.cancelled() => {}
                        _ = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = frozen.cancelled() => {
                            held.lock().expect("held").push((client, server));
                        }
                    }
                });
            }
        });
        Self {
            addr,
            generation,
            severed,
            stop,
        }
    }

    /// Freezes every connection open now; later ones pass.
    pub fn freeze(&self) {
        let mut generation = self.generation.lock().expect("generation");
        generation.cancel();
        *generation = CancellationToken::new();
    }

    /// Closes every connection and refuses new ones until [`Self::restore`].
    pub fn sever(&self) {
        if let Some(passing) = self.severed.lock().expect("severed").take() {
            passing.cancel();
        }
    }

    /// Lets connections pass again after [`Self::sever`].
    pub fn restore(&self) {
        self.severed
            .lock()
            .expect("severed")
            .get_or_insert_with(CancellationToken::new);
    }

    /// `AMQP_URL` through this proxy, when it stands in front of the test
    /// broker ([`amqp_url`]): the same credentials and vhost.
    pub fn amqp_url(&self) -> String {
        let url = TestBrokerUrl::read();
        format!(
            "{}://{}{}/{}",
            url.scheme, url.credentials, self.addr, url.path
        )
    }
}

/// [`amqp_url`] in its parts.
struct TestBrokerUrl {
    scheme: String,
    /// `user:password@`, or empty.
    credentials: String,
    host_port: String,
    /// The vhost and query, after the authority's `/`.
    path: String,
}

impl TestBrokerUrl {
    fn read() -> Self {
        let url = amqp_url();
        let (scheme, rest) = url.split_once("://").expect("AMQP URL has a scheme");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (format!("{credentials}@"), host_port),
            None => (String::new(), authority),
        };
        Self {
            scheme: scheme.to_owned(),
            credentials,
            host_port: host_port.to_owned(),
            path: path.to_owned(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Where the test broker ([`amqp_url`]) listens.
pub fn broker_addr() -> SocketAddr {
    let host_port = TestBrokerUrl::read().host_port;
    let host_port = if host_port.contains(':') {
        host_port
    } else {
        format!("{host_port}:5672")
    };
    use std::net::ToSocketAddrs as _;
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .expect("the test broker's address")
}

/// What the fake Tata API does with its next request.
#[derive(Debug, Clone)]
pub enum TataAnswer {
    /// 200 with a fresh `wamid` (`{"messages": [{"id": …}]}`).
    Sent,
    /// This status and body.
    Status(u16, String),
    /// Never answers (the connection stays open).
    Hang,
    /// Waits, then answers as [`TataAnswer::Sent`].
    SentAfter(Duration),
}

/// One request the fake Tata API received.
#[derive(Debug, Clone)]
pub struct TataCall {
    /// The request path.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: serde_json::Value,
    /// The `wamid` it answered with, if it did.
    pub wamid: Option<String>,
}

/// A stand-in for Tata's WhatsApp send API: a real HTTP server on loopback
/// that records every request and answers as told (queued answers first,
/// then [`TataAnswer::Sent`]).
pub struct FakeTata {
    /// Its base URL (`TATA_WHATSAPP_API_URL`).
    pub url: String,
    calls: std::sync::Arc<std::sync::Mutex<Vec<TataCall>>>,
    answers: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<TataAnswer>>>,
    stop: CancellationToken,
}

impl FakeTata {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Tata");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let answers = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let stop = CancellationToken::new();
        let (recorded, queued, stopped) = (calls.clone(), answers.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = stopped.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                };
                let (recorded, queued, stopped) =
                    (recorded.clone(), queued.clone(), stopped.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stopped.cancelled() => {}
                        _ = Self::serve(stream, recorded, queued) => {}
                    }
                });
            }
        });
        Self {
            url,
            calls,
            answers,
            stop,
        }
    }

    async fn serve(
        mut stream: TcpStream,
        recorded: std::sync::Arc<std::sync::Mutex<Vec<TataCall>>>,
        queued: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<TataAnswer>>>,
    ) {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if raw.len() > 64 * 1024 {
                return;
            }
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = raw[head_end + 4..].to_vec();
        while body.len() < length {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&buf[..n]),
            }
        }
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let answer = queued
            .lock()
            .expect("answers")
            .pop_front()
            .unwrap_or(TataAnswer::Sent);
        let mut call = TataCall {
            path,
            authorization: header("authorization"),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            wamid: None,
        };
        let (status, response) = match answer {
            TataAnswer::Hang => {
                recorded.lock().expect("calls").push(call);
                std::future::pending::<()>().await;
                return;
            }
            TataAnswer::Status(status, body) => (status, body),
            TataAnswer::Sent | TataAnswer::SentAfter(_) => {
                if let TataAnswer::SentAfter(delay) = answer {
                    tokio::time::sleep(delay).await;
                }
                let wamid = format!("wamid.fake-{}", uuid::Uuid::now_v7().simple());
                call.wamid = Some(wamid.clone());
                (
                    200,
                    serde_json::json!({"messages": [{"id": wamid}]}).to_string(),
                )
            }
        };
        recorded.lock().expect("calls").push(call);
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{response}",
            response.len()
        );
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    /// Queues how the next requests are answered, in order.
    pub fn answer(&self, answers: impl IntoIterator<Item = TataAnswer>) {
        self.answers.lock().expect("answers").extend(answers);
    }

    /// Every request received so far.
    pub fn calls(&self) -> Vec<TataCall> {
        self.calls.lock().expect("calls").clone()
    }
}

impl Drop for FakeTata {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The real console, served in this process on a free port.
pub struct Console {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Console {
    /// Starts the console (it migrates the database) and waits until it answers.
    pub async fn start(env: &Env) -> Self {
        let config = console::config::ConsoleConfig::from_env(env).expect("test console config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(console::run(config, listener, shutdown.clone()));
        eventually("console up", Duration::from_secs(60), || async {
            task.is_finished()
                || try_http(addr, "/login")
                    .await
                    .is_some_and(|r| r.status == 200)
        })
        .await;
        if task.is_finished() {
            // Its listener is gone: say why, rather than "connection reset".
            panic!("the console stopped while starting: {:?}", task.await);
        }
        Self {
            addr,
            shutdown,
            task,
        }
    }

    /// Stops the console gracefully and waits for it (at most a minute).
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the console to stop", Duration::from_secs(60), self.task)
            .await
            .expect("console task")
            .expect("console run");
    }
}

/// A signed-in browser-less client of the console: its cookie and the
/// CSRF token its pages carry.
pub struct StaffClient {
    /// The console.
    pub addr: SocketAddr,
    /// `leadpipe_session=…`.
    pub cookie: String,
    /// The page's CSRF token.
    pub csrf: String,
}

/// The `name=value` of a `Set-Cookie` header named `name`.
pub fn set_cookie_value(response: &HttpResponse, name: &str) -> Option<String> {
    response
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap_or("").trim().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")))
}

/// The value of the page's `<meta name="csrf-token" content="…">` (or a
/// hidden `csrf_token` field).
pub fn csrf_of(page: &HttpResponse) -> Option<String> {
    let html = String::from_utf8_lossy(&page.body);
    for marker in [
        r#"name="csrf-token" content=""#,
        r#"name="csrf_token" value=""#,
    ] {
        if let Some(start) = html.find(marker) {
            let rest = &html[start + marker.len()..];
            return rest.split('"').next().map(str::to_owned);
        }
    }
    None
}

/// Creates a console account in the database at `url` (as `console user
/// add` would).
pub async fn add_staff(url: &str, username: &str, password: &str, role: console::auth::Role) {
    let db = console::open_database(url)
        .await
        .expect("open the database");
    console::users::add(&db, username, password, role)
        .await
        .expect("add a staff account");
    db.close().await.ok();
}

/// Fetches the sign-in form and posts it as a browser would; with `token`,
/// that CSRF token is sent instead of the form's (to test refusals).
pub async fn post_login(
    addr: SocketAddr,
    username: &str,
    password: &str,
    token: Option<&str>,
) -> HttpResponse {
    let form = http(addr, "GET", "/login", &[], b"").await;
    let login_cookie = set_cookie_value(&form, "leadpipe_login_csrf").expect("login cookie");
    let form_token = csrf_of(&form).expect("login form token");
    let body = format!(
        "username={username}&password={}&csrf_token={}",
        password.replace(' ', "+"),
        token.unwrap_or(&form_token)
    );
    http(
        addr,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &login_cookie),
        ],
        body.as_bytes(),
    )
    .await
}

impl StaffClient {
    /// Signs in through the form, as a browser would.
    pub async fn sign_in(addr: SocketAddr, username: &str, password: &str) -> Self {
        let response = post_login(addr, username, password, None).await;
        assert_eq!(
            response.status,
            303,
            "sign-in: {}",
            String::from_utf8_lossy(&response.body)
        );
        let cookie = set_cookie_value(&response, "leadpipe_session").expect("session cookie");
        let page = http(addr, "GET", "/tata-chat/", &[("Cookie", &cookie)], b"").await;
        assert_eq!(page.status, 200);
        let csrf = csrf_of(&page).expect("page csrf token");
        Self { addr, cookie, csrf }
    }

    /// GETs a path with the session.
    pub async fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, &[("Cookie", &self.cookie)], b"").await
    }

    /// POSTs JSON with the session and the CSRF header.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        http(
            self.addr,
            "POST",
            path,
            &[
                ("Cookie", &self.cookie),
                ("X-CSRF-Token", &self.csrf),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .await
    }

    /// POSTs a form with the session and its `csrf_token` field.
    pub async fn post_form(&self, path: &str) -> HttpResponse {
        self.post_fields(path, Some(&self.csrf), &[]).await
    }

    /// POSTs a form with the session, `fields`, and `csrf_token` when given
    /// (to check refusals, pass `None` or another token).
    pub async fn post_fields(
        &self,
        path: &str,
        csrf_token: Option<&str>,
        fields: &[(&str, &str)],
    ) -> HttpResponse {
        let mut form = form_urlencoded::Serializer::new(String::new());
        if let Some(token) = csrf_token {
            form.append_pair("csrf_token", token);
        }
        form.extend_pairs(fields);
        http(
            self.addr,
            "POST",
            path,
            &[
                ("Cookie", &self.cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form.finish().as_bytes(),
        )
        .await
    }
}

/// A binary of this workspace's build (`target/<profile>/<name>`), for tests
/// that run it as a process of its own. `cargo test --workspace` builds
/// every binary; a single package's tests may need `cargo build` first.
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build --workspace)",
        path.display()
    );
    path
}

/// Where tests leave artefacts for people to look at (screenshots):
/// `target/test-artefacts/`.
pub fn artefact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let target = exe
        .parent()
        .and_then(std::path::Path::parent)
        .and_then(std::path::Path::parent)
        .expect("target dir");
    let dir = target.join("test-artefacts");
    std::fs::create_dir_all(&dir).expect("create the artefact directory");
    dir
}

/// A real headless Chromium (Debian's `chromium`), driven through
/// ChromeDriver (`chromium-driver`) over WebDriver. Both are started by the
/// test on loopback and die with it; `scripts/services.sh browser` installs
/// them.
pub struct Browser {
    /// The WebDriver session.
    pub client: fantoccini::Client,
    driver: tokio::process::Child,
    profile: TempDir,
}

impl Browser {
    /// Starts ChromeDriver on a free port and opens a headless session.
    pub async fn start() -> Self {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromedriver is missing: run scripts/services.sh browser");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = die_with_test(&mut tokio::process::Command::new(driver_path))
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        eventually(
            "chromedriver listening",
            Duration::from_secs(30),
            || async { TcpStream::connect(("127.0.0.1", port)).await.is_ok() },
        )
        .await;
        let profile = TempDir::new();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path.display()),
                ],
            }),
        );
        let connector = hyper_util_client::client::legacy::connect::HttpConnector::new();
        let client = within(
            "a WebDriver session",
            Duration::from_secs(60),
            fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&url),
        )
        .await
        .expect("open a Chromium session");
        Self {
            client,
            driver,
            profile,
        }
    }

    /// Fills the console's sign-in form on the current page, submits it,
    /// and waits for a signed-in page.
    pub async fn submit_sign_in(&self, username: &str, password: &str) {
        use fantoccini::Locator;
        let wait = Duration::from_secs(60);
        let form = self
            .client
            .wait()
            .at_most(wait)
            .for_element(Locator::Css("form.login"))
            .await
            .expect("the sign-in form");
        for (field, value) in [("username", username), ("password", password)] {
            form.find(Locator::Css(&format!("input[name={field}]")))
                .await
                .expect("a sign-in field")
                .send_keys(value)
                .await
                .expect("typing into the sign-in form");
        }
        form.find(Locator::Css("button[type=submit]"))
            .await
            .expect("the sign-in button")
            .click()
            .await
            .expect("signing in");
        self.client
            .wait()
            .at_most(wait)
            .for_element(Locator::Css("header.top"))
            .await
            .expect("a signed-in page");
    }

    /// Saves a screenshot as `target/test-artefacts/{name}.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = within(
            "a screenshot",
            Duration::from_secs(30),
            self.client.screenshot(),
        )
        .await
        .expect("screenshot");
        let path = artefact_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Ends the session and the driver.
    pub async fn stop(mut self) {
        let _ = within(
            "closing the browser",
            Duration::from_secs(30),
            self.client.close(),
        )
        .await;
        let _ = self.driver.start_kill();
        let _ = within(
            "chromedriver to exit",
            Duration::from_secs(30),
            self.driver.wait(),
        )
        .await;
        drop(self.profile);
    }
}
