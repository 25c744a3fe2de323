//! The edge's spool: while the broker cannot confirm, webhooks are written
//! to the edge's disk and answered 201; once the broker is back they are
//! published from there and each is persisted exactly once. A full spool
//! answers 503 and loses nothing it accepted.

use ingest::config::SpoolConfig;
use ingest::spool::Spool;
use shared::broker::QueueInspector;
use shared::config::BrokerConfig;
use shared::{Envelope, Source};
use std::collections::HashSet;
use std::time::Duration;
use testkit::{
    Backend, Edge, FaultProxy, TempDir, TestDb, Worker, eventually, http, test_env, unique_prefix,
};

const WAIT: Duration = Duration::from_secs(60);

fn call_body(test: &str, i: usize) -> String {
    format!(
        r#"{{"call_id": "{test}-{i}", "caller_number": "+9198765{:05}", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed"}}"#,
        i % 100_000
    )
}

async fn post_call(edge: &Edge, test: &str, i: usize) -> testkit::HttpResponse {
    http(
        edge.addr,
        "POST",
        "/api/webhook/",
        &[("Content-Type", "application/json")],
        call_body(test, i).as_bytes(),
    )
    .await
}

/// The call ids persisted, each once.
async fn persisted_call_ids(db: &TestDb) -> Vec<String> {
    use sea_orm::ConnectionTrait as _;
    let rows = db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT call_id FROM calls",
        ))
        .await
        .expect("read calls");
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("call_id"))
        .collect()
}

testkit::on_both_backends!(
    webhooks_answered_while_the_broker_is_unreachable_are_spooled_then_persisted_once
);

async fn webhooks_answered_while_the_broker_is_unreachable_are_spooled_then_persisted_once(
    backend: Backend,
) {
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("spool");
    let proxy = FaultProxy::start(testkit::broker_addr()).await;
    // The broker is unreachable from the edge's first moment: start-up must
    // not answer 503 either.
    proxy.sever();
    let edge_env = test_env(&prefix, None, &[("AMQP_URL", &proxy.amqp_url())]);
    let edge = Edge::start_serving(&edge_env).await;

    let ready = edge.get("/readyz").await;
    assert_eq!(ready.status, 200, "still ready: it can answer 201");
    assert_eq!(ready.json()["status"], "accepting, spooling");
    for i in 0..25 {
        let answer = post_call(&edge, "SPOOLED", i).await;
        assert_eq!(answer.status, 201, "call {i}: {:?}", answer.json());
    }
    assert_eq!(edge.get("/readyz").await.json()["spooled"], 25);
    assert_eq!(edge.metric("leadpipe_ingest_spool_messages").await, 25.0);
    assert_eq!(edge.metric("leadpipe_ingest_spooled_total").await, 25.0);
    assert!(edge.metric("leadpipe_ingest_spool_bytes").await > 25.0 * 100.0);
    eventually("the oldest spooled webhook's age shows", WAIT, || async {
        edge.metric("leadpipe_ingest_spool_oldest_age_seconds")
            .await
            > 0.0
    })
    .await;

    let worker = Worker::start(&test_env(&prefix, Some(&db.url), &[]));
    worker.wait_ready().await;
    proxy.restore();
    eventually("every spooled call persisted", WAIT, || async {
        persisted_call_ids(&db).await.len() >= 25
    })
    .await;
    // Calls answered after the broker came back go straight to it.
    for i in 25..30 {
        assert_eq!(post_call(&edge, "SPOOLED", i).await.status, 201);
    }
    eventually("the later calls persisted", WAIT, || async {
        persisted_call_ids(&db).await.len() >= 30
    })
    .await;
    eventually("the spool empty and its gauges at zero", WAIT, || async {
        edge.metric("leadpipe_ingest_spool_messages").await == 0.0
            && edge.metric("leadpipe_ingest_spool_bytes").await == 0.0
            && edge
                .metric("leadpipe_ingest_spool_oldest_age_seconds")
                .await
                == 0.0
    })
    .await;
    assert_eq!(
        edge.metric("leadpipe_ingest_spool_drained_total").await,
        25.0
    );
    assert_eq!(edge.metric("leadpipe_ingest_spooled_total").await, 25.0);
    let ready = edge.get("/readyz").await.json();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["spooled"], 0);

    let ids = persisted_call_ids(&db).await;
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 30, "each call persisted once: {ids:?}");
    assert_eq!(unique.len(), 30);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status = 'processed'")
            .await,
        30
    );

    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

