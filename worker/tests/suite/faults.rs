//! Faults the data-safety chain must survive: a worker killed with SIGKILL
//! mid-stream, and the database going away for a while.

use shared::Source;
use shared::broker::QueueInspector;
use shared::config::BrokerConfig;
use std::process::Stdio;
use std::time::Duration;
use testkit::{
    Backend, Edge, FaultProxy, TestDb, Worker, eventually, http, test_env, unique_prefix, within,
};

const WAIT: Duration = Duration::from_secs(60);

fn call_body(i: usize) -> String {
    format!(
        r#"{{"call_id": "FAULT-{i}", "caller_number": "+9198765{:05}", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed"}}"#,
        i % 100_000
    )
}

/// Sends `range` of numbered calls through the edge, 16 at a time; all must be 201.
async fn send(edge: &Edge, range: std::ops::Range<usize>) {
    let addr = edge.addr;
    let mut tasks = tokio::task::JoinSet::new();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    for i in range {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        tasks.spawn(async move {
            let body = call_body(i);
            let response = http(
                addr,
                "POST",
                "/api/webhook/",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
            .await;
            drop(permit);
            (i, response.status)
        });
    }
    for (i, status) in tasks.join_all().await {
        assert_eq!(status, 201, "call {i}");
    }
}

/// Stops what a test started, in order, and removes its database.
async fn teardown(worker: Worker, edge: Edge, inspector: QueueInspector, db: TestDb) {
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup(inspector).await;
    db.drop().await;
}

/// Every call persisted exactly once, nothing left in any queue.
async fn assert_all_persisted_once(db: &TestDb, inspector: &QueueInspector, n: i64) {
    eventually(&format!("{n} calls persisted"), WAIT, || async {
        db.count("SELECT COUNT(*) FROM calls").await >= n
    })
    .await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM calls").await, n);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
            .await,
        n
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM calls WHERE event_count <> 1")
            .await,
        0
    );
    let topology = &inspector.topology;
    for queue in [
        topology.dead_letter_queue(Source::TataCalls),
        topology.retry_queue(0),
    ] {
        assert_eq!(
            inspector.ready_count(&queue).await.unwrap(),
            0,
            "{queue} must be empty"
        );
    }
}

/// The `worker` binary as its own process (so it can be killed), returned
/// once it has persisted its first messages.
async fn spawn_worker_binary(prefix: &str, db: &TestDb) -> tokio::process::Child {
    let child = testkit::die_with_test(&mut tokio::process::Command::new(env!(
        "CARGO_BIN_EXE_worker"
    )))
    .env("AMQP_URL", testkit::amqp_url())
    .env("AMQP_PREFIX", prefix)
    .env("DATABASE_URL", &db.url)
    .env("WORKER_PREFETCH", "16")
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    eventually("the worker is persisting", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
            .await
            >= 20
    })
    .await;
    child
}

