//! Every implemented source through the real worker into PostgreSQL and
//! SQLite: contract examples persisted with the right values, duplicates
//! recognised, out-of-order events resolved, one lead per person.

use chrono::{Duration as Span, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use shared::broker::QueueInspector;
use shared::config::{BrokerConfig, Env};
use shared::{Envelope, Source};
use std::time::Duration;
use store::entities::{
    call_record_aliases, call_records, digital_leads, lead_touchpoints, leads, whatsapp_messages,
};
use testkit::examples::{CALL_CAPTURE, CARDEKHO, CARWALE, TATA_WHATSAPP};
use testkit::{Backend, TestDb, Worker, eventually, test_env, unique_prefix};

const WAIT: Duration = Duration::from_secs(30);

testkit::on_both_backends!(
    one_number_across_partners_is_one_lead_with_a_timeline,
    whatsapp_messages_are_stored_once_and_statuses_never_move_backwards,
    digital_leads_within_the_window_are_duplicates,
    call_capture_records_keep_their_id_and_merge_repeats,
    captured_calls_link_the_customer_never_the_dealers_line,
);

struct Rig {
    db: TestDb,
    inspector: QueueInspector,
    worker: Worker,
}

async fn rig(test: &str, backend: Backend) -> Rig {
    rig_with(test, backend, &[]).await
}

async fn rig_with(test: &str, backend: Backend, extra: &[(&str, &str)]) -> Rig {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env: Env = test_env(&unique_prefix(test), Some(&db.url), extra);
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let worker = Worker::start(&env);
    Rig {
        db,
        inspector,
        worker,
    }
}

impl Rig {
    /// Publishes like the edge would (with `at` as the receive time), and
    /// waits until the worker has settled it.
    async fn send(
        &self,
        source: Source,
        body: &str,
        at: chrono::DateTime<Utc>,
        assigned: &[(&str, String)],
    ) -> Envelope {
        let mut envelope = Envelope::new(source, vec![]);
        envelope.received_at = at;
        for (k, v) in assigned {
            envelope.assigned_ids.insert((*k).into(), v.clone());
        }
        let before = self
            .db
            .count("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
            .await;
        self.inspector
            .publish(&envelope, body.as_bytes())
            .await
            .unwrap();
        eventually("processed", WAIT, || async {
            self.db
                .count(
                    "SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')",
                )
                .await
                > before
        })
        .await;
        envelope
    }

    async fn finish(self) {
        self.worker.stop().await;
        testkit::cleanup(self.inspector).await;
        self.db.drop().await;
    }
}

async fn one_number_across_partners_is_one_lead_with_a_timeline(backend: Backend) {
    let rig = rig("unified", backend).await;
    let now = Utc::now();
    // A CarDekho enquiry (bare 10-digit number), a missed call (+91…), then
    // a WhatsApp chat (91… without +): one person.
    rig.send(Source::Cardekho, CARDEKHO, now, &[]).await;
    let missed = r#"{"call_id": "MISSED-1", "caller_number": "+919876543210", "call_start_time": "2025-11-07T16:30:00Z",
        "call_status": "no-answer", "customer_name": "R. Kumar", "customer_email": "ravi@example.com", "lead_quality": "warm", "is_lead": true}"#;
    rig.send(Source::TataCalls, missed, now, &[]).await;
    let chat = TATA_WHATSAPP[0].1.replace("919999999999", "919876543210");
    rig.send(Source::TataWhatsapp, &chat, now, &[]).await;

    let all = leads::Entity::find().all(&rig.db.conn).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let lead = &all[0];
    assert_eq!(lead.phone, "+919876543210");
    assert_eq!(lead.id, worker::lead_id("+919876543210"));
    assert_eq!(
        lead.name.as_deref(),
        Some("Ravi Kumar"),
        "the first name known is kept"
    );
    assert_eq!(
        lead.email.as_deref(),
        Some("ravi@example.com"),
        "unknown fields fill in"
    );
    assert_eq!(lead.lead_quality.as_deref(), Some("warm"));
    assert_eq!(lead.is_lead, Some(true));
    assert_eq!(lead.first_source, "cardekho");
    // The call (Nov 2025) and the chat (Apr 2025) came later but happened
    // earlier: the last sighting stays the enquiry's.
    assert!(
        (lead.last_seen_at - now).num_seconds().abs() <= 1,
        "last_seen_at moved backwards to {}",
        lead.last_seen_at
    );

    let timeline = lead_touchpoints::Entity::find()
        .filter(lead_touchpoints::Column::LeadId.eq(lead.id))
        .order_by_asc(lead_touchpoints::Column::Source)
        .all(&rig.db.conn)
        .await
        .unwrap();
    let sources: Vec<&str> = timeline.iter().map(|t| t.source.as_str()).collect();
    assert_eq!(sources, ["cardekho", "tata_calls", "tata_whatsapp"]);
    assert!(
        timeline[0].summary.contains("Tata Nexon EV"),
        "{}",
        timeline[0].summary
    );
    assert!(
        timeline[1].summary.contains("no-answer"),
        "{}",
        timeline[1].summary
    );
    assert_eq!(timeline[2].summary, "WhatsApp: hi");
    rig.finish().await;
}

async fn whatsapp_messages_are_stored_once_and_statuses_never_move_backwards(backend: Backend) {
    let rig = rig("whatsapp", backend).await;
    let now = Utc::now();
    rig.send(Source::TataWhatsapp, TATA_WHATSAPP[0].1, now, &[])
        .await;
    rig.send(Source::TataWhatsapp, TATA_WHATSAPP[0].1, now, &[])
        .await; // the partner retries
    let wamid = "wamid.HBgMOTE5MTA2MDg5MzQzFQIAEhggRTQzMEI1QjA5QkU0RkIwREI1MzQyQThENUQ4NkQ4RTMA";
    let message = whatsapp_messages::Entity::find_by_id(wamid)
        .one(&rig.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.from_number.as_deref(), Some("+919999999999"));
    assert_eq!(message.profile_name.as_deref(), Some("User Name"));
    assert_eq!(message.kind.as_deref(), Some("text"));
    assert_eq!(message.text.as_deref(), Some("hi"));
    assert_eq!(message.business_number.as_deref(), Some("+919355421616"));
    assert_eq!(
        message.sent_at.unwrap().to_rfc3339(),
        "2025-04-08T10:46:45+00:00"
    );
    assert_eq!(message.lead_id, Some(worker::lead_id("+919999999999")));
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM whatsapp_messages")
            .await,
        1
    );
    assert_eq!(
        rig.db.scalar("SELECT COUNT(*) FROM lead_touchpoints").await,
        1,
        "one note per message"
    );

    // Statuses for an outbound message, out of order: read, then sent, then delivered.
    let status = |s: &str, ts: u64| {
        json!({"statuses": [{"id": "wamid.OUT", "status": s, "timestamp": ts.to_string(), "recipient_id": "919999999999"}],
               "businessPhoneNumber": "+919355421616"})
        .to_string()
    };
    rig.send(Source::TataWhatsapp, &status("read", 1729161300), now, &[])
        .await;
    rig.send(Source::TataWhatsapp, &status("sent", 1729161280), now, &[])
        .await;
    rig.send(
        Source::TataWhatsapp,
        &status("delivered", 1729161290),
        now,
        &[],
    )
    .await;
    let out = whatsapp_messages::Entity::find_by_id("wamid.OUT")
        .one(&rig.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.as_deref(), Some("read"));
    assert_eq!(out.status_at.unwrap().timestamp(), 1729161300);

    // A status that overtakes its inbound message, then the message.
    rig.send(
        Source::TataWhatsapp,
        &status("read", 1729161400).replace("wamid.OUT", "wamid.EARLY"),
        now,
        &[],
    )
    .await;
    let early = TATA_WHATSAPP[0].1.replace(wamid, "wamid.EARLY");
    rig.send(Source::TataWhatsapp, &early, now, &[]).await;
    let early = whatsapp_messages::Entity::find_by_id("wamid.EARLY")
        .one(&rig.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (early.status.as_deref(), early.text.as_deref()),
        (Some("read"), Some("hi"))
    );
    rig.finish().await;
}

