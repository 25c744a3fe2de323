//! The whole pipeline (real edge, real RabbitMQ, real worker, real database),
//! each case on PostgreSQL and on SQLite.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use shared::broker::{HEADER_REASON, QueueInspector};
use shared::config::{BrokerConfig, Env};
use shared::{Envelope, Source};
use std::time::Duration;
use store::entities::calls;
use testkit::{
    Backend, Edge, TATA_COMPLETE, TATA_MINIMAL, TestDb, Worker, eventually, test_env, unique_prefix,
};

const WAIT: Duration = Duration::from_secs(30);

testkit::on_both_backends!(
    contract_examples_end_up_as_one_row_each,
    later_events_for_a_call_update_its_one_row,
    an_older_event_arriving_late_never_overwrites_a_newer_one,
    a_batch_full_of_repeated_keys_ends_as_one_message_at_a_time_would,
    a_batch_of_digital_leads_applies_the_duplicate_window_as_one_at_a_time_would,
    a_batch_of_captured_calls_ends_as_one_message_at_a_time_would,
    a_batch_of_crm_creations_ends_as_one_message_at_a_time_would,
    a_message_redelivered_after_commit_changes_nothing,
    a_payload_that_can_never_be_accepted_is_dead_lettered_with_its_reason,
    workers_starting_together_migrate_once,
);

struct Rig {
    db: TestDb,
    env: Env,
    inspector: QueueInspector,
}

async fn rig(test: &str, backend: Backend) -> Rig {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env = test_env(&unique_prefix(test), Some(&db.url), &[]);
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    Rig { db, env, inspector }
}

