//! The edge and a worker while RabbitMQ is stopped and started again. Its
//! own test binary: stopping the broker would disturb tests running beside
//! it (cargo runs test binaries one after another).

use std::time::Duration;
use testkit::{
    Backend, Edge, TATA_MINIMAL, TestDb, Worker, eventually, http, rabbitmqctl, test_env,
    unique_prefix,
};

/// Starts the broker again even if the test fails half-way.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        rabbitmqctl(&["start_app"]);
    }
}

async fn admin_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    http(addr, "GET", path, &[], b"").await.status
}

async fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let body = http(addr, "GET", "/metrics", &[], b"").await.body;
    let text = String::from_utf8(body).unwrap();
    testkit::metric_sample(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// While RabbitMQ is stopped, an edge with its spool (the default) keeps
/// answering 201 and stays ready; one with spooling off answers 503 and
/// is not ready. Both, and the worker, recover by themselves, and every
/// webhook answered 201 is processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_broker_is_down_the_edge_spools_and_everything_recovers_by_itself() {
    testkit::init_logging();
    let prefix = unique_prefix("outage");
    let db = TestDb::create(Backend::Sqlite).await;
    let env = test_env(
        &prefix,
        Some(&db.url),
        &[("PUBLISH_CONFIRM_TIMEOUT_MS", "2000")],
    );
    let without_spool = test_env(
        &prefix,
        Some(&db.url),
        &[
            ("PUBLISH_CONFIRM_TIMEOUT_MS", "2000"),
            ("SPOOL_MAX_BYTES", "0"),
        ],
    );
    let edge = Edge::start(&env).await;
    let refusing = Edge::start(&without_spool).await;
    let worker = Worker::start(&env);
    worker.wait_ready().await;
    assert_eq!(admin_status(edge.admin_addr, "/readyz").await, 200);
    assert_eq!(
        metric(refusing.admin_addr, "leadpipe_ingest_ready").await,
        1.0
    );
    assert_eq!(
        metric(worker.admin_addr, "leadpipe_worker_ready").await,
        1.0
    );
    assert_eq!(
        edge.post_json("/api/webhook/", TATA_MINIMAL).await.status,
        201
    );

    let restart = RestartOnDrop;
    rabbitmqctl(&["stop_app"]);
    for _ in 0..5 {
        let response = edge.post_json("/api/webhook/", TATA_MINIMAL).await;
        assert_eq!(response.status, 201, "spooled: {:?}", response.json());
        let response = refusing.post_json("/api/webhook/", TATA_MINIMAL).await;
        assert_eq!(
            response.status, 503,
            "never 201 without the broker or a spool"
        );
        assert!(response.header("retry-after").is_some());
    }
    let ready = edge.get("/readyz").await;
    assert_eq!(ready.status, 200, "a spooling edge can still answer 201");
    assert_eq!(ready.json()["status"], "accepting, spooling");
    assert_eq!(ready.json()["spooled"], 5);
    eventually(
        "readiness of the edge without a spool reports the broker down",
        Duration::from_secs(10),
        || async { refusing.get("/readyz").await.status == 503 },
    )
    .await;
    assert_eq!(admin_status(refusing.admin_addr, "/readyz").await, 503);
    // What the readiness alert reads: the refusing edge is not ready, the
    // spooling one is.
    assert_eq!(
        metric(refusing.admin_addr, "leadpipe_ingest_ready").await,
        0.0
    );
    assert_eq!(metric(edge.admin_addr, "leadpipe_ingest_ready").await, 1.0);
    eventually(
        "the worker's readiness reports the broker down",
        Duration::from_secs(30),
        || async {
            let ready = worker.admin_get("/readyz", None).await;
            ready.status == 503 && ready.json()["broker"] == "unreachable"
        },
    )
    .await;
    assert_eq!(
        metric(worker.admin_addr, "leadpipe_worker_ready").await,
        0.0
    );
    // Still alive: the orchestrator should wait, not restart it.
    assert_eq!(admin_status(refusing.admin_addr, "/healthz").await, 200);
    assert_eq!(worker.admin_get("/healthz", None).await.status, 200);

    drop(restart);
    eventually(
        "201 again without restarting the edge",
        Duration::from_secs(90),
        || async {
            refusing
                .post_json("/api/webhook/", TATA_MINIMAL)
                .await
                .status
                == 201
        },
    )
    .await;
    assert_eq!(refusing.get("/readyz").await.status, 200);
    eventually("the spool drained", Duration::from_secs(60), || async {
        let ready = edge.get("/readyz").await.json();
        ready["status"] == "ready" && ready["spooled"] == 0
    })
    .await;
    eventually(
        "the worker is ready again without a restart",
        Duration::from_secs(90),
        || async { worker.admin_get("/readyz", None).await.status == 200 },
    )
    .await;

    // Every accepted message survived the restart (persistent, quorum, or
    // in the spool) and was processed: one call (they all carry the same
    // call id), seven deliveries in the log.
    eventually(
        "every accepted message processed",
        Duration::from_secs(60),
        || async {
            db.count("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
                .await
                == 7
        },
    )
    .await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM calls").await, 1);
    assert_eq!(
        metric(worker.admin_addr, "leadpipe_worker_ready").await,
        1.0
    );
    assert_eq!(
        metric(refusing.admin_addr, "leadpipe_ingest_ready").await,
        1.0
    );
    assert!(metric(edge.admin_addr, "leadpipe_ingest_broker_reconnects_total").await >= 1.0);
    assert!(metric(worker.admin_addr, "leadpipe_worker_broker_reconnects_total").await >= 1.0);
    worker.stop().await;
    edge.stop().await;
    refusing.stop().await;
    // Unlike every other test, this one leaves its queues in place:
    // deleting quorum queues moments after the broker restarted crashes
    // their dead-letter workers on RabbitMQ 3.10 and makes the node refuse
    // connections (INTERNAL_ERROR) for minutes, failing the tests after it.
}
