//! The worker's admin listener: the webhook log API with every filter and
//! pagination, phone masking, the bearer token, health and metrics, on
//! PostgreSQL and SQLite.

use chrono::{Duration as Span, Utc};
use serde_json::{Value, json};
use shared::broker::QueueInspector;
use shared::config::BrokerConfig;
use shared::{Envelope, Source};
use std::collections::HashSet;
use std::time::Duration;
use testkit::{Backend, TestDb, Worker, eventually, test_env, unique_prefix};

const WAIT: Duration = Duration::from_secs(40);
const TOKEN: &str = "admin-token-for-tests-0001";

testkit::on_both_backends!(the_webhook_log_api_filters_pages_masks_and_requires_the_token);

async fn publish(
    inspector: &QueueInspector,
    source: Source,
    body: Value,
    minutes_ago: i64,
    headers: &[(&str, &str)],
    path: &[(&str, &str)],
) -> Envelope {
    let mut envelope = Envelope::new(
        source,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    envelope.received_at = Utc::now() - Span::minutes(minutes_ago);
    for (k, v) in path {
        envelope.path_params.insert(k.to_string(), v.to_string());
    }
    inspector
        .publish(&envelope, body.to_string().as_bytes())
        .await
        .unwrap();
    envelope
}

fn call(id: &str) -> Value {
    json!({"call_id": id, "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z", "customer_email": "rohit.kumar@gmail.com"})
}

async fn the_webhook_log_api_filters_pages_masks_and_requires_the_token(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env = test_env(
        &unique_prefix("admin-log"),
        Some(&db.url),
        &[("ADMIN_TOKEN", TOKEN), ("RETRY_MAX_ATTEMPTS", "0")],
    );
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let worker = Worker::start(&env);
    worker.wait_ready().await;

    // Three calls received 3, 2 and 1 hours ago; the rest now.
    let t1 = publish(&inspector, Source::TataCalls, call("T-1"), 180, &[], &[]).await;
    publish(&inspector, Source::TataCalls, call("T-2"), 120, &[], &[]).await;
    publish(&inspector, Source::TataCalls, call("T-3"), 60, &[], &[]).await;
    let wa = publish(
        &inspector,
        Source::TataWhatsapp,
        json!({"messages": [{"from": "919876543210", "id": "wamid.ABC", "timestamp": "1731000000", "type": "text", "text": {"body": "Hi, call me on 9876543210"}}]}),
        0,
        &[],
        &[],
    )
    .await;
    let keyed = [("idempotency-key", "key-0001")];
    publish(&inspector, Source::TataCalls, call("T-4"), 0, &keyed, &[]).await;
    publish(&inspector, Source::TataCalls, call("T-4"), 0, &keyed, &[]).await;
    // Dead-lettered: a lead that does not exist, and a body with no call_id.
    publish(
        &inspector,
        Source::CrmEvents,
        json!({"event": "lead_status_update", "data": {"lead_status": "won"}}),
        0,
        &[],
        &[("lead_id", "GHOST")],
    )
    .await;
    publish(
        &inspector,
        Source::TataCalls,
        json!({"caller_number": "+919876543210"}),
        0,
        &[],
        &[],
    )
    .await;
    eventually("all eight settled", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log").await == 8
    })
    .await;

    let get = |path: String| {
        let worker = &worker;
        async move {
            let response = worker.admin_get(&path, Some(TOKEN)).await;
            (response.status, response.json())
        }
    };
    let total = |query: &'static str| {
        let get = &get;
        async move {
            let (status, body) = get(format!("/logs?{query}")).await;
            assert_eq!(status, 200, "{query}: {body}");
            body["data"]["total"].as_u64().unwrap()
        }
    };

    // The token is required; health and metrics are open.
    assert_eq!(worker.admin_get("/logs", None).await.status, 401);
    assert_eq!(
        worker
            .admin_get("/logs", Some("wrong-token-but-long-enough"))
            .await
            .status,
        401
    );
    assert_eq!(
        worker
            .admin_get(&format!("/logs/{}", t1.ingest_id), None)
            .await
            .status,
        401
    );
    assert_eq!(worker.admin_get("/healthz", None).await.status, 200);
    let ready = worker.admin_get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["database"], "connected");

    // Filters, alone and together.
    assert_eq!(total("").await, 8);
    assert_eq!(total("direction=incoming").await, 8);
    assert_eq!(total("direction=outgoing").await, 0);
    assert_eq!(total("is_successful=true").await, 6);
    assert_eq!(total("is_successful=false").await, 2);
    assert_eq!(total("status=dead_lettered").await, 2);
    assert_eq!(total("status=duplicate").await, 1);
    assert_eq!(total("source=tata_calls").await, 6);
    assert_eq!(total("source=tata_calls&is_successful=false").await, 1);
    assert_eq!(total("call_id=T-2").await, 1);
    assert_eq!(total("partner_ref=T-4").await, 2);
    assert_eq!(total("wamid=wamid.ABC").await, 1);
    assert_eq!(total("lead_id=GHOST&status=dead_lettered").await, 1);
    let hours_ago = |h: i64| {
        (Utc::now() - Span::minutes(h * 60 - 30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let (status, body) = get(format!(
        "/logs?since={}&until={}",
        hours_ago(3),
        hours_ago(1)
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let calls: HashSet<&str> = body["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["partner_ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        calls,
        HashSet::from(["T-2", "T-3"]),
        "received 2h and 1h ago"
    );
    let (_, body) = get(format!("/logs?ingest_id={}", wa.ingest_id)).await;
    assert_eq!(body["data"]["items"][0]["source"], "tata_whatsapp");
    assert_eq!(body["data"]["total"], 1);

    // Pagination: pages of 3, newest first, together every row once.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (status, body) = get(format!("/logs?page={page}&page_size=3")).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["total_pages"], 3);
        let items = body["data"]["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), if page < 3 { 3 } else { 2 });
        seen.extend(items);
    }
    let ids: HashSet<&str> = seen
        .iter()
        .map(|i| i["ingest_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 8);
    let times: Vec<&str> = seen
        .iter()
        .map(|i| i["received_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let (_, empty) = get("/logs?page=9&page_size=3".into()).await;
    assert_eq!(empty["data"]["items"].as_array().unwrap().len(), 0);

    // One entry; masked unless asked for.
    let (status, entry) = get(format!("/logs/{}", wa.ingest_id)).await;
    assert_eq!(status, 200);
    let body = entry["data"]["body"].as_str().unwrap();
    assert!(
        !body.contains("9876543210") && body.contains("***3210"),
        "{body}"
    );
    assert_eq!(entry["data"]["body_masked"], true);
    let (_, entry) = get(format!("/logs/{}?unmask=true", t1.ingest_id)).await;
    let body = entry["data"]["body"].as_str().unwrap();
    assert!(body.contains("+919876543210") && body.contains("rohit.kumar@gmail.com"));
    let (_, entry) = get(format!("/logs/{}", t1.ingest_id)).await;
    assert!(
        entry["data"]["body"]
            .as_str()
            .unwrap()
            .contains("r***@gmail.com")
    );
    let (_, dead) = get("/logs?status=dead_lettered&source=crm_events".into()).await;
    let reason = dead["data"]["items"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("lead GHOST not found"), "{reason}");

    // Bad input is a 4xx that says why.
    for (query, expected) in [
        ("/logs?page_size=101", 400),
        ("/logs?page=0", 400),
        ("/logs?direction=sideways", 400),
        ("/logs?is_successful=maybe", 400),
        ("/logs?source=fax", 400),
        ("/logs?since=yesterday", 400),
        ("/logs?sorce=tata_calls", 400),
        ("/logs/not-a-uuid", 400),
        ("/logs/0190d4c3-0000-7000-8000-000000000000", 404),
        ("/nothing-here", 404),
    ] {
        let (status, body) = get(query.into()).await;
        assert_eq!(status, expected, "{query}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{query}: {body}"
        );
    }

    // Metrics: what was settled, by source and outcome. The log records a
    // dead-lettering just before the broker confirms it, so wait for it.
    let expected = [
        r#"leadpipe_worker_messages_total{source="tata_calls",outcome="persisted"} 4"#,
        r#"leadpipe_worker_messages_total{source="tata_calls",outcome="duplicate"} 1"#,
        r#"leadpipe_worker_messages_total{source="tata_calls",outcome="dead_lettered"} 1"#,
        r#"leadpipe_worker_messages_total{source="crm_events",outcome="dead_lettered"} 1"#,
        r#"leadpipe_worker_messages_total{source="tata_whatsapp",outcome="persisted"} 1"#,
    ];
    let scrape =
        || async { String::from_utf8(worker.admin_get("/metrics", None).await.body).unwrap() };
    eventually("every settled message counted", WAIT, || async {
        let metrics = scrape().await;
        expected.iter().all(|line| metrics.contains(line))
    })
    .await;
    let metrics = scrape().await;
    assert!(
        metrics.contains("leadpipe_worker_processing_seconds_count{source=\"tata_calls\"} 6"),
        "{metrics}"
    );
    assert!(metrics.contains("leadpipe_worker_broker_reconnects_total 0"));

    // A worker without ADMIN_TOKEN serves no log at all.
    let env_without = test_env(&env.get("AMQP_PREFIX").unwrap(), Some(&db.url), &[]);
    let open = Worker::start(&env_without);
    let refused = open.admin_get("/logs", Some(TOKEN)).await;
    assert_eq!(refused.status, 403, "{:?}", refused.json());
    open.stop().await;

    worker.stop().await;
    testkit::cleanup(inspector).await;
}
