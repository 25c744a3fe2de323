//! Issue 24: a delivery received before its person's erasure, and
//! processed after it (it waited in a queue, a retry queue or an edge's
//! spool), does not bring the person back; it is logged as a duplicate
//! without its body. Others in the same batch are written; a message
//! received after the erasure is a new contact.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use std::time::Duration;
use store::entities::{erasures, leads};
use testkit::{Backend, Edge, TestDb, Worker, eventually, test_env, unique_prefix};

const WAIT: Duration = Duration::from_secs(60);

testkit::on_both_backends!(
    a_delivery_received_before_an_erasure_does_not_bring_the_person_back,
    a_receipt_about_an_erased_person_keeps_no_number,
);

fn receipt(to: &str, wamid: &str, status: &str) -> String {
    json!({"statuses": [{"id": wamid, "status": status, "timestamp": chrono::Utc::now().timestamp().to_string(), "recipient_id": to}], "businessPhoneNumber": "+919355421616"})
        .to_string()
}

/// Records `lead`'s erasure as the worker's erasure does (her lead goes,
/// with what names her; the erasure is kept by her lead id).
async fn erase(db: &TestDb, lead: uuid::Uuid, phone: &str) {
    leads::Entity::delete_many()
        .filter(leads::Column::Id.eq(lead))
        .exec(&db.conn)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    erasures::Entity::insert(erasures::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        subject: Set(store::access_log::number_subject(phone)),
        requested_by: Set("omar".into()),
        requested_at: Set(now),
        erased_at: Set(now),
        counts: Set(json!({"leads": 1})),
        dead_letters_purged: Set(Some(0)),
        lead_id: Set(Some(lead)),
    })
    .exec(&db.conn)
    .await
    .unwrap();
}

fn message(from: &str, wamid: &str, text: &str) -> String {
    json!({"messages": [{"from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": text}}]})
        .to_string()
}

/// She writes a first time; her lead's id, once written.
async fn first_lead(edge: &Edge, db: &TestDb, body: String) -> uuid::Uuid {
    assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201);
    eventually("her lead", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads").await == 1
    })
    .await;
    db.uuid("SELECT id FROM leads").await
}

async fn a_delivery_received_before_an_erasure_does_not_bring_the_person_back(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("erased-later");
    let env = test_env(&prefix, Some(&db.url), &[]);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    let post = |body: String| {
        let edge = &edge;
        async move { assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201) }
    };
    let lead = first_lead(&edge, &db, message("919812377777", "wamid.E-1", "First")).await;
    worker.stop().await;

    // Received while no worker runs: queued, like a delivery in a retry
    // queue or an edge's spool.
    post(message(
        "919812377777",
        "wamid.E-2",
        "Second, received before the erasure",
    ))
    .await;
    post(message("919812388888", "wamid.O-1", "Someone else")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Then she is erased.
    erase(&db, lead, "+919812377777").await;

    let worker = Worker::start(&env);
    eventually("both queued deliveries settled", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log").await == 3
            && db.count("SELECT COUNT(*) FROM leads").await == 1
    })
    .await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads WHERE phone = '+919812388888'")
            .await,
        1,
        "the other person in the batch is written"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads WHERE phone = '+919812377777'")
            .await,
        0,
        "she is not brought back"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM whatsapp_messages WHERE wamid = 'wamid.E-2'")
            .await,
        0
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status = 'duplicate' AND body = '' AND reason LIKE '%erased after it was received%'")
            .await,
        1,
        "logged as a duplicate, without the body that names her"
    );

    // Writing again after the erasure: a new contact.
    post(message("919812377777", "wamid.E-3", "Hello again")).await;
    eventually("her new lead", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE phone = '+919812377777'")
            .await
            == 1
    })
    .await;
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

/// A delivery receipt names its recipient: one about an erased person
/// that waited across the erasure is refused like their messages, and one
/// received after it, while they have not come back, is kept without
/// their number (the reply it is about went with them).
async fn a_receipt_about_an_erased_person_keeps_no_number(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("erased-receipt");
    let env = test_env(&prefix, Some(&db.url), &[]);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    let post = |body: String| {
        let edge = &edge;
        async move { assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201) }
    };
    let lead = first_lead(
        &edge,
        &db,
        message("919812366666", "wamid.F-1", "Price of the Hector?"),
    )
    .await;
    worker.stop().await;

    // Queued while no worker runs, then she is erased.
    post(receipt("919812366666", "wamid.R-1", "delivered")).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    erase(&db, lead, "+919812366666").await;
    let worker = Worker::start(&env);
    eventually("the queued receipt settled", WAIT, || async {
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
            .await
            == 2
    })
    .await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM whatsapp_messages WHERE wamid = 'wamid.R-1'")
            .await,
        0,
        "a receipt from before the erasure is not written"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM webhook_log WHERE status = 'duplicate' AND body = ''")
            .await,
        1,
        "it is logged as a duplicate, without the body that names her"
    );

    // Received after the erasure: kept, without her number.
    post(receipt("919812366666", "wamid.R-2", "read")).await;
    eventually("the later receipt written", WAIT, || async {
        db.count("SELECT COUNT(*) FROM whatsapp_messages WHERE wamid = 'wamid.R-2'")
            .await
            == 1
    })
    .await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM whatsapp_messages WHERE recipient IS NOT NULL")
            .await,
        0,
        "no row names her"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM leads").await, 0);

    // She writes again: a new contact, whose receipts name her again.
    post(message("919812366666", "wamid.F-2", "Hello again")).await;
    eventually("her new lead", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads").await == 1
    })
    .await;
    post(receipt("919812366666", "wamid.R-3", "delivered")).await;
    eventually("the new contact's receipt names her", WAIT, || async {
        db.count(
            "SELECT COUNT(*) FROM whatsapp_messages WHERE wamid = 'wamid.R-3' AND recipient LIKE '%9812366666'",
        )
        .await
            == 1
    })
    .await;
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}