async fn worker_killed_mid_stream_loses_and_duplicates_nothing(backend: Backend) {
    testkit::init_logging();
    const N: usize = 600;
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("sigkill");
    let env = test_env(&prefix, Some(&db.url), &[]);
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let edge = Edge::start(&env).await;
    send(&edge, 0..N).await;

    let mut doomed = spawn_worker_binary(&prefix, &db).await;
    doomed.start_kill().unwrap();
    within("the killed worker to exit", WAIT, doomed.wait())
        .await
        .unwrap();
    let at_kill = db
        .scalar("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
        .await;
    assert!(
        at_kill < N as i64,
        "the worker must die mid-stream (it had done {at_kill})"
    );

    let replacement = Worker::start(&env);
    assert_all_persisted_once(&db, &inspector, N as i64).await;
    teardown(replacement, edge, inspector, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_worker_killed_mid_stream_loses_and_duplicates_nothing() {
    worker_killed_mid_stream_loses_and_duplicates_nothing(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_worker_killed_mid_stream_loses_and_duplicates_nothing() {
    worker_killed_mid_stream_loses_and_duplicates_nothing(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_dead_letters_nothing_and_loses_nothing() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Postgres).await;
    let env = test_env(&unique_prefix("db-outage"), Some(&db.url), &[]);
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    send(&edge, 0..50).await;
    eventually("the first batch persisted", WAIT, || async {
        db.count("SELECT COUNT(*) FROM calls").await == 50
    })
    .await;

    db.set_down(true).await;
    // The edge never depends on the database: still 201 while it is down.
    send(&edge, 50..150).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let topology = &inspector.topology;
    let dead = topology.dead_letter_queue(Source::TataCalls);
    assert_eq!(
        inspector.ready_count(&dead).await.unwrap(),
        0,
        "nothing dead-lettered during the outage"
    );
    for attempt in 0..3 {
        let retry = topology.retry_queue(attempt);
        assert_eq!(
            inspector.ready_count(&retry).await.unwrap(),
            0,
            "an outage spends no retry attempts"
        );
    }

    db.set_down(false).await;
    assert_all_persisted_once(&db, &inspector, 150).await;
    teardown(worker, edge, inspector, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_and_acks_in_flight_work_and_exits_zero() {
    testkit::init_logging();
    const N: usize = 400;
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_prefix("worker-sigterm");
    let env = test_env(&prefix, Some(&db.url), &[]);
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let queue = inspector.topology.work_queue(Source::TataCalls);
    let edge = Edge::start(&env).await;
    send(&edge, 0..N).await;

    let mut worker = spawn_worker_binary(&prefix, &db).await;
    let pid = worker.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    // Everything it committed was acked: only the rest is back in the queue.
    let processed = db
        .scalar("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
        .await;
    assert!(
        processed < N as i64,
        "stopped mid-stream ({processed} done)"
    );
    eventually("unprocessed messages back in the queue", WAIT, || async {
        i64::from(inspector.ready_count(&queue).await.unwrap()) == N as i64 - processed
    })
    .await;

    let replacement = Worker::start(&env);
    assert_all_persisted_once(&db, &inspector, N as i64).await;
    teardown(replacement, edge, inspector, db).await;
}

/// The failure behind a worker that "silently stops consuming": its broker
/// connection goes quiet (a half-open TCP connection, a frozen node) without
/// ever being closed. The worker must notice by itself, say so in its
/// readiness, reconnect, and persist what arrived meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_connection_that_goes_silent_is_replaced_and_consuming_resumes() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_prefix("silent-broker");
    let direct = test_env(&prefix, Some(&db.url), &[]);
    let proxy = FaultProxy::start(testkit::broker_addr()).await;
    let through_proxy = proxy.amqp_url();
    let worker_env = test_env(
        &prefix,
        Some(&db.url),
        &[("AMQP_URL", &through_proxy), ("WORKER_STALL_SECS", "2")],
    );
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&direct).unwrap())
        .await
        .unwrap();
    let edge = Edge::start(&direct).await;
    let worker = Worker::start(&worker_env);
    worker.wait_ready().await;
    send(&edge, 0..10).await;
    eventually("the first calls persisted", WAIT, || async {
        db.count("SELECT COUNT(*) FROM calls").await == 10
    })
    .await;

    proxy.freeze();
    send(&edge, 10..30).await;
    // Not ready while work waits and nothing moves, and saying why.
    eventually("readiness reports the stall", WAIT, || async {
        let ready = worker.admin_get("/readyz", None).await;
        ready.status == 503 && String::from_utf8_lossy(&ready.body).contains("stalled")
    })
    .await;
    assert_all_persisted_once(&db, &inspector, 30).await;
    worker.wait_ready().await;
    let metrics = String::from_utf8(worker.admin_get("/metrics", None).await.body).unwrap();
    let reconnects = metrics
        .lines()
        .find(|l| l.starts_with("leadpipe_worker_broker_reconnects_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(reconnects >= 1.0, "the worker reconnected: {reconnects}");
    teardown(worker, edge, inspector, db).await;
    drop(proxy);
}

/// `AMQP_URL` naming several nodes: two proxies in front of the test broker
/// stand for two nodes of a cluster. Whichever node the edge and the worker
/// are connected to goes away (one, then the other), and each reconnects
/// through the other: partners get 201 throughout (the edge spools while it
/// has no connection), and every call is persisted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_node_a_process_is_connected_to_goes_away_it_reconnects_through_another() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_prefix("nodes");
    let first = FaultProxy::start(testkit::broker_addr()).await;
    let second = FaultProxy::start(testkit::broker_addr()).await;
    let nodes = format!("{},{}", first.amqp_url(), second.amqp_url());
    let env = test_env(&prefix, Some(&db.url), &[("AMQP_URL", &nodes)]);
    let inspector =
        QueueInspector::connect(&BrokerConfig::from_env(&test_env(&prefix, None, &[])).unwrap())
            .await
            .unwrap();
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    worker.wait_ready().await;
    send(&edge, 0..20).await;
    first.sever();
    send(&edge, 20..40).await;
    eventually("the edge connected again", WAIT, || async {
        edge.get("/readyz").await.json()["broker"] == "connected"
    })
    .await;
    first.restore();
    second.sever();
    send(&edge, 40..60).await;
    assert_all_persisted_once(&db, &inspector, 60).await;

    // Each was on one of the two nodes, and each node went away once.
    assert!(edge.metric("leadpipe_ingest_broker_reconnects_total").await >= 1.0);
    let worker_metrics = String::from_utf8(worker.admin_get("/metrics", None).await.body).unwrap();
    assert!(
        testkit::metric_sample(&worker_metrics, "leadpipe_worker_broker_reconnects_total")
            .is_some_and(|reconnects| reconnects >= 1.0)
    );
    teardown(worker, edge, inspector, db).await;
}