/// The drainer deletes an entry only after the broker confirmed it; a crash
/// in between publishes it again on restart. Here the spool holds a webhook
/// the broker already has, as after such a crash: it must be persisted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_published_again_from_the_spool_after_a_crash_is_persisted_once() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_prefix("spool-again");
    let dir = TempDir::new();
    let envelope = Envelope::new(Source::TataCalls, vec![]);
    let body = call_body("AGAIN", 1);
    {
        let spool = Spool::open(&SpoolConfig {
            dir: dir.path.clone(),
            max_bytes: 1 << 20,
        })
        .expect("open the spool");
        spool
            .append(&envelope, body.as_bytes())
            .await
            .expect("spool it");
        spool.close().await;
    }
    let env = test_env(
        &prefix,
        Some(&db.url),
        &[("SPOOL_DIR", dir.path.to_str().unwrap())],
    );
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    // The copy whose confirm arrived just before the crash.
    inspector
        .publish(&envelope, body.as_bytes())
        .await
        .expect("publish the first copy");
    let worker = Worker::start(&env);
    worker.wait_ready().await;
    eventually("the first copy persisted", WAIT, || async {
        persisted_call_ids(&db).await.len() == 1
    })
    .await;

    let edge = Edge::start(&env).await;
    eventually("the spool drained", WAIT, || async {
        edge.metric("leadpipe_ingest_spool_drained_total").await == 1.0
    })
    .await;
    let ingest_id = envelope.ingest_id.to_string();
    eventually("the second copy handled", WAIT, || async {
        db.count(&format!(
            "SELECT COUNT(*) FROM webhook_log WHERE ingest_id = '{ingest_id}'"
        ))
        .await
            >= 1
            && inspector
                .ready_count(&inspector.topology.work_queue(Source::TataCalls))
                .await
                .unwrap()
                == 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(persisted_call_ids(&db).await, vec!["AGAIN-1".to_owned()]);
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM webhook_log WHERE ingest_id = '{ingest_id}'"
        ))
        .await,
        1
    );

    worker.stop().await;
    edge.stop().await;
    testkit::cleanup(inspector).await;
    db.drop().await;
}

/// A full spool is a 503 with Retry-After (and readiness says so); what it
/// accepted before filling up is all persisted once the broker is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_answers_503_and_loses_nothing_it_accepted() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Sqlite).await;
    let prefix = unique_prefix("spool-full");
    let proxy = FaultProxy::start(testkit::broker_addr()).await;
    proxy.sever();
    let edge_env = test_env(
        &prefix,
        None,
        &[("AMQP_URL", &proxy.amqp_url()), ("SPOOL_MAX_BYTES", "3000")],
    );
    let edge = Edge::start_serving(&edge_env).await;
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        let answer = post_call(&edge, "FULL", i).await;
        match answer.status {
            201 => accepted.push(format!("FULL-{i}")),
            503 => {
                refused += 1;
                assert_eq!(answer.header("retry-after"), Some("5"));
            }
            other => panic!("call {i}: {other}"),
        }
    }
    assert!(
        !accepted.is_empty() && refused > 0,
        "{} accepted, {refused} refused",
        accepted.len()
    );
    assert!(edge.metric("leadpipe_ingest_spool_bytes").await <= 3000.0);
    let ready = edge.get("/readyz").await;
    assert_eq!(ready.status, 503, "a full spool cannot promise a 201");

    let worker = Worker::start(&test_env(&prefix, Some(&db.url), &[]));
    worker.wait_ready().await;
    proxy.restore();
    eventually("every accepted call persisted", WAIT, || async {
        persisted_call_ids(&db).await.len() >= accepted.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ids = persisted_call_ids(&db).await;
    ids.sort();
    accepted.sort();
    assert_eq!(ids, accepted, "exactly the accepted calls, each once");

    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}