async fn digital_leads_within_the_window_are_duplicates(backend: Backend) {
    let rig = rig("digital", backend).await;
    let now = Utc::now();
    rig.send(Source::Carwale, CARWALE, now, &[]).await;
    rig.send(Source::Carwale, CARWALE, now + Span::seconds(30), &[])
        .await; // same minute: duplicate
    rig.send(Source::Carwale, CARWALE, now - Span::seconds(20), &[])
        .await; // arrives late, still within
    rig.send(Source::Carwale, CARWALE, now + Span::seconds(90), &[])
        .await; // outside the window
    let same_phone_other_platform = r#"{"name": "Sunita Rao", "phone_number": "9123456780"}"#;
    rig.send(Source::Cardekho, same_phone_other_platform, now, &[])
        .await;

    let rows = digital_leads::Entity::find()
        .order_by_asc(digital_leads::Column::ReceivedMicros)
        .all(&rig.db.conn)
        .await
        .unwrap();
    let platforms: Vec<&str> = rows.iter().map(|r| r.platform.as_str()).collect();
    assert_eq!(platforms, ["CarWale", "CarDekho", "CarWale"], "{rows:?}");
    let first = rows.iter().find(|r| r.platform == "CarWale").unwrap();
    assert_eq!(first.name, "Sunita Rao");
    assert_eq!(first.phone, "+919123456780");
    assert_eq!(first.car_model.as_deref(), Some("Hyundai Creta"));
    assert_eq!(
        first.lead_url.as_deref(),
        Some("https://carwale.com/lead/456")
    );
    assert_eq!(first.campaign.as_deref(), Some("Creta Test Drive"));
    assert_eq!(first.payload["page_url"], "https://carwale.com/lead/456");
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
            .await,
        5,
        "every delivery is recorded"
    );
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM leads").await, 1);
    rig.finish().await;
}

