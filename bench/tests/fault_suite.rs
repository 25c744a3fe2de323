//! The fault suite: while a load generator sends unique, numbered webhooks
//! of every source and records which were answered 201, it kills workers
//! with SIGKILL, restarts RabbitMQ, stops RabbitMQ for 30 s, SIGKILLs the
//! edge while it spools, fills the edge's spool, stops PostgreSQL for a
//! while, and replaces the edge after a SIGTERM. Then, with the queues
//! drained, it checks that every request answered 201 was persisted exactly
//! once, that no other request was persisted more than once or half-way,
//! that no dead letter was made, and that partners saw no answer but 201
//! (while the broker is away the edge spools) except from the full spool,
//! and prints the counts per fault.
//!
//! Real processes (the `ingest` and `worker` binaries of this build), the
//! real broker and database, loopback only. The short form (the default,
//! about 300 requests per fault) runs in the test suite; the full form is
//! `FAULT_SUITE_REQUESTS=3000 FAULT_SUITE_RATE=300 cargo test --release -p
//! bench --test fault_suite -- --nocapture`. It stops and starts the whole
//! local RabbitMQ and PostgreSQL (through `scripts/services.sh`), so it is a
//! test binary of its own: cargo runs test binaries one after another.
//!
//! It cannot hang: the whole run has a deadline ([`SUITE_DEADLINE`]), every
//! wait inside it has its own, the children's logs (at `info`) are printed
//! when it fails, and the children die with it, even when it is killed.

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use testkit::{Backend, TestDb, eventually, rabbitmqctl, unique_prefix, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

const KEY: &str = "fault-suite-partner-key-0001";
const SOURCES: usize = 6;
/// The faults, in the order they are applied.
const PHASES: [&str; 7] = [
    "worker SIGKILL",
    "RabbitMQ restart",
    "broker stopped",
    "edge SIGKILL",
    "spool full",
    "PostgreSQL stop",
    "edge SIGTERM",
];
/// The spool's bound in the "spool full" phase: a few hundred webhooks.
const SMALL_SPOOL_BYTES: &str = "120000";
/// The whole run's limit: the short form takes about 25 s, the full form
/// about two minutes.
const SUITE_DEADLINE: Duration = Duration::from_secs(600);
/// How long a child may take to exit after SIGTERM (its drain is bounded by
/// `DATABASE_TIMEOUT_SECS` + 10 s).
const EXIT_DEADLINE: Duration = Duration::from_secs(60);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The binaries of this build (`target/<profile>/`), next to the test's own
/// directory. `cargo test --workspace` builds them.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p ingest -p worker, or run the whole workspace's tests)",
        path.display()
    );
    path
}

fn services(args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
    let output = testkit::run_bounded(
        std::process::Command::new(script).args(args),
        Duration::from_secs(120),
    );
    assert!(
        output.status.success(),
        "scripts/services.sh {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The last lines of every child's log, for a failing run's report.
fn print_logs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        eprintln!(
            "----- {} (last {} of {} lines) -----",
            path.display(),
            tail.len(),
            lines.len()
        );
        for line in tail {
            eprintln!("{line}");
        }
    }
}

