//! The webhook log: every delivery's outcome, reason, attempts and raw body
//! against its ingest id, and partner retries recognised by their
//! idempotency key, on PostgreSQL and SQLite.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use shared::broker::QueueInspector;
use shared::config::BrokerConfig;
use shared::{Envelope, Source};
use std::time::Duration;
use store::entities::{webhook_log, webhook_log_events};
use testkit::{Backend, Edge, TestDb, Worker, eventually, test_env, unique_prefix};

const WAIT: Duration = Duration::from_secs(30);

testkit::on_both_backends!(
    a_partner_retry_with_the_same_idempotency_key_is_a_recorded_duplicate,
    every_outcome_is_logged_with_reason_attempts_and_body,
    retention_drops_old_bodies_and_removes_older_entries_and_keeps_the_rest,
    retention_erases_idle_leads_and_purges_old_dead_letters_with_a_record,
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

/// Issue 24's retention: with bodies kept 90 days and entries 365, a
/// delivery received 100 days ago loses its body (its entry stays, saying
/// when), one received 400 days ago goes with its reason history, and a
/// recent one is untouched.
async fn retention_drops_old_bodies_and_removes_older_entries_and_keeps_the_rest(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env = test_env(
        &unique_prefix("retention"),
        Some(&db.url),
        &[
            ("RAW_BODY_RETENTION_DAYS", "90"),
            ("LOG_RETENTION_DAYS", "365"),
            ("RETENTION_EVERY_SECS", "1"),
        ],
    );
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    for call in ["RET-RECENT", "RET-100-DAYS", "RET-400-DAYS"] {
        let body = json!({"call_id": call, "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z"}).to_string();
        assert_eq!(edge.post("/api/webhook/", &[], &body).await.status, 201);
    }
    eventually("three deliveries processed", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status = 'processed'")
            .await
            == 3
    })
    .await;
    let oldest = entry(&db, "RET-400-DAYS").await.unwrap().ingest_id;
    webhook_log_events::Entity::insert(webhook_log_events::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        ingest_id: Set(oldest),
        at: Set(chrono::Utc::now()),
        status: Set("retrying".into()),
        reason: Set("a reason from long ago".into()),
    })
    .exec(&db.conn)
    .await
    .unwrap();
    for (call, days) in [("RET-100-DAYS", 100), ("RET-400-DAYS", 400)] {
        webhook_log::Entity::update_many()
            .col_expr(
                webhook_log::Column::ReceivedAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::days(days)),
            )
            .filter(webhook_log::Column::PartnerRef.eq(call))
            .exec(&db.conn)
            .await
            .unwrap();
    }
    eventually(
        "the old body dropped and the oldest entry removed",
        WAIT,
        || async {
            let aged = entry(&db, "RET-100-DAYS").await;
            entry(&db, "RET-400-DAYS").await.is_none()
                && aged.is_some_and(|row| row.body_dropped_at.is_some())
        },
    )
    .await;
    let aged = entry(&db, "RET-100-DAYS").await.unwrap();
    assert_eq!(aged.body, "", "the body is gone");
    assert_eq!(aged.status, "processed", "the entry's metadata stays");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM webhook_log_events").await,
        0,
        "the removed entry's reason history went with it"
    );
    let recent = entry(&db, "RET-RECENT").await.unwrap();
    assert!(recent.body.contains("RET-RECENT") && recent.body_dropped_at.is_none());
    // The partner records themselves are not the log's to remove.
    assert_eq!(db.count("SELECT COUNT(*) FROM calls").await, 3);
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&BrokerConfig::from_env(&env).unwrap().prefix).await;
    db.drop().await;
}

/// Issue 24's retention of people: with `LEAD_RETENTION_DAYS` at 30, a
/// lead idle for 40 days is erased with its records (recorded as
/// retention's erasure), while a won one as old and a recent one stay; a
/// dead letter younger than `DEAD_LETTER_RETENTION_DAYS` stays, and once
/// the limit is 0 it is purged with a record by source and reason.
async fn retention_erases_idle_leads_and_purges_old_dead_letters_with_a_record(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("retention-people");
    let env_with = |dead_letter_days: &str| {
        test_env(
            &prefix,
            Some(&db.url),
            &[
                ("RETRY_MAX_ATTEMPTS", "1"),
                ("RETENTION_EVERY_SECS", "1"),
                ("LEAD_RETENTION_DAYS", "30"),
                ("DEAD_LETTER_RETENTION_DAYS", dead_letter_days),
            ],
        )
    };
    let env = env_with("30");
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    for (call, phone) in [
        ("IDLE-1", "+919876500001"),
        ("WON-1", "+919876500002"),
        ("RECENT-1", "+919876500003"),
    ] {
        let body = json!({"call_id": call, "caller_number": phone, "call_start_time": "2025-11-07T16:30:00Z"}).to_string();
        assert_eq!(edge.post("/api/webhook/", &[], &body).await.status, 201);
    }
    let dead = json!({"event": "lead_status_update", "source": "crm", "data": {"lead_status": "won", "phone": "+91 98765 11111"}});
    assert_eq!(
        edge.post_json(
            "/api/v1/webhooks/incoming/lead/L-404/status/update",
            &dead.to_string()
        )
        .await
        .status,
        201
    );
    eventually("three leads and a dead letter", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads").await == 3
            && testkit::dead_letter_count(&inspector, Source::CrmEvents).await == 1
    })
    .await;
    let forty_days_ago = chrono::Utc::now() - chrono::Duration::days(40);
    for (phone, stage) in [("+919876500001", "new"), ("+919876500002", "won")] {
        store::entities::leads::Entity::update_many()
            .col_expr(
                store::entities::leads::Column::UpdatedAt,
                Expr::value(forty_days_ago),
            )
            .col_expr(
                store::entities::leads::Column::LastSeenAt,
                Expr::value(forty_days_ago),
            )
            .col_expr(store::entities::leads::Column::Stage, Expr::value(stage))
            .filter(store::entities::leads::Column::Phone.eq(phone))
            .exec(&db.conn)
            .await
            .unwrap();
    }
    eventually("the idle lead erased", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE phone = '+919876500001'")
            .await
            == 0
    })
    .await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM calls WHERE caller_number = '+919876500001'")
            .await,
        0,
        "its records went with it"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM erasures WHERE requested_by = 'retention (LEAD_RETENTION_DAYS)'"
        )
        .await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads").await,
        2,
        "won and recent stay"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM calls").await, 2);
    // Rounds have run: the dead letter, younger than 30 days, stays.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        testkit::dead_letter_count(&inspector, Source::CrmEvents).await,
        1
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM dead_letter_purges").await, 0);
    worker.stop().await;

    let worker = Worker::start(&env_with("0"));
    eventually("the dead letter purged", WAIT, || async {
        testkit::dead_letter_count(&inspector, Source::CrmEvents).await == 0
    })
    .await;
    eventually("the purge recorded", WAIT, || async {
        db.count("SELECT COUNT(*) FROM dead_letter_purges WHERE source = 'crm_events' AND count = 1 AND reason <> ''")
            .await
            == 1
    })
    .await;
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup(inspector).await;
    db.drop().await;
}

/// The log entry of the Tata call `call`.
async fn entry(db: &TestDb, call: &str) -> Option<webhook_log::Model> {
    webhook_log::Entity::find()
        .filter(webhook_log::Column::PartnerRef.eq(call))
        .one(&db.conn)
        .await
        .unwrap()
}
