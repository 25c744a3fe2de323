//! The webhook log: every delivery's outcome, reason, attempts and raw body
//! against its ingest id, and partner retries recognised by their
//! idempotency key, on PostgreSQL and SQLite.

use sea_orm::EntityTrait;
use serde_json::json;
use shared::broker::QueueInspector;
use shared::config::BrokerConfig;
use shared::{Envelope, Source};
use std::time::Duration;
use store::entities::webhook_log;
use testkit::{Backend, Edge, TestDb, Worker, eventually, test_env, unique_prefix};

const WAIT: Duration = Duration::from_secs(30);

testkit::on_both_backends!(
    a_partner_retry_with_the_same_idempotency_key_is_a_recorded_duplicate,
    every_outcome_is_logged_with_reason_attempts_and_body,
);

async fn a_partner_retry_with_the_same_idempotency_key_is_a_recorded_duplicate(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env = test_env(&unique_prefix("idempotency"), Some(&db.url), &[]);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    let body = json!({"call_id": "IDEM-1", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z"}).to_string();
    for _ in 0..2 {
        let response = edge
            .post(
                "/api/webhook/",
                &[("Idempotency-Key", "retry-key-1")],
                &body,
            )
            .await;
        assert_eq!(response.status, 201);
    }
    eventually("both deliveries settled", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log").await == 2
    })
    .await;
    let rows = webhook_log::Entity::find().all(&db.conn).await.unwrap();
    let processed: Vec<_> = rows.iter().filter(|r| r.status == "processed").collect();
    let duplicate: Vec<_> = rows.iter().filter(|r| r.status == "duplicate").collect();
    assert_eq!((processed.len(), duplicate.len()), (1, 1), "{rows:?}");
    assert_eq!(processed[0].idempotency_key.as_deref(), Some("retry-key-1"));
    assert!(
        duplicate[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("retry-key-1")
    );
    assert_eq!(
        db.scalar("SELECT CAST(event_count AS BIGINT) FROM calls")
            .await,
        1,
        "the retry changed nothing"
    );
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&BrokerConfig::from_env(&env).unwrap().prefix).await;
    db.drop().await;
}

async fn every_outcome_is_logged_with_reason_attempts_and_body(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env = test_env(
        &unique_prefix("log"),
        Some(&db.url),
        &[("RETRY_MAX_ATTEMPTS", "1")],
    );
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let worker = Worker::start(&env);
    let call = r#"{"call_id": "LOG-1", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z"}"#;
    let processed = Envelope::new(Source::TataCalls, vec![]);
    inspector
        .publish(&processed, call.as_bytes())
        .await
        .unwrap();
    let poison = Envelope::new(Source::TataCalls, vec![]);
    inspector
        .publish(&poison, br#"{"call_id": "LOG-2"}"#)
        .await
        .unwrap();
    // An update for a lead that comes a moment later: retried, then processed.
    let mut update = Envelope::new(Source::CrmEvents, vec![]);
    update
        .path_params
        .insert("lead_id".into(), "LOG-LEAD".into());
    let update_body = r#"{"event": "lead_update", "data": {"city": "Goa"}}"#;
    inspector
        .publish(&update, update_body.as_bytes())
        .await
        .unwrap();
    eventually("the update is retrying", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status = 'retrying'")
            .await
            == 1
    })
    .await;
    let mut create = Envelope::new(Source::CrmEvents, vec![]);
    create
        .assigned_ids
        .insert("lead_id".into(), "LOG-LEAD".into());
    inspector
        .publish(&create, br#"{"event": "new_lead", "data": {}}"#)
        .await
        .unwrap();
    eventually("everything settled", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'dead_lettered')")
            .await
            == 4
    })
    .await;

    let row = |id| {
        let db = &db;
        async move {
            webhook_log::Entity::find_by_id(id)
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let ok = row(processed.ingest_id).await;
    assert_eq!(
        (ok.status.as_str(), ok.attempts, ok.partner_ref.as_deref()),
        ("processed", 1, Some("LOG-1"))
    );
    assert_eq!(ok.body, call, "the raw body, as sent");
    assert_eq!(ok.source, "tata_calls");
    let dead = row(poison.ingest_id).await;
    assert_eq!(dead.status, "dead_lettered");
    assert!(
        dead.reason.as_deref().unwrap().contains("caller_number"),
        "{:?}",
        dead.reason
    );
    let retried = row(update.ingest_id).await;
    assert_eq!(
        (
            retried.status.as_str(),
            retried.attempts,
            retried.reason.as_deref()
        ),
        ("processed", 2, None)
    );
    assert_eq!(retried.partner_ref.as_deref(), Some("LOG-LEAD"));
    worker.stop().await;
    testkit::cleanup(inspector).await;
    db.drop().await;
}