/// One webhook of request number `n`: its path, headers and body. Every
/// source, every body unique (ids and phone numbers carry `n`).
fn request(n: u64) -> (&'static str, Vec<(&'static str, &'static str)>, String) {
    let id = format!("F-{n}");
    let phone = format!("+9198{n:08}");
    let json = vec![("Content-Type", "application/json")];
    let keyed = |name| vec![("Content-Type", "application/json"), (name, KEY)];
    match n % SOURCES as u64 {
        0 => (
            "/api/webhook/",
            json,
            format!(
                r#"{{"call_id":"{id}","caller_number":"{phone}","call_start_time":"2025-11-07T16:30:00Z","call_status":"completed"}}"#
            ),
        ),
        1 => (
            "/webhook/",
            json,
            format!(
                r#"{{"messages":[{{"from":"{}","id":"wamid.{id}","timestamp":"1744109205","type":"text","text":{{"body":"hi"}}}}]}}"#,
                &phone[1..]
            ),
        ),
        2 => (
            "/admin/mg-digital-leads/source/cardekho",
            keyed("X-API-Key"),
            format!(r#"{{"name":"{id}","phone_number":"{phone}","car_model":"Nexon EV"}}"#),
        ),
        3 => (
            "/admin/mg-digital-leads/source/carwale",
            keyed("X-API-Key"),
            format!(r#"{{"name":"{id}","phone_number":"{phone}","car_model":"Harrier"}}"#),
        ),
        4 => (
            "/functions/v1/webhook-call-capture",
            keyed("x-api-key"),
            format!(
                r#"{{"company_id":"123e4567-e89b-12d3-a456-426614174000","caller_number":"{phone}","outcome":"completed","external_call_id":"{id}","external_system":"Dialer"}}"#
            ),
        ),
        _ => (
            "/api/v1/webhooks/incoming/lead/create",
            json,
            format!(
                r#"{{"event":"new_lead","source":"website","data":{{"first_name":"{id}","phone":"{phone}"}}}}"#
            ),
        ),
    }
}

/// Sends one request on a fresh connection; the status, or `None` when no
/// answer came (connection refused or broken, or 10 s passed).
async fn send(addr: SocketAddr, n: u64) -> Option<u16> {
    let (path, headers, body) = request(n);
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let line = String::from_utf8_lossy(&response);
        line.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
}

/// What happened to each request: number → (fault phase, status).
type Answers = Arc<Mutex<Vec<(u64, &'static str, Option<u16>)>>>;

/// Sends numbered requests at `rate` per second from 8 connections until
/// `stop` is set and at least `at_least` were sent in this phase.
async fn load(
    addr: SocketAddr,
    phase: &'static str,
    next: Arc<AtomicU64>,
    answers: Answers,
    rate: u64,
    at_least: u64,
    stop: Arc<AtomicBool>,
) {
    let first = next.load(Ordering::SeqCst);
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (next, answers, stop) = (next.clone(), answers.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            let pause = Duration::from_secs_f64(8.0 / rate as f64);
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if stop.load(Ordering::SeqCst) && n >= first + at_least {
                    break;
                }
                let started = Instant::now();
                let status = send(addr, n).await;
                answers.lock().await.push((n, phase, status));
                tokio::time::sleep(pause.saturating_sub(started.elapsed())).await;
            }
        }));
    }
    for sender in senders {
        sender.await.expect("load sender");
    }
}

/// The processes under test. Dropped (the run passed, failed or timed
/// out), it kills them; when the run failed it first prints their logs.
struct System {
    edge_addr: SocketAddr,
    edge: Child,
    workers: Vec<Child>,
    env: Vec<(String, String)>,
    logs: PathBuf,
    started: u32,
}

impl Drop for System {
    fn drop(&mut self) {
        if std::thread::panicking() {
            print_logs(&self.logs);
        }
    }
}

impl System {
    fn spawn(&mut self, binary: &str) -> Child {
        self.spawn_with(binary, &[])
    }