impl Rig {
    async fn processed(&self) -> i64 {
        self.db
            .count("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
            .await
    }

    async fn wait_processed(&self, n: i64) {
        eventually(&format!("{n} messages processed"), WAIT, || async {
            self.processed().await >= n
        })
        .await;
        assert_eq!(self.processed().await, n);
    }

    async fn call(&self, call_id: &str) -> calls::Model {
        calls::Entity::find()
            .filter(calls::Column::CallId.eq(call_id))
            .one(&self.db.conn)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no row for {call_id}"))
    }

    async fn queue_empty(&self, queue: &str) -> bool {
        self.inspector.ready_count(queue).await.unwrap() == 0
    }

    async fn finish(self, workers: Vec<Worker>) {
        for worker in workers {
            worker.stop().await;
        }
        testkit::cleanup(self.inspector).await;
        self.db.drop().await;
    }
}

async fn contract_examples_end_up_as_one_row_each(backend: Backend) {
    let rig = rig("examples", backend).await;
    let edge = Edge::start(&rig.env).await;
    let worker = Worker::start(&rig.env);
    assert_eq!(
        edge.post_json("/api/webhook/", TATA_MINIMAL).await.status,
        201
    );
    assert_eq!(
        edge.post_json("/api/webhook/", TATA_COMPLETE).await.status,
        201
    );
    let bare = r#"{"call_id": "BARE-1", "caller_number": "9876543210", "call_start_time": "2025-11-07T22:00:00+05:30"}"#;
    assert_eq!(edge.post_json("/api/webhook/", bare).await.status, 201);
    rig.wait_processed(3).await;
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM calls").await, 3);

    let minimal = rig.call("UNIQUE-CALL-ID").await;
    assert_eq!(minimal.caller_number, "+919876543210");
    assert_eq!(
        minimal.call_start_time.to_rfc3339(),
        "2025-11-07T16:30:00+00:00"
    );
    assert_eq!(minimal.call_status, None);

    let complete = rig.call("TATA-CALL-12345").await;
    assert_eq!(complete.call_sid.as_deref(), Some("SID-ABC123"));
    assert_eq!(
        complete.call_end_time.unwrap().to_rfc3339(),
        "2025-11-07T16:35:30+00:00"
    );
    assert_eq!(complete.call_duration, Some(330));
    assert_eq!(complete.call_status.as_deref(), Some("completed"));
    assert_eq!(complete.disposition_code.as_deref(), Some("SALES_INQ"));
    assert_eq!(complete.disposition_name.as_deref(), Some("Sales Inquiry"));
    assert_eq!(complete.disposition_category.as_deref(), Some("sales"));
    assert_eq!(
        complete.customer_email.as_deref(),
        Some("rohit.kumar@gmail.com")
    );
    assert_eq!(complete.vehicle_variant.as_deref(), Some("Dark Edition"));
    assert_eq!(complete.is_lead, Some(true));
    assert_eq!(complete.lead_quality.as_deref(), Some("hot"));
    assert_eq!(complete.event_count, 1);

    // A bare 10-digit Indian number and an IST offset, normalised.
    let bare = rig.call("BARE-1").await;
    assert_eq!(bare.caller_number, "+919876543210");
    assert_eq!(
        bare.call_start_time.to_rfc3339(),
        "2025-11-07T16:30:00+00:00"
    );

    let queue = rig.inspector.topology.work_queue(Source::TataCalls);
    eventually("work queue drained and acked", WAIT, || {
        rig.queue_empty(&queue)
    })
    .await;
    edge.stop().await;
    rig.finish(vec![worker]).await;
}

async fn later_events_for_a_call_update_its_one_row(backend: Backend) {
    let rig = rig("same-call", backend).await;
    let edge = Edge::start(&rig.env).await;
    let worker = Worker::start(&rig.env);
    let ringing = json!({"call_id": "CALL-7", "caller_number": "+919876543210",
        "call_start_time": "2025-11-07T16:30:00Z", "call_status": "ringing", "staff_name": "Priya Sharma",
        "campaign": "diwali"});
    let completed = json!({"call_id": "CALL-7", "caller_number": "+919876543210",
        "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed", "call_duration": 95});
    assert_eq!(
        edge.post_json("/api/webhook/", &ringing.to_string())
            .await
            .status,
        201
    );
    rig.wait_processed(1).await;
    assert_eq!(
        edge.post_json("/api/webhook/", &completed.to_string())
            .await
            .status,
        201
    );
    rig.wait_processed(2).await;

    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM calls").await, 1);
    let call = rig.call("CALL-7").await;
    assert_eq!(call.call_status.as_deref(), Some("completed"));
    assert_eq!(
        call.call_duration,
        Some(95),
        "the later event's fields are merged in"
    );
    assert_eq!(
        call.staff_name.as_deref(),
        Some("Priya Sharma"),
        "earlier fields are kept"
    );
    assert_eq!(
        call.extra,
        Some(json!({"campaign": "diwali"})),
        "unknown fields are kept"
    );
    assert_eq!(call.event_count, 2);
    edge.stop().await;
    rig.finish(vec![worker]).await;
}

async fn an_older_event_arriving_late_never_overwrites_a_newer_one(backend: Backend) {
    let rig = rig("out-of-order", backend).await;
    let worker = Worker::start(&rig.env);
    let older = Envelope::new(Source::TataCalls, vec![]);
    let mut newer = Envelope::new(Source::TataCalls, vec![]);
    newer.received_at = older.received_at + chrono::Duration::seconds(5);
    let ringing = r#"{"call_id": "CALL-9", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "ringing", "staff_id": "EMP-1"}"#;
    let completed = r#"{"call_id": "CALL-9", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z", "call_status": "completed"}"#;
    // The newer event is delivered first.
    rig.inspector
        .publish(&newer, completed.as_bytes())
        .await
        .unwrap();
    rig.wait_processed(1).await;
    rig.inspector
        .publish(&older, ringing.as_bytes())
        .await
        .unwrap();
    rig.wait_processed(2).await;
    let call = rig.call("CALL-9").await;
    assert_eq!(
        call.call_status.as_deref(),
        Some("completed"),
        "the late, older event must not win"
    );
    assert_eq!(
        call.staff_id.as_deref(),
        Some("EMP-1"),
        "but it fills what the newer one lacked"
    );
    assert_eq!(call.last_ingest_id, newer.ingest_id);
    rig.finish(vec![worker]).await;
}

/// A backlog the worker takes in one batch, built so that many of its rows
/// meet: one call's burst of events out of order, one person on every
/// call and on a WhatsApp message, a message with its statuses, a
/// redelivered message, a poison one. The result must be what one message
/// at a time gives, with the batch's multi-row statements never refused.
async fn a_batch_full_of_repeated_keys_ends_as_one_message_at_a_time_would(backend: Backend) {
    let rig = rig("batch-keys", backend).await;
    let phone = "+919811122233";
    let t0 = chrono::Utc::now();
    let mut published = 0;
    let publish = |source: Source, body: String, offset_secs: i64| {
        let mut envelope = Envelope::new(source, vec![]);
        envelope.received_at = t0 + chrono::Duration::seconds(offset_secs);
        let inspector = &rig.inspector;
        async move {
            inspector.publish(&envelope, body.as_bytes()).await.unwrap();
            envelope
        }
    };
    let call = |id: &str, status: &str, extra: serde_json::Value| {
        let mut body = json!({"call_id": id, "caller_number": phone,
            "call_start_time": "2025-11-07T16:30:00Z", "call_status": status});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body.to_string()
    };
    // One call's events, newest first.
    publish(
        Source::TataCalls,
        call("BURST", "completed", json!({"call_duration": 95})),
        3,
    )
    .await;
    publish(
        Source::TataCalls,
        call("BURST", "ringing", json!({"staff_id": "EMP-1"})),
        1,
    )
    .await;
    publish(Source::TataCalls, call("BURST", "answered", json!({})), 2).await;
    published += 3;
    // Twenty more calls from the same person.
    for n in 0..20 {
        publish(
            Source::TataCalls,
            call(&format!("OTHER-{n}"), "completed", json!({})),
            4,
        )
        .await;
        published += 1;
    }
    // The same person on WhatsApp; the message's statuses around it.
    let digits = &phone[1..];
    let status = |s: &str| {
        json!({"statuses": [{"id": "wamid.BATCH", "status": s, "timestamp": "1744109300", "recipient_id": digits}]})
            .to_string()
    };
    publish(Source::TataWhatsapp, status("read"), 5).await;
    publish(
        Source::TataWhatsapp,
        json!({"messages": {"from": digits, "id": "wamid.BATCH",
        "timestamp": "1744109205", "text": {"body": "hi"}, "type": "text"}})
        .to_string(),
        5,
    )
    .await;
    publish(Source::TataWhatsapp, status("delivered"), 6).await;
    published += 3;
    // A message delivered twice (same ingest id), and one that never parses.
    let twice = publish(Source::TataCalls, call("TWICE", "completed", json!({})), 7).await;
    rig.inspector
        .publish(&twice, call("TWICE", "completed", json!({})).as_bytes())
        .await
        .unwrap();
    published += 1;
    publish(Source::TataCalls, r#"{"call_id": ""}"#.to_owned(), 8).await;

    // Everything waits in the queues before the worker starts: its first
    // batches hold it all.
    let worker = Worker::start(&rig.env);
    rig.wait_processed(published).await;
    let dead = rig.inspector.topology.dead_letter_queue(Source::TataCalls);
    eventually("the poison message is dead-lettered", WAIT, || async {
        rig.inspector.ready_count(&dead).await.unwrap() == 1
    })
    .await;
    let burst = rig.call("BURST").await;
    assert_eq!(burst.event_count, 3);
    assert_eq!(
        burst.call_status.as_deref(),
        Some("completed"),
        "the newest event wins"
    );
    assert_eq!(burst.call_duration, Some(95));
    assert_eq!(
        burst.staff_id.as_deref(),
        Some("EMP-1"),
        "older events fill gaps"
    );
    assert_eq!(
        rig.call("TWICE").await.event_count,
        1,
        "a redelivery changes nothing"
    );
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM calls").await, 22);
    assert_eq!(
        rig.db.scalar("SELECT COUNT(*) FROM leads").await,
        1,
        "one person"
    );
    assert_eq!(
        rig.db.scalar("SELECT COUNT(*) FROM lead_touchpoints").await,
        23,
        "a line per call and one for the WhatsApp message"
    );
    let message = store::entities::whatsapp_messages::Entity::find_by_id("wamid.BATCH")
        .one(&rig.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        message.status.as_deref(),
        Some("read"),
        "statuses never move back"
    );
    assert_eq!(message.text.as_deref(), Some("hi"));
    assert_eq!(message.lead_id, Some(worker::lead_id(phone)));
    let metrics = String::from_utf8(worker.admin_get("/metrics", None).await.body).unwrap();
    assert!(
        metrics.contains("leadpipe_worker_batch_fallbacks_total 0"),
        "no multi-row statement was refused: {metrics}"
    );
    rig.finish(vec![worker]).await;
}

async fn a_batch_of_digital_leads_applies_the_duplicate_window_as_one_at_a_time_would(
    backend: Backend,
) {
    let mut rig = rig("batch-digital", backend).await;
    // One batch at a time, so the backlog after the first delivery waits
    // for the next batch together.
    rig.env = test_env(
        rig.env.get("AMQP_PREFIX").as_deref().unwrap_or_default(),
        Some(&rig.db.url),
        &[("WORKER_BATCHES_IN_FLIGHT", "1")],
    );
    let t0 = chrono::Utc::now();
    let lead = |phone: &str| json!({"name": "Meera", "phone_number": phone}).to_string();
    let publish = |source: Source, body: String, offset_secs: i64| {
        let mut envelope = Envelope::new(source, vec![]);
        envelope.received_at = t0 + chrono::Duration::seconds(offset_secs);
        let inspector = &rig.inspector;
        async move {
            inspector.publish(&envelope, body.as_bytes()).await.unwrap();
            envelope
        }
    };
    // Already stored before the batch: phone C on CarWale.
    let worker = Worker::start(&rig.env);
    publish(Source::Carwale, lead("9000000003"), 0).await;
    rig.wait_processed(1).await;
    worker.stop().await;

    // The backlog, waiting in the queues when the worker starts (the
    // default window is 60 s, either side).
    let first = publish(Source::Carwale, lead("9000000001"), 0).await;
    rig.inspector
        .publish(&first, lead("9000000001").as_bytes())
        .await
        .unwrap(); // delivered twice
    publish(Source::Carwale, lead("9000000001"), 30).await; // duplicate of the first
    publish(Source::Carwale, lead("9000000001"), -20).await; // late, still within
    publish(Source::Carwale, lead("9000000001"), 90).await; // outside: new
    publish(Source::Cardekho, lead("9000000001"), 0).await; // other platform: new
    publish(Source::Carwale, lead("9000000002"), 0).await; // other phone: new
    publish(Source::Carwale, lead("9000000003"), 10).await; // duplicate of the stored one
    let worker = Worker::start(&rig.env);
    rig.wait_processed(8).await;

    let stored = rig.db.scalar("SELECT COUNT(*) FROM digital_leads").await;
    assert_eq!(stored, 5, "three duplicates and a redelivery write nothing");
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM webhook_log WHERE status = 'duplicate'")
            .await,
        3
    );
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM digital_leads WHERE phone = '+919000000001' AND platform = 'CarWale'")
            .await,
        2
    );
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM leads").await, 3);
    assert_eq!(
        rig.db.scalar("SELECT COUNT(*) FROM lead_touchpoints").await,
        5,
        "a line per stored lead"
    );
    let metrics = String::from_utf8(worker.admin_get("/metrics", None).await.body).unwrap();
    assert!(
        metrics.contains("leadpipe_worker_batch_fallbacks_total 0"),
        "no multi-row statement was refused: {metrics}"
    );
    rig.finish(vec![worker]).await;
}