async fn call_capture_records_keep_their_id_and_merge_repeats(backend: Backend) {
    const TOKEN: &str = "call-capture-admin-token-01";
    let rig = rig_with("call-capture", backend, &[("ADMIN_TOKEN", TOKEN)]).await;
    let now = Utc::now();
    let first_id = uuid::Uuid::now_v7();
    rig.send(
        Source::CallCapture,
        CALL_CAPTURE[2].1,
        now,
        &[("call_history_id", first_id.to_string())],
    )
    .await;
    let record = call_records::Entity::find_by_id(first_id)
        .one(&rig.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.outcome.as_deref(), Some("follow_up"));
    assert_eq!(record.duration_seconds, Some(320));
    assert_eq!(record.next_follow_up.unwrap().to_string(), "2025-11-27");
    assert_eq!(record.next_follow_up_time.unwrap().to_string(), "14:00:00");
    assert_eq!(record.auto_call_followup, Some(true));
    assert_eq!(
        record.call_details.as_ref().unwrap()["tags"],
        json!(["premium", "follow-up-needed"])
    );
    assert_eq!(record.call_date.to_rfc3339(), "2025-11-25T10:30:00+00:00");
    assert_eq!(record.lead_id, Some(worker::lead_id("+919876543210")));

    // The dialer sends the same external call again, later, with a new outcome.
    let repeat = CALL_CAPTURE[2]
        .1
        .replace(r#""outcome":"follow_up""#, r#""outcome":"converted""#);
    let repeat_id = uuid::Uuid::now_v7();
    rig.send(
        Source::CallCapture,
        &repeat,
        now + Span::seconds(5),
        &[("call_history_id", repeat_id.to_string())],
    )
    .await;
    let all = call_records::Entity::find()
        .all(&rig.db.conn)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "one record per external call");
    assert_eq!(
        all[0].id, first_id,
        "the record keeps the id first returned"
    );
    assert_eq!(all[0].outcome.as_deref(), Some("converted"));
    assert_eq!(all[0].event_count, 2);
    // The id returned for the repeat resolves to that record, in the
    // database and through the webhook log.
    for id in [first_id, repeat_id] {
        let resolved = call_record_aliases::resolve(&rig.db.conn, id)
            .await
            .unwrap()
            .map(|record| record.id);
        assert_eq!(resolved, Some(first_id), "{id}");
    }
    assert_eq!(
        call_record_aliases::resolve(&rig.db.conn, uuid::Uuid::now_v7())
            .await
            .unwrap(),
        None
    );
    let logged = rig
        .worker
        .admin_get(&format!("/logs?call_history_id={repeat_id}"), Some(TOKEN))
        .await
        .json();
    assert_eq!(logged["data"]["total"], 2, "both deliveries: {logged}");
    assert!(
        logged["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["source"] == "call_capture")
    );
    let unknown = rig
        .worker
        .admin_get(
            &format!("/logs?call_history_id={}", uuid::Uuid::now_v7()),
            Some(TOKEN),
        )
        .await
        .json();
    assert_eq!(unknown["data"]["total"], 0);

    // Without external ids every call is its own record; no caller, no lead.
    let anonymous = r#"{"company_id": "123e4567-e89b-12d3-a456-426614174000", "caller_number": "101", "outcome": "completed"}"#;
    let id = uuid::Uuid::now_v7();
    rig.send(
        Source::CallCapture,
        anonymous,
        now,
        &[("call_history_id", id.to_string())],
    )
    .await;
    let anonymous = call_records::Entity::find_by_id(id)
        .one(&rig.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(anonymous.lead_id, None);
    assert_eq!(
        anonymous.caller_number.as_deref(),
        Some("101"),
        "kept as sent"
    );
    rig.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_workers_racing_calls_and_statuses_agree() {
    three_workers_racing_calls_and_statuses_agree(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_three_workers_racing_calls_and_statuses_agree() {
    three_workers_racing_calls_and_statuses_agree(Backend::Sqlite).await
}

/// Three competing workers, every event sent twice (same message) and in
/// reverse order: one row per call holding its newest status, WhatsApp
/// statuses at their furthest point, one lead per number.
async fn three_workers_racing_calls_and_statuses_agree(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env: Env = test_env(
        &unique_prefix("race"),
        Some(&db.url),
        &[("WORKER_PREFETCH", "4"), ("WORKER_BATCH_SIZE", "3")],
    );
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(&env)).collect();
    let base = Utc::now();
    let call_statuses = ["ringing", "answered", "completed"];
    let mut messages: Vec<(Source, String, chrono::DateTime<Utc>)> = Vec::new();
    for call in 0..5 {
        for (i, status) in call_statuses.iter().enumerate() {
            let body = json!({"call_id": format!("RACE-CALL-{call}"), "caller_number": format!("+9198765432{call:02}"),
                "call_start_time": "2025-11-07T16:30:00Z", "call_status": status});
            messages.push((
                Source::TataCalls,
                body.to_string(),
                base + Span::seconds(i as i64),
            ));
        }
    }
    for wamid in 0..3 {
        for (i, status) in ["sent", "delivered", "read"].iter().enumerate() {
            let body = json!({"statuses": [{"id": format!("wamid.RACE{wamid}"), "status": status,
                "timestamp": (1729161280 + i).to_string(), "recipient_id": "919999999999"}]});
            messages.push((
                Source::TataWhatsapp,
                body.to_string(),
                base + Span::seconds(i as i64),
            ));
        }
    }
    messages.reverse();
    for (source, body, at) in &messages {
        let mut envelope = Envelope::new(*source, vec![]);
        envelope.received_at = *at;
        inspector.publish(&envelope, body.as_bytes()).await.unwrap();
        inspector.publish(&envelope, body.as_bytes()).await.unwrap();
    }
    eventually("every message settled", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log").await == messages.len() as i64
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM webhook_log").await,
        messages.len() as i64,
        "each message once"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM calls").await, 5);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM calls WHERE call_status = 'completed' AND event_count = 3")
            .await,
        5
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM leads").await, 5);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM whatsapp_messages WHERE status = 'read'")
            .await,
        3
    );
    for worker in workers {
        worker.stop().await;
    }
    testkit::cleanup(inspector).await;
    db.drop().await;
}

/// Outbound captured calls are made from the dealer's line: the customer is
/// the recipient. Inbound, the caller. Neither the dealer's lines nor the
/// WhatsApp business number ever become a lead.
async fn captured_calls_link_the_customer_never_the_dealers_line(backend: Backend) {
    let rig = rig_with(
        "dealer-numbers",
        backend,
        &[("DEALER_NUMBERS", "+919000000001,+919355421616")],
    )
    .await;
    let now = Utc::now();
    let call = |caller: &str, recipient: &str, id: &str| {
        format!(
            r#"{{"company_id": "123e4567-e89b-12d3-a456-426614174000", "caller_number": "{caller}", "recipient_number": "{recipient}", "outcome": "completed", "external_call_id": "{id}", "external_system": "Dialer"}}"#
        )
    };
    for (n, (caller, recipient)) in [
        ("+919000000001", "+919811111111"),
        ("+919000000001", "+919833333333"),
        ("+919822222222", "+919000000001"),
        ("+919844444444", "+919855555555"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("DEALER-{n}");
        rig.send(
            Source::CallCapture,
            &call(caller, recipient, &id),
            now,
            &[("call_history_id", uuid::Uuid::now_v7().to_string())],
        )
        .await;
    }
    let from_business = TATA_WHATSAPP[0].1.replace("919999999999", "919355421616");
    rig.send(Source::TataWhatsapp, &from_business, now, &[])
        .await;

    let mut phones: Vec<String> = leads::Entity::find()
        .all(&rig.db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.phone)
        .collect();
    phones.sort();
    assert_eq!(
        phones,
        ["+919811111111", "+919822222222", "+919833333333"],
        "outbound: the recipient; inbound: the caller; two strangers: nobody"
    );
    let unlinked = call_records::Entity::find()
        .filter(call_records::Column::LeadId.is_null())
        .all(&rig.db.conn)
        .await
        .unwrap();
    assert_eq!(unlinked.len(), 1);
    let message = whatsapp_messages::Entity::find()
        .one(&rig.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.lead_id, None, "the business number is no lead");
    rig.finish().await;
}

/// First sightings of one person racing in concurrent transactions (one
/// message per batch, four batches in flight) all land on the one lead:
/// none fails on the lead's key and is retried or dead-lettered for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_sightings_of_one_person_never_collide() {
    let rig = rig_with(
        "lead-race",
        Backend::Postgres,
        &[
            ("WORKER_BATCH_SIZE", "1"),
            ("WORKER_BATCHES_IN_FLIGHT", "4"),
            ("RETRY_MAX_ATTEMPTS", "0"),
        ],
    )
    .await;
    const PEOPLE: usize = 30;
    const CALLS_EACH: usize = 8;
    // Each person's calls together: the batches in flight race on one new lead.
    for person in 0..PEOPLE {
        for call in 0..CALLS_EACH {
            let body = format!(
                r#"{{"call_id": "RACE-{person}-{call}", "caller_number": "+91987650{person:04}", "call_start_time": "2025-11-07T16:30:00Z"}}"#
            );
            let mut envelope = Envelope::new(Source::TataCalls, vec![]);
            envelope.received_at = Utc::now();
            rig.inspector
                .publish(&envelope, body.as_bytes())
                .await
                .unwrap();
        }
    }
    let all = (PEOPLE * CALLS_EACH) as i64;
    eventually("every call settled", WAIT, || async {
        rig.db.count("SELECT COUNT(*) FROM webhook_log").await == all
    })
    .await;
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM webhook_log WHERE status = 'processed'")
            .await,
        all,
        "no call retried or dead-lettered for a collision"
    );
    assert_eq!(
        rig.db.scalar("SELECT COUNT(*) FROM leads").await,
        PEOPLE as i64
    );
    rig.finish().await;
}