    /// [`System::spawn`] with variables added to (or replacing) the run's.
    fn spawn_with(&mut self, binary: &str, extra: &[(&str, &str)]) -> Child {
        self.started += 1;
        let log = std::fs::File::create(self.logs.join(format!("{binary}-{}.log", self.started)))
            .expect("log file");
        testkit::die_with_test(&mut Command::new(self::binary(binary)))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn")
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    async fn stop(child: &mut Child, what: &str) {
        signal(child, "TERM");
        let status = within(
            &format!("{what} to exit after SIGTERM"),
            EXIT_DEADLINE,
            child.wait(),
        )
        .await
        .expect("wait");
        assert!(
            status.success(),
            "{what} exits cleanly on SIGTERM: {status}"
        );
    }

    /// Waits until the edge is connected to the broker (not just spooling).
    async fn edge_connected(&self) {
        let addr = self.edge_addr;
        eventually("edge connected", Duration::from_secs(90), || async move {
            testkit::try_http(addr, "/readyz")
                .await
                .is_some_and(|ready| ready.status == 200 && ready.json()["broker"] == "connected")
        })
        .await;
    }

    async fn edge_ready(&self) {
        let addr = self.edge_addr;
        eventually("edge ready", Duration::from_secs(90), || async move {
            let stream = tokio::net::TcpStream::connect(addr).await;
            if stream.is_err() {
                return false;
            }
            testkit::http(addr, "GET", "/readyz", &[], b"").await.status == 200
        })
        .await;
    }
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Every primary record of the run, counted by request number.
async fn persisted(url: &str) -> (HashMap<u64, u32>, i64) {
    let db = Database::connect(url).await.expect("connect");
    let backend = db.get_database_backend();
    let mut counts: HashMap<u64, u32> = HashMap::new();
    let strings = |sql: &'static str| {
        let db = &db;
        async move {
            db.query_all_raw(Statement::from_string(backend, sql))
                .await
                .expect(sql)
                .into_iter()
                .map(|row| row.try_get_by_index::<String>(0).expect("text"))
                .collect::<Vec<_>>()
        }
    };
    let number = |id: &str| id.rsplit('-').next().and_then(|n| n.parse::<u64>().ok());
    let mut ids = Vec::new();
    ids.extend(strings("SELECT call_id FROM calls").await);
    ids.extend(strings("SELECT wamid FROM whatsapp_messages").await);
    ids.extend(strings("SELECT name FROM digital_leads").await);
    ids.extend(strings("SELECT external_call_id FROM call_records").await);
    for data in strings("SELECT CAST(data AS TEXT) FROM crm_leads").await {
        let data: Value = serde_json::from_str(&data).expect("json");
        ids.push(data["first_name"].as_str().unwrap_or("").to_owned());
    }
    for id in ids {
        if let Some(n) = number(&id) {
            *counts.entry(n).or_default() += 1;
        }
    }
    let logged = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) FROM webhook_log WHERE status = 'processed'",
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("count");
    db.close().await.ok();
    (counts, logged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_answered_201_is_lost_or_duplicated_through_crashes_and_outages() {
    testkit::init_logging();
    let logs = std::env::temp_dir().join(format!("leadpipe-{}", unique_prefix("faults")));
    std::fs::create_dir_all(&logs).unwrap();
    if tokio::time::timeout(SUITE_DEADLINE, fault_suite(logs.clone()))
        .await
        .is_err()
    {
        // The run was dropped: its children are killed; show what they said.
        print_logs(&logs);
        panic!(
            "the fault suite did not finish within {SUITE_DEADLINE:?}; the children's logs are above"
        );
    }
    std::fs::remove_dir_all(&logs).ok();
}

async fn fault_suite(logs: PathBuf) {
    let per_fault = env_number("FAULT_SUITE_REQUESTS", 300);
    let rate = env_number("FAULT_SUITE_RATE", 120);
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_prefix("faults");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let edge_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let env: Vec<(String, String)> = [
        ("AMQP_URL", testkit::amqp_url()),
        ("AMQP_PREFIX", prefix.clone()),
        ("DATABASE_URL", db.url.clone()),
        ("INGEST_ADDR", edge_addr.to_string()),
        ("ADMIN_ADDR", "off".into()),
        ("LEAD_API_KEY_CARDEKHO", KEY.into()),
        ("LEAD_API_KEY_CARWALE", KEY.into()),
        ("CALL_CAPTURE_API_KEYS", KEY.into()),
        ("LEAD_RATE_LIMIT_PER_MINUTE", "0".into()),
        ("CRM_RATE_LIMIT_PER_MINUTE", "0".into()),
        ("PUBLISH_CONFIRM_TIMEOUT_MS", "3000".into()),
        (
            "SPOOL_DIR",
            logs.join("spool").to_string_lossy().into_owned(),
        ),
        ("RUST_LOG", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut system = System {
        edge_addr,
        edge: Command::new("true").spawn().unwrap(),
        workers: Vec::new(),
        env,
        logs: logs.clone(),
        started: 0,
    };
    system.edge = system.spawn("ingest");
    system.workers = vec![system.spawn("worker"), system.spawn("worker")];
    system.edge_ready().await;

    let next = Arc::new(AtomicU64::new(0));
    let answers: Answers = Arc::default();
    let started = Instant::now();
    let broker_down = Duration::from_secs(env_number("FAULT_SUITE_BROKER_DOWN_SECS", 30));
    for phase in PHASES {
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(load(
            edge_addr,
            phase,
            next.clone(),
            answers.clone(),
            rate,
            per_fault,
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        match phase {
            "worker SIGKILL" => {
                for round in 0..3 {
                    let victim = round % system.workers.len();
                    system.workers[victim].start_kill().unwrap();
                    within(
                        "a killed worker to exit",
                        EXIT_DEADLINE,
                        system.workers[victim].wait(),
                    )
                    .await
                    .unwrap();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    system.workers[victim] = system.spawn("worker");
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
            }
            "RabbitMQ restart" => {
                rabbitmqctl(&["stop_app"]);
                tokio::time::sleep(Duration::from_secs(2)).await;
                rabbitmqctl(&["start_app"]);
                system.edge_connected().await;
            }
            "broker stopped" => {
                rabbitmqctl(&["stop_app"]);
                tokio::time::sleep(broker_down).await;
                rabbitmqctl(&["start_app"]);
                system.edge_connected().await;
            }
            "edge SIGKILL" => {
                // Killed while spooling, restarted while the broker is still
                // away: what it answered 201 is on its disk only.
                rabbitmqctl(&["stop_app"]);
                tokio::time::sleep(Duration::from_secs(2)).await;
                system.edge.start_kill().unwrap();
                within("the killed edge to exit", EXIT_DEADLINE, system.edge.wait())
                    .await
                    .unwrap();
                system.edge = system.spawn("ingest");
                system.edge_ready().await;
                tokio::time::sleep(Duration::from_secs(2)).await;
                rabbitmqctl(&["start_app"]);
                system.edge_connected().await;
            }
            "spool full" => {
                System::stop(&mut system.edge, "the edge").await;
                system.edge =
                    system.spawn_with("ingest", &[("SPOOL_MAX_BYTES", SMALL_SPOOL_BYTES)]);
                system.edge_connected().await;
                rabbitmqctl(&["stop_app"]);
                tokio::time::sleep(Duration::from_secs(4)).await;
                rabbitmqctl(&["start_app"]);
                system.edge_connected().await;
                System::stop(&mut system.edge, "the edge").await;
                system.edge = system.spawn("ingest");
                system.edge_connected().await;
            }
            "PostgreSQL stop" => {
                services(&["postgres-stop"]);
                tokio::time::sleep(Duration::from_secs(4)).await;
                services(&["postgres"]);
            }
            _ => {
                System::stop(&mut system.edge, "the edge").await;
                system.edge = system.spawn("ingest");
                system.edge_ready().await;
            }
        }
        stop.store(true, Ordering::SeqCst);
        within(
            &format!("the load of phase {phase} to end"),
            Duration::from_secs(120),
            load,
        )
        .await
        .unwrap();
    }
    let load_time = started.elapsed();

    // Drained: every answered message processed, nothing retrying.
    let answers = answers.lock().await.clone();
    let accepted = answers.iter().filter(|a| a.2 == Some(201)).count() as i64;
    eventually(
        "every accepted message processed",
        Duration::from_secs(240),
        || async { persisted(&db.url).await.1 >= accepted },
    )
    .await;
    // Late copies (redelivered after a kill, or 503s the broker did keep)
    // settle too; give them a moment, then read the final state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (counts, logged) = within(
        "reading the records",
        Duration::from_secs(60),
        persisted(&db.url),
    )
    .await;
    let inspector = shared::broker::QueueInspector::connect(&testkit::broker_config(&prefix))
        .await
        .unwrap();
    let mut dead = 0;
    let mut waiting = 0;
    for queue in inspector.topology.queues() {
        let n = inspector.ready_count(&queue.name).await.unwrap();
        if queue.name.ends_with(".dead") {
            dead += n;
        } else {
            waiting += n;
        }
    }

    println!(
        "fault suite: {} requests in {:.0} s ({rate}/s offered), 2 workers, PostgreSQL",
        answers.len(),
        load_time.as_secs_f64()
    );
    println!(
        "{:<18} {:>6} {:>6} {:>6} {:>9} {:>11} {:>6} {:>10} {:>14}",
        "fault",
        "sent",
        "201",
        "other",
        "no answer",
        "201 stored",
        "lost",
        "duplicated",
        "others stored"
    );
    let mut lost_total = 0;
    let mut duplicated_total = 0;
    let mut refused_outside_full_spool = 0;
    let mut refused_by_full_spool = 0;
    for phase in PHASES {
        let rows: Vec<_> = answers.iter().filter(|a| a.1 == phase).collect();
        let count = |n: &u64| counts.get(n).copied().unwrap_or(0);
        let ok: Vec<_> = rows.iter().filter(|a| a.2 == Some(201)).collect();
        let other = rows
            .iter()
            .filter(|a| matches!(a.2, Some(s) if s != 201))
            .count();
        let mut statuses: Vec<u16> = rows
            .iter()
            .filter_map(|a| a.2)
            .filter(|&s| s != 201)
            .collect();
        statuses.sort_unstable();
        statuses.dedup();
        let silent = rows.iter().filter(|a| a.2.is_none()).count();
        let stored = ok.iter().filter(|a| count(&a.0) == 1).count();
        let lost = ok.iter().filter(|a| count(&a.0) == 0).count();
        let duplicated = rows.iter().filter(|a| count(&a.0) > 1).count();
        let others_stored = rows
            .iter()
            .filter(|a| a.2 != Some(201) && count(&a.0) == 1)
            .count();
        lost_total += lost;
        duplicated_total += duplicated;
        if phase == "spool full" {
            refused_by_full_spool += rows.iter().filter(|a| a.2 == Some(503)).count();
            refused_outside_full_spool += other - rows.iter().filter(|a| a.2 == Some(503)).count();
        } else {
            refused_outside_full_spool += other;
        }
        println!(
            "{phase:<18} {:>6} {:>6} {other:>6} {silent:>9} {stored:>11} {lost:>6} {duplicated:>10} {others_stored:>14}  {}",
            rows.len(),
            ok.len(),
            if statuses.is_empty() {
                String::new()
            } else {
                format!("(other: {statuses:?})")
            }
        );
    }
    let records: i64 = counts.values().map(|&c| i64::from(c)).sum();
    println!(
        "records {records}, processed log rows {logged}, dead letters {dead}, still queued {waiting}; logs in {}",
        logs.display()
    );
    assert_eq!(lost_total, 0, "every 201 is persisted");
    assert_eq!(duplicated_total, 0, "nothing is persisted twice");
    assert_eq!(
        records, logged,
        "every record was committed with its log row (nothing half-persisted)"
    );
    assert_eq!(dead, 0, "no valid webhook was dead-lettered");
    assert_eq!(
        refused_outside_full_spool, 0,
        "partners saw no answer but 201 (the spool covers the broker's absence), except 503 from a full spool"
    );
    assert!(
        refused_by_full_spool > 0,
        "the full spool answered 503 (it was not filled: raise the load or lower SMALL_SPOOL_BYTES)"
    );
    assert_eq!(waiting, 0, "the queues are drained");
    assert!(accepted > 0 && answers.len() as u64 >= PHASES.len() as u64 * per_fault);

    for (n, worker) in system.workers.iter_mut().enumerate() {
        System::stop(worker, &format!("worker {n}")).await;
    }
    System::stop(&mut system.edge, "the edge").await;
    // Like the broker-outage test, this leaves its queues: deleting quorum
    // queues soon after a broker restart wedges RabbitMQ 3.10.
    inspector.close().await;
}