/// What a drained backlog of captured calls left in the database, without
/// the columns that hold the time of writing.
#[derive(Debug, PartialEq)]
struct CapturedCalls {
    records: Vec<String>,
    aliases: Vec<(uuid::Uuid, uuid::Uuid)>,
    follow_ups: Vec<String>,
    touchpoints: Vec<String>,
    leads: Vec<String>,
}

/// Publishes `backlog` under a fresh prefix and database, then lets one
/// worker with `WORKER_BATCH_SIZE=batch_size` drain it (one batch in flight,
/// so the order is the queue's) until `processed` deliveries are logged,
/// and checks no multi-row statement was refused.
async fn drain(
    backend: Backend,
    batch_size: &str,
    backlog: &[(Envelope, String)],
    processed: i64,
) -> (Rig, Worker) {
    let mut rig = rig(&format!("batch-drain-{batch_size}"), backend).await;
    rig.env = test_env(
        rig.env.get("AMQP_PREFIX").as_deref().unwrap_or_default(),
        Some(&rig.db.url),
        &[
            ("WORKER_BATCH_SIZE", batch_size),
            ("WORKER_BATCHES_IN_FLIGHT", "1"),
            ("DEALER_NUMBERS", "+919000000001"),
        ],
    );
    for (envelope, body) in backlog {
        rig.inspector
            .publish(envelope, body.as_bytes())
            .await
            .unwrap();
    }
    let worker = Worker::start(&rig.env);
    rig.wait_processed(processed).await;
    let metrics = String::from_utf8(worker.admin_get("/metrics", None).await.body).unwrap();
    assert!(
        metrics.contains("leadpipe_worker_batch_fallbacks_total 0"),
        "no multi-row statement was refused: {metrics}"
    );
    (rig, worker)
}

