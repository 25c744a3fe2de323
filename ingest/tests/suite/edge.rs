//! The edge against a real RabbitMQ: what partners see, and what reaches the
//! queue. Each test uses its own prefix, so its own exchanges and queues.

use serde_json::{Value, json};
use shared::Source;
use shared::broker::QueueInspector;
use shared::config::BrokerConfig;
use std::time::Duration;
use testkit::{Edge, TATA_COMPLETE, TATA_MINIMAL, eventually, http, test_env, unique_prefix};

async fn setup(test: &str, extra: &[(&str, &str)]) -> (Edge, QueueInspector, String) {
    testkit::init_logging();
    let prefix = unique_prefix(test);
    let env = test_env(&prefix, None, extra);
    let edge = Edge::start(&env).await;
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let queue = inspector.topology.work_queue(Source::TataCalls);
    (edge, inspector, queue)
}

#[tokio::test]
async fn contract_examples_are_accepted_with_the_documented_body_and_queued_unchanged() {
    let (edge, inspector, queue) = setup("examples", &[]).await;
    for (example, call_id) in [
        (TATA_MINIMAL, "UNIQUE-CALL-ID"),
        (TATA_COMPLETE, "TATA-CALL-12345"),
    ] {
        let response = edge.post_json("/api/webhook/", example).await;
        assert_eq!(
            response.status,
            201,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(
            response.json(),
            json!({"status": "success", "message": "Call data received successfully", "call_id": call_id, "created": true})
        );
    }
    eventually("two messages queued", Duration::from_secs(10), || async {
        inspector.ready_count(&queue).await.unwrap() == 2
    })
    .await;
    let messages = inspector.drain(&queue).await.unwrap();
    assert_eq!(messages.len(), 2);
    // The raw bytes, exactly as sent (whitespace and all), in order.
    assert_eq!(messages[0].body, TATA_MINIMAL.as_bytes());
    assert_eq!(messages[1].body, TATA_COMPLETE.as_bytes());
    for message in &messages {
        let envelope = message.envelope.as_ref().expect("envelope");
        assert_eq!(envelope.source, Source::TataCalls);
        assert_eq!(envelope.ingest_id.get_version_num(), 7);
        assert!(
            envelope
                .request_headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "application/json")
        );
    }
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn invalid_requests_get_the_documented_4xx_and_nothing_is_queued() {
    let (edge, inspector, queue) = setup("invalid", &[]).await;

    let missing = edge
        .post_json("/api/webhook/", r#"{"caller_number": "+919876543210"}"#)
        .await;
    assert_eq!(missing.status, 400);
    let body = missing.json();
    assert_eq!(body["status"], "error");
    assert_eq!(body["message"], "Invalid data received");
    assert_eq!(
        body["errors"]["call_id"],
        json!(["This field is required."])
    );
    assert_eq!(
        body["errors"]["call_start_time"],
        json!(["This field is required."])
    );
    assert!(body["errors"].get("caller_number").is_none());

    let bad_date = edge
        .post_json(
            "/api/webhook/",
            r#"{"call_id": "X", "caller_number": "+919876543210", "call_start_time": "07-11-2025 4:30 PM"}"#,
        )
        .await;
    assert_eq!(bad_date.status, 400);
    assert_eq!(
        bad_date.json()["errors"]["call_start_time"],
        json!(["Datetime has wrong format. Use ISO 8601."])
    );

    let malformed = edge
        .post_json("/api/webhook/", r#"{"call_id": "X",}"#)
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.json()["status"], "error");

    let not_object = edge.post_json("/api/webhook/", "[1, 2]").await;
    assert_eq!(not_object.status, 400);

    let form = http(
        edge.addr,
        "POST",
        "/api/webhook/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"call_id=X",
    )
    .await;
    assert_eq!(form.status, 415);
    assert!(
        form.json()["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );

    let oversize = format!(r#"{{"call_id": "{}"}}"#, "x".repeat(1024 * 1024));
    let too_large = edge.post_json("/api/webhook/", &oversize).await;
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.json()["status"], "error");

    let wrong_method = edge.get("/api/webhook/").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));

    let unknown = edge.post_json("/nowhere", TATA_MINIMAL).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["status"], "error");

    // A valid request afterwards proves the queue was reachable all along.
    assert_eq!(
        edge.post_json("/api/webhook/", TATA_MINIMAL).await.status,
        201
    );
    eventually(
        "the one valid message queued",
        Duration::from_secs(10),
        || async { inspector.ready_count(&queue).await.unwrap() == 1 },
    )
    .await;
    let messages = inspector.drain(&queue).await.unwrap();
    assert_eq!(
        messages.len(),
        1,
        "only the valid request reached the queue"
    );
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn a_body_trickled_past_the_timeout_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (edge, inspector, _queue) = setup("slow-body", &[("BODY_READ_TIMEOUT_MS", "300")]).await;
    let mut stream = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    stream
        .write_all(b"POST /api/webhook/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
        .await
        .expect("the edge must answer without the rest of the body")
        .unwrap();
    assert_eq!(testkit::parse_response(&raw).status, 408);
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

/// With spooling off (`SPOOL_MAX_BYTES=0`) the broker's refusal is the
/// partner's 503; with it on, see the next test.
#[tokio::test]
async fn with_spooling_off_a_full_queue_refuses_the_publish_and_the_partner_gets_503() {
    let (edge, inspector, queue) = setup(
        "full",
        &[("QUEUE_MAX_LENGTH", "2"), ("SPOOL_MAX_BYTES", "0")],
    )
    .await;
    // Quorum queues apply reject-publish once they are over the limit (the
    // check trails the enqueue slightly), so a message or two may squeeze
    // past; what matters is that refusals come, as 503, not 201.
    let mut accepted = 0;
    let mut refused = None;
    for _ in 0..10 {
        let response = edge.post_json("/api/webhook/", TATA_MINIMAL).await;
        match response.status {
            201 => accepted += 1,
            503 => {
                refused = Some(response);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let refused = refused.expect("a full queue must refuse with 503");
    assert!(
        (2..=4).contains(&accepted),
        "accepted {accepted} before refusing"
    );
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert_eq!(refused.json()["status"], "error");
    assert_eq!(inspector.drain(&queue).await.unwrap().len(), accepted);
    // Room again: accepted again.
    eventually(
        "accepted again once drained",
        Duration::from_secs(10),
        || async { edge.post_json("/api/webhook/", TATA_MINIMAL).await.status == 201 },
    )
    .await;
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn a_full_queue_spools_the_webhooks_and_they_are_published_once_there_is_room() {
    let (edge, inspector, queue) = setup("full-spool", &[("QUEUE_MAX_LENGTH", "2")]).await;
    for i in 0..10 {
        let response = edge.post_json("/api/webhook/", TATA_MINIMAL).await;
        assert_eq!(response.status, 201, "webhook {i}: {:?}", response.json());
    }
    let ready = edge.get("/readyz").await.json();
    assert_eq!(ready["status"], "ready", "the broker is there, only full");
    assert!(ready["spooled"].as_u64().unwrap() >= 6, "{ready}");
    // Nacked for seconds on end, the connection is replaced (a channel can
    // be stuck nacking after a cluster node dies; a new one is not).
    eventually(
        "the nacked connection replaced",
        Duration::from_secs(30),
        || async { edge.metric("leadpipe_ingest_broker_reconnects_total").await >= 1.0 },
    )
    .await;
    // Consume as a worker would: the spool publishes as room appears.
    let mut ids = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ids.len() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 10 published",
            ids.len()
        );
        for message in inspector.drain(&queue).await.unwrap() {
            assert_eq!(message.body, TATA_MINIMAL.as_bytes());
            let id = message.envelope.expect("an envelope").ingest_id;
            assert!(ids.insert(id), "{id} published twice");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually("the spool empty", Duration::from_secs(10), || async {
        edge.get("/readyz").await.json()["spooled"] == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        inspector.drain(&queue).await.unwrap().is_empty(),
        "each published once"
    );
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn with_spooling_off_an_unroutable_message_is_never_answered_201() {
    let (edge, inspector, queue) = setup("unroutable", &[("SPOOL_MAX_BYTES", "0")]).await;
    assert_eq!(
        edge.post_json("/api/webhook/", TATA_MINIMAL).await.status,
        201
    );
    // Remove the queue (and with it the binding) under the running edge.
    inspector.delete_queue(&queue).await.unwrap();
    let response = edge.post_json("/api/webhook/", TATA_MINIMAL).await;
    assert_eq!(response.status, 503, "{:?}", response.json());
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn many_requests_are_in_flight_at_once() {
    let (edge, inspector, queue) = setup("concurrent", &[]).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let addr = edge.addr;
        tasks.spawn(async move {
            let body = format!(r#"{{"call_id": "C-{i}", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z"}}"#);
            http(addr, "POST", "/api/webhook/", &[("Content-Type", "application/json")], body.as_bytes()).await.status
        });
    }
    let statuses: Vec<u16> = tasks.join_all().await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    eventually("all 200 queued", Duration::from_secs(10), || async {
        inspector.ready_count(&queue).await.unwrap() == 200
    })
    .await;
    let ids: std::collections::HashSet<_> = inspector
        .drain(&queue)
        .await
        .unwrap()
        .iter()
        .map(|m| {
            serde_json::from_slice::<Value>(&m.body).unwrap()["call_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 200);
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn health_endpoints_answer() {
    let (edge, inspector, _queue) = setup("health", &[]).await;
    assert_eq!(edge.get("/healthz").await.status, 200);
    let ready = edge.get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["broker"], "connected");
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (edge, inspector, _queue) = setup("conn-limit", &[("MAX_CONNECTIONS", "1")]).await;
    // Edge::start's readiness probe has closed its connection; take the one slot.
    let holder = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_millis(700), waiting.read_to_end(&mut raw)).await;
    assert!(early.is_err(), "answered while the only slot was taken");
    drop(holder);
    tokio::time::timeout(Duration::from_secs(5), waiting.read_to_end(&mut raw))
        .await
        .expect("served once the slot was free")
        .unwrap();
    assert_eq!(testkit::parse_response(&raw).status, 200);
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn the_admin_listener_counts_requests_and_confirms_and_the_partner_port_does_not_serve_it() {
    let (edge, inspector, _) = setup("edge-metrics", &[]).await;
    for _ in 0..2 {
        assert_eq!(
            edge.post_json("/api/webhook/", TATA_MINIMAL).await.status,
            201
        );
    }
    assert_eq!(edge.post_json("/api/webhook/", "{}").await.status, 400);
    let admin = |path: &'static str| http(edge.admin_addr, "GET", path, &[], b"");
    let metrics = String::from_utf8(admin("/metrics").await.body).unwrap();
    for line in [
        r#"leadpipe_ingest_requests_total{source="tata_calls",status="201"} 2"#,
        r#"leadpipe_ingest_requests_total{source="tata_calls",status="400"} 1"#,
        "leadpipe_ingest_publish_confirm_seconds_count 2",
        "leadpipe_ingest_publishes_in_flight 0",
        "leadpipe_ingest_broker_reconnects_total 0",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    assert_eq!(admin("/healthz").await.status, 200);
    assert_eq!(admin("/readyz").await.status, 200);
    // The edge has no admin API beyond these, and the partner port has no metrics.
    let logs = admin("/logs").await;
    assert_eq!(logs.status, 404);
    let said = String::from_utf8_lossy(&logs.body).into_owned();
    assert!(
        said.contains("workers") && !said.contains("ADMIN_TOKEN"),
        "{said}"
    );
    assert_eq!(edge.get("/metrics").await.status, 404);
    edge.stop().await;
    testkit::cleanup(inspector).await;
}

#[tokio::test]
async fn clients_trickling_their_headers_are_cut_off_and_free_their_connection_slots() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Every slot taken by a slow client: a partner gets in only if the edge
    // cuts them off.
    let (edge, inspector, _queue) = setup(
        "slow-headers",
        &[("HEADER_READ_TIMEOUT_MS", "300"), ("MAX_CONNECTIONS", "8")],
    )
    .await;
    let mut slow = Vec::new();
    for _ in 0..8 {
        let stream = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
        slow.push(tokio::spawn(async move {
            let mut stream = stream;
            let started = std::time::Instant::now();
            // One byte of the request line every 100 ms, never finishing.
            for byte in b"POST /api/webhook/ HTTP/1.1\r\nHost: x\r\nX-Slow: "
                .iter()
                .cycle()
            {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                if started.elapsed() > Duration::from_secs(10) {
                    panic!("still connected after 10 s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
            started.elapsed()
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let answered = tokio::time::timeout(
        Duration::from_secs(5),
        edge.post_json("/api/webhook/", TATA_MINIMAL),
    )
    .await
    .expect("a partner gets a slot once the slow clients are cut off");
    assert_eq!(answered.status, 201);
    for client in slow {
        let held = client.await.unwrap();
        assert!(held < Duration::from_secs(3), "held a slot for {held:?}");
    }
    edge.stop().await;
    testkit::cleanup(inspector).await;
}