/// Drains a backlog of captured calls (see [`drain`]; one delivery is a
/// redelivery) and reads what it wrote.
async fn drain_captured_calls(
    backend: Backend,
    batch_size: &str,
    backlog: &[(Envelope, String)],
) -> CapturedCalls {
    use store::entities::{call_record_aliases, call_records, follow_ups, lead_touchpoints, leads};
    let (rig, worker) = drain(backend, batch_size, backlog, backlog.len() as i64 - 1).await;
    let conn = &rig.db.conn;
    let mut records: Vec<String> = call_records::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            format!(
                "{} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {}",
                r.id,
                r.external_key,
                r.outcome,
                r.notes,
                r.next_follow_up,
                r.next_follow_up_time,
                r.lead_id,
                r.recipient_number,
                r.event_count
            )
        })
        .collect();
    records.sort();
    let mut aliases: Vec<_> = call_record_aliases::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.call_record_id))
        .collect();
    aliases.sort();
    let mut follow_ups: Vec<String> = follow_ups::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|f| {
            format!(
                "{} {:?} {:?} {} {:?} {} {:?}",
                f.call_record_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                f.lead_id,
                f.phone,
                f.due_date,
                f.due_time,
                f.due_at,
                f.notes
            )
        })
        .collect();
    follow_ups.sort();
    let mut touchpoints: Vec<String> = lead_touchpoints::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|t| format!("{} {} {} {}", t.id, t.lead_id, t.occurred_at, t.summary))
        .collect();
    touchpoints.sort();
    let mut leads: Vec<String> = leads::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            format!(
                "{} {} {} {}",
                l.phone, l.first_source, l.first_seen_at, l.last_seen_at
            )
        })
        .collect();
    leads.sort();
    rig.finish(vec![worker]).await;
    CapturedCalls {
        records,
        aliases,
        follow_ups,
        touchpoints,
        leads,
    }
}

async fn a_batch_of_captured_calls_ends_as_one_message_at_a_time_would(backend: Backend) {
    let t0 = chrono::Utc::now();
    let company = "123e4567-e89b-12d3-a456-426614174000";
    let dealer = "+919000000001";
    let message = |offset_secs: i64, body: serde_json::Value| {
        let mut envelope = Envelope::new(Source::CallCapture, vec![]);
        envelope.received_at = t0 + chrono::Duration::seconds(offset_secs);
        let id = uuid::Uuid::now_v7().to_string();
        envelope.assigned_ids.insert("call_history_id".into(), id);
        let mut body = body;
        body["company_id"] = json!(company);
        (envelope, body.to_string())
    };
    let mut backlog = vec![
        // The dealer calls a customer; the dialer sends the call three
        // times: first, a newer repeat that moves the follow-up, and an
        // older one arriving last that may only fill gaps.
        message(
            0,
            json!({"caller_number": dealer, "recipient_number": "9811111111",
                "outcome": "follow_up", "external_system": "Dialer", "external_call_id": "X-1",
                "next_follow_up": "2025-11-20"}),
        ),
        message(
            30,
            json!({"caller_number": dealer, "recipient_number": "9811111111",
                "outcome": "converted", "external_system": "Dialer", "external_call_id": "X-1",
                "next_follow_up": "2025-11-25", "next_follow_up_time": "10:30:00"}),
        ),
        message(
            -20,
            json!({"caller_number": dealer, "recipient_number": "9811111111",
                "outcome": "not_answered", "notes": "asked for the brochure",
                "external_system": "Dialer", "external_call_id": "X-1"}),
        ),
        // Another system's call with the same id is another call.
        message(
            5,
            json!({"caller_number": "9822222222", "outcome": "completed",
                "external_system": "Other", "external_call_id": "X-1"}),
        ),
        // No external id: a record of its own, with a follow-up.
        message(
            6,
            json!({"caller_number": "9822222222", "recipient_number": dealer,
                "outcome": "completed", "next_follow_up": "2025-11-21"}),
        ),
        // Only the dealer's line is known: no lead, no timeline line.
        message(
            7,
            json!({"caller_number": dealer, "outcome": "not_answered"}),
        ),
    ];
    // The first delivered twice (same ingest id).
    backlog.push(backlog[0].clone());

    let one_at_a_time = drain_captured_calls(backend, "1", &backlog).await;
    let batched = drain_captured_calls(backend, "64", &backlog).await;
    assert_eq!(batched, one_at_a_time);

    // And what both hold is right.
    let id = |n: usize| backlog[n].0.assigned_ids["call_history_id"].clone();
    assert_eq!(batched.records.len(), 4, "{:#?}", batched.records);
    let x1 = batched
        .records
        .iter()
        .find(|r| r.starts_with(&id(0)))
        .expect("X-1 keeps the first id");
    assert!(
        x1.contains(r#"Some("converted")"#)
            && x1.contains("asked for the brochure")
            && x1.contains("2025-11-25")
            && x1.ends_with(" 3"),
        "the newest event wins, the late one fills gaps: {x1}"
    );
    let record_of = |alias: usize| uuid::Uuid::parse_str(&id(alias)).unwrap();
    assert_eq!(
        batched.aliases,
        {
            let mut aliases = vec![(record_of(1), record_of(0)), (record_of(2), record_of(0))];
            aliases.sort();
            aliases
        },
        "each repeat's id resolves to the record"
    );
    assert_eq!(batched.follow_ups.len(), 2, "{:#?}", batched.follow_ups);
    assert!(
        batched.follow_ups.iter().any(|f| f.starts_with(&id(0))
            && f.contains("2025-11-25")
            && f.contains("+919811111111")),
        "the follow-up moved with the newest event, for the customer: {:#?}",
        batched.follow_ups
    );
    assert_eq!(
        batched.leads.len(),
        2,
        "the customer and the inbound caller, never the dealer: {:#?}",
        batched.leads
    );
    assert!(batched.leads.iter().all(|l| !l.contains(dealer)));
    assert_eq!(batched.touchpoints.len(), 3, "{:#?}", batched.touchpoints);
}

/// What a drained backlog of CRM events left: records, people, timelines.
async fn crm_snapshot(db: &TestDb) -> Vec<String> {
    use store::entities::{crm_leads, crm_pre_leads, lead_touchpoints, leads};
    let conn = &db.conn;
    let mut rows: Vec<String> = Vec::new();
    for r in crm_leads::Entity::find().all(conn).await.unwrap() {
        rows.push(format!(
            "lead {} {} {} {:?} {:?} {:?}",
            r.id, r.status, r.initial_status, r.first_name, r.phone, r.email
        ));
    }
    for r in crm_pre_leads::Entity::find().all(conn).await.unwrap() {
        rows.push(format!(
            "pre-lead {} {} {:?} {:?}",
            r.id, r.status, r.first_name, r.phone
        ));
    }
    for l in leads::Entity::find().all(conn).await.unwrap() {
        rows.push(format!(
            "person {} {:?} {:?} {:?} {:?} {:?} {} {}",
            l.phone,
            l.name,
            l.email,
            l.is_lead,
            l.crm_status,
            l.crm_status_at,
            l.first_seen_at,
            l.last_seen_at
        ));
    }
    for t in lead_touchpoints::Entity::find().all(conn).await.unwrap() {
        rows.push(format!(
            "line {} {} {}",
            t.lead_id, t.occurred_at, t.summary
        ));
    }
    rows.sort();
    rows
}

async fn a_batch_of_crm_creations_ends_as_one_message_at_a_time_would(backend: Backend) {
    let t0 = chrono::Utc::now();
    let message = |offset_secs: i64, assigned: Option<(&str, &str)>, body: serde_json::Value| {
        let mut envelope = Envelope::new(Source::CrmEvents, vec![]);
        envelope.received_at = t0 + chrono::Duration::seconds(offset_secs);
        if let Some((field, id)) = assigned {
            envelope.assigned_ids.insert(field.into(), id.into());
        }
        (envelope, body.to_string())
    };
    let mut backlog = vec![
        // One person as a pre-lead and a lead, then the lead moves on
        // (a status change: the one-message path, in the same batch).
        message(
            0,
            Some(("pre_lead_id", "P-1")),
            json!({"event": "new_inquiry", "source": "website",
                "data": {"first_name": "Asha", "phone": "98111 22233"}}),
        ),
        message(
            1,
            Some(("lead_id", "L-1")),
            json!({"event": "new_lead", "source": "website",
                "data": {"first_name": "Asha", "last_name": "Rao", "phone": "+919811122233",
                    "email": "asha@example.com"}}),
        ),
        message(
            2,
            None,
            json!({"event": "lead_status_update",
                "data": {"lead_id": "L-1", "lead_status": "qualified"}}),
        ),
        // Another person, created with an older status date: the newest
        // CRM event decides their CRM status.
        message(
            3,
            Some(("lead_id", "L-2")),
            json!({"event": "new_lead", "source": "referral",
                "data": {"first_name": "Ravi", "phone": "9822233344", "lead_status": "contacted",
                    "status_date": "2024-01-10T09:00:00Z"}}),
        ),
        // The same id created twice: the first record stays.
        message(
            4,
            Some(("lead_id", "L-3")),
            json!({"event": "new_lead", "data": {"first_name": "First", "phone": "9833344455"}}),
        ),
        message(
            5,
            Some(("lead_id", "L-3")),
            json!({"event": "new_lead", "data": {"first_name": "Second", "phone": "9833344455"}}),
        ),
        // No phone: a record, and nobody to join.
        message(
            6,
            Some(("lead_id", "L-4")),
            json!({"event": "new_lead", "data": {"first_name": "Nobody"}}),
        ),
    ];
    backlog.push(backlog[1].clone()); // redelivered

    let processed = backlog.len() as i64 - 1;
    let (rig, worker) = drain(backend, "1", &backlog, processed).await;
    let one_at_a_time = crm_snapshot(&rig.db).await;
    rig.finish(vec![worker]).await;
    let (rig, worker) = drain(backend, "64", &backlog, processed).await;
    let batched = crm_snapshot(&rig.db).await;
    rig.finish(vec![worker]).await;
    assert_eq!(batched, one_at_a_time);

    // And what both hold is right.
    let has = |needle: &str| batched.iter().any(|row| row.contains(needle));
    assert!(
        has(r#"lead L-1 qualified new Some("Asha") Some("+919811122233")"#),
        "{batched:#?}"
    );
    assert!(has(r#"lead L-3 new new Some("First")"#), "{batched:#?}");
    assert!(
        !has("Second"),
        "the record first created stays: {batched:#?}"
    );
    assert!(
        has(
            r#"person +919811122233 Some("Asha") Some("asha@example.com") Some(true) Some("qualified")"#
        ),
        "the newest CRM event's status: {batched:#?}"
    );
    assert!(
        has(r#"person +919822233344 Some("Ravi") None Some(true) Some("contacted")"#),
        "{batched:#?}"
    );
    assert_eq!(
        batched.iter().filter(|r| r.starts_with("person")).count(),
        3,
        "three people with phones: {batched:#?}"
    );
    assert_eq!(
        batched.iter().filter(|r| r.starts_with("line")).count(),
        6,
        "a timeline line per event about a person: {batched:#?}"
    );
}

async fn a_message_redelivered_after_commit_changes_nothing(backend: Backend) {
    let rig = rig("redelivery", backend).await;
    // A worker that committed this message and died before acking it ...
    let first = Worker::start(&rig.env);
    let envelope = Envelope::new(Source::TataCalls, vec![]);
    rig.inspector
        .publish(&envelope, TATA_COMPLETE.as_bytes())
        .await
        .unwrap();
    rig.wait_processed(1).await;
    first.stop().await;
    let before = rig.call("TATA-CALL-12345").await;
    // ... so the broker delivers the very same message (same ingest id) again.
    rig.inspector
        .publish(&envelope, TATA_COMPLETE.as_bytes())
        .await
        .unwrap();
    let second = Worker::start(&rig.env);
    let queue = rig.inspector.topology.work_queue(Source::TataCalls);
    eventually("the redelivery is consumed and acked", WAIT, || {
        rig.queue_empty(&queue)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.processed().await, 1);
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM calls").await, 1);
    let after = rig.call("TATA-CALL-12345").await;
    assert_eq!(after.event_count, 1);
    assert_eq!(
        after.updated_at, before.updated_at,
        "the row was not touched"
    );
    let dead = rig.inspector.topology.dead_letter_queue(Source::TataCalls);
    assert!(rig.queue_empty(&dead).await);
    rig.finish(vec![second]).await;
}

async fn a_payload_that_can_never_be_accepted_is_dead_lettered_with_its_reason(backend: Backend) {
    let rig = rig("poison", backend).await;
    let worker = Worker::start(&rig.env);
    let envelope = Envelope::new(Source::TataCalls, vec![]);
    // Published behind the edge's back: the edge would have refused it.
    let poison =
        br#"{"call_id": "P-1", "caller_number": "+919876543210", "call_start_time": "yesterday"}"#;
    rig.inspector.publish(&envelope, poison).await.unwrap();
    let dead = rig.inspector.topology.dead_letter_queue(Source::TataCalls);
    eventually("dead-lettered", WAIT, || async {
        !rig.queue_empty(&dead).await
    })
    .await;
    let messages = rig.inspector.drain(&dead).await.unwrap();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.body, poison, "the body is kept as sent, for replay");
    assert_eq!(
        message.envelope.as_ref().unwrap().ingest_id,
        envelope.ingest_id
    );
    let reason = message
        .headers
        .iter()
        .find(|(k, _)| k == HEADER_REASON)
        .map(|(_, v)| v.clone());
    let reason = reason.expect("a reason header");
    assert!(
        reason.contains("call_start_time") && reason.contains("ISO 8601"),
        "{reason}"
    );
    assert_eq!(rig.processed().await, 0);
    rig.finish(vec![worker]).await;
}

async fn workers_starting_together_migrate_once(backend: Backend) {
    let rig = rig("migrate", backend).await;
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(&rig.env)).collect();
    let envelope = Envelope::new(Source::TataCalls, vec![]);
    rig.inspector
        .publish(&envelope, TATA_MINIMAL.as_bytes())
        .await
        .unwrap();
    rig.wait_processed(1).await;
    use migrations::MigratorTrait;
    let expected = migrations::Migrator::migrations().len() as i64;
    assert_eq!(
        rig.db.scalar("SELECT COUNT(*) FROM seaql_migrations").await,
        expected
    );
    // Every worker is still running (none failed its migration): stop() checks.
    rig.finish(workers).await;
}
