//! CRM events through the real edge, broker and worker, on PostgreSQL and
//! SQLite: the lifecycle, events that overtake their record's creation,
//! invalid ones dead-lettered with a reason, and three competing workers
//! racing duplicates and out-of-order changes.

use sea_orm::EntityTrait;
use serde_json::{Value, json};
use shared::broker::{HEADER_REASON, QueueInspector};
use shared::config::{BrokerConfig, Env};
use shared::{Envelope, Source};
use std::time::Duration;
use store::entities::{crm_contacts, crm_customers, crm_leads, crm_pre_leads};
use testkit::{Backend, Edge, TestDb, Worker, eventually, test_env, unique_prefix};

const WAIT: Duration = Duration::from_secs(40);
const CRM: &str = "/api/v1/webhooks";

testkit::on_both_backends!(
    every_crm_contract_example_is_persisted,
    the_pre_lead_to_customer_lifecycle_is_persisted,
    an_event_that_overtakes_its_create_waits_for_it,
    an_older_update_applied_late_only_fills_missing_fields,
    events_for_records_that_never_come_or_cannot_apply_are_dead_lettered_with_a_reason,
    three_workers_racing_duplicates_and_out_of_order_changes_agree,
    records_stored_before_the_typed_columns_are_filled_by_their_migration,
    an_event_for_a_record_whose_stored_data_is_unreadable_overwrites_nothing,
);

struct Rig {
    db: TestDb,
    env: Env,
    edge: Edge,
    inspector: QueueInspector,
}

async fn rig(test: &str, backend: Backend, extra: &[(&str, &str)]) -> Rig {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let env = test_env(&unique_prefix(test), Some(&db.url), extra);
    let edge = Edge::start(&env).await;
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    Rig {
        db,
        env,
        edge,
        inspector,
    }
}

impl Rig {
    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .edge
            .post_json(&format!("{CRM}{path}"), &body.to_string())
            .await;
        assert_eq!(response.status, 201, "{path}: {:?}", response.json());
        response.json()["data"].clone()
    }

    async fn processed(&self, n: i64) {
        eventually(&format!("{n} messages processed"), WAIT, || async {
            self.db
                .count(
                    "SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')",
                )
                .await
                >= n
        })
        .await;
    }

    /// A JSON column read as text (SQLite and PostgreSQL alike), parsed.
    async fn json(&self, sql: &str) -> Value {
        serde_json::from_str(&self.text(sql).await).unwrap()
    }

    async fn text(&self, sql: &str) -> String {
        let row = self
            .db
            .conn
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.conn.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no row: {sql}"));
        row.try_get_by_index::<String>(0).unwrap()
    }

    async fn history(&self, id: &str) -> Vec<(String, String)> {
        let rows = self
            .db
            .conn
            .query_all_raw(sea_orm::Statement::from_string(
                self.db.conn.get_database_backend(),
                format!("SELECT old_status, new_status FROM crm_status_history WHERE subject_id = '{id}' ORDER BY event_at"),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                )
            })
            .collect()
    }

    async fn finish(self, workers: Vec<Worker>) {
        for worker in workers {
            worker.stop().await;
        }
        self.edge.stop().await;
        testkit::cleanup(self.inspector).await;
        self.db.drop().await;
    }
}

use sea_orm::ConnectionTrait;

async fn the_pre_lead_to_customer_lifecycle_is_persisted(backend: Backend) {
    let rig = rig("crm-lifecycle", backend, &[]).await;
    let worker = Worker::start(&rig.env);
    let pre = rig.post("/incoming/pre-lead/create", json!({"event": "new_inquiry", "source": "website",
        "data": {"first_name": "John", "email": "john@example.com", "phone": "098765 43210", "lead_status": "new", "city": "Pune", "assigned_to": 3}})).await;
    let pre_id = pre["pre_lead_id"].as_str().unwrap().to_owned();
    rig.processed(1).await;
    let p = format!("/incoming/pre-lead/{pre_id}");
    rig.post(
        &format!("{p}/update"),
        json!({"event": "pre_lead_update", "data": {"city": "Mumbai", "notes": "call back"}}),
    )
    .await;
    rig.post(&format!("{p}/contact/add"), json!({"event": "pre_lead_contact_add", "data": {"first_name": "Jane", "phone": "+91 91234 56780", "is_primary": true}})).await;
    rig.post(&format!("{p}/memo/add"), json!({"event": "pre_lead_memo_add", "data": {"title": "Call", "content": "Keen", "memo_type": "call"}})).await;
    rig.post(&format!("{p}/status/update"), json!({"event": "pre_lead_status_update", "data": {"lead_status": "contacted", "status_date": "2024-01-10T09:00:00Z"}})).await;
    rig.post(&format!("{p}/status/update"), json!({"event": "pre_lead_status_update", "data": {"lead_status": "qualified", "remarks": "fits", "status_date": "2024-01-11T09:00:00Z"}})).await;
    rig.processed(6).await;
    let converted = rig.post(&format!("{p}/convert"), json!({"event": "pre_lead_convert", "data": {"priority": "high", "expected_value": 50000}})).await;
    let lead_id = converted["lead_id"].as_str().unwrap().to_owned();
    rig.processed(7).await;
    let l = format!("/incoming/lead/{lead_id}");
    rig.post(&format!("{l}/activity/add"), json!({"event": "lead_activity_add", "data": {"activity_type": "meeting", "title": "Demo"}})).await;
    rig.post(&format!("{l}/qualified-profile/update"), json!({"event": "lead_qualified_profile_update", "data": {"budget": 150000, "industry": "Retail"}})).await;
    rig.post(
        &format!("{l}/qualified-profile/update"),
        json!({"event": "lead_qualified_profile_update", "data": {"budget": 175000}}),
    )
    .await;
    rig.post(&format!("{l}/status/update"), json!({"event": "lead_status_update", "data": {"lead_status": "won", "status_date": "2024-01-20T09:00:00Z"}})).await;
    rig.processed(11).await;
    let customer = rig.post(&format!("{l}/convert"), json!({"event": "lead_convert", "data": {"customer_code": "CUST-1", "credit_limit": "100000.00", "payment_terms": "Net 30"}})).await;
    let customer_id = customer["customer_id"].as_str().unwrap().to_owned();
    rig.processed(12).await;
    rig.post(
        "/incoming",
        json!({"event": "order_created", "data": {"customer_code": "CUST-1", "amount": 25000}}),
    )
    .await;
    rig.post("/incoming", json!({"event": "order_created", "data": {"customer_id": customer_id, "order_value": 5000}})).await;
    rig.post(
        "/incoming",
        json!({"event": "payment_received", "data": {"customer_code": "CUST-1", "amount": 10000}}),
    )
    .await;
    // A null or blank customer_id is no id: the code finds the customer.
    for id in [json!(null), json!("")] {
        rig.post("/incoming", json!({"event": "order_created", "data": {"customer_id": id, "customer_code": "CUST-1", "amount": 1000}})).await;
    }
    rig.processed(17).await;

    assert_eq!(
        rig.text(&format!(
            "SELECT status FROM crm_pre_leads WHERE id = '{pre_id}'"
        ))
        .await,
        "qualified"
    );
    assert_eq!(
        rig.text(&format!(
            "SELECT converted_lead_id FROM crm_pre_leads WHERE id = '{pre_id}'"
        ))
        .await,
        lead_id
    );
    let data: Value = rig
        .json(&format!(
            "SELECT CAST(data AS TEXT) FROM crm_pre_leads WHERE id = '{pre_id}'"
        ))
        .await;
    assert_eq!(
        (data["city"].as_str(), data["email"].as_str()),
        (Some("Mumbai"), Some("john@example.com")),
        "only fields sent change"
    );
    // The contract's fields are typed columns too, kept in step with `data`.
    let pre_lead = crm_pre_leads::Entity::find_by_id(pre_id.as_str())
        .one(&rig.db.conn)
        .await
        .unwrap()
        .expect("the pre-lead");
    assert_eq!(
        (
            pre_lead.first_name.as_deref(),
            pre_lead.phone.as_deref(),
            pre_lead.city.as_deref(),
            pre_lead.assigned_to.as_deref(),
            pre_lead.converted_lead_id.as_deref(),
        ),
        (
            Some("John"),
            Some("+919876543210"),
            Some("Mumbai"),
            Some("3"),
            Some(lead_id.as_str())
        )
    );
    let lead = crm_leads::Entity::find_by_id(lead_id.as_str())
        .one(&rig.db.conn)
        .await
        .unwrap()
        .expect("the lead");
    assert_eq!(
        (
            lead.first_name.as_deref(),
            lead.phone.as_deref(),
            lead.expected_value,
            lead.priority.as_deref(),
            lead.pre_lead_id.as_deref(),
        ),
        (
            Some("John"),
            Some("+919876543210"),
            Some(50000.0),
            Some("high"),
            Some(pre_id.as_str())
        ),
        "a converted lead carries its pre-lead's fields and the conversion's"
    );
    let contact = crm_contacts::Entity::find()
        .one(&rig.db.conn)
        .await
        .unwrap()
        .expect("the contact");
    assert_eq!(
        (
            contact.first_name.as_deref(),
            contact.phone.as_deref(),
            contact.is_primary
        ),
        (Some("Jane"), Some("+919123456780"), Some(true))
    );
    let customer = crm_customers::Entity::find_by_id(customer_id.as_str())
        .one(&rig.db.conn)
        .await
        .unwrap()
        .expect("the customer");
    assert_eq!(
        (
            customer.customer_code.as_deref(),
            customer.credit_limit,
            customer.payment_terms.as_deref(),
            customer.orders_count,
        ),
        (Some("CUST-1"), Some(100000.0), Some("Net 30"), 4)
    );
    assert_eq!(
        rig.history(&pre_id).await,
        [
            ("new".into(), "contacted".into()),
            ("contacted".into(), "qualified".into())
        ]
    );
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM crm_contacts").await, 1);
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM crm_memos").await, 1);
    assert_eq!(
        rig.text(&format!(
            "SELECT pre_lead_id FROM crm_leads WHERE id = '{lead_id}'"
        ))
        .await,
        pre_id
    );
    assert_eq!(
        rig.text(&format!(
            "SELECT status FROM crm_leads WHERE id = '{lead_id}'"
        ))
        .await,
        "won"
    );
    assert_eq!(
        rig.text(&format!(
            "SELECT customer_id FROM crm_leads WHERE id = '{lead_id}'"
        ))
        .await,
        customer_id
    );
    assert_eq!(
        rig.db.scalar("SELECT COUNT(*) FROM crm_activities").await,
        1
    );
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM crm_qualified_profiles")
            .await,
        1,
        "created, then updated"
    );
    let profile: Value = rig
        .json("SELECT CAST(data AS TEXT) FROM crm_qualified_profiles")
        .await;
    assert_eq!(
        (profile["budget"].as_i64(), profile["industry"].as_str()),
        (Some(175000), Some("Retail"))
    );
    assert_eq!(
        rig.db
            .scalar("SELECT CAST(orders_count AS BIGINT) FROM crm_customers")
            .await,
        4
    );
    assert_eq!(
        rig.db
            .scalar("SELECT CAST(orders_total AS BIGINT) FROM crm_customers")
            .await,
        32000
    );
    assert_eq!(
        rig.db
            .scalar("SELECT CAST(payments_count AS BIGINT) FROM crm_customers")
            .await,
        1
    );
    assert_eq!(
        rig.db
            .scalar("SELECT CAST(payments_total AS BIGINT) FROM crm_customers")
            .await,
        10000
    );
    rig.finish(vec![worker]).await;
}

async fn every_crm_contract_example_is_persisted(backend: Backend) {
    let rig = rig("crm-examples", backend, &[]).await;
    let worker = Worker::start(&rig.env);
    // The examples act on pre-lead 123 and lead 789 (created first, as the
    // CRM had them). They illustrate endpoints one by one, so each gets the
    // state it implies: the discard examples act on records of their own
    // (nothing may change a discarded record), and the payment names the
    // customer the conversion really created.
    let now = chrono::Utc::now();
    for (field, id) in [("pre_lead_id", "123"), ("pre_lead_id", "124")] {
        publish(
            &rig,
            json!({"event": "new_inquiry", "data": {"first_name": "John"}}),
            &[],
            &[(field, id)],
            now,
        )
        .await;
    }
    for id in ["789", "790"] {
        publish(
            &rig,
            json!({"event": "new_lead", "data": {"first_name": "Robert"}}),
            &[],
            &[("lead_id", id)],
            now,
        )
        .await;
    }
    rig.processed(4).await;
    let mut settled = 4;
    let mut customer_id = String::new();
    for example in testkit::examples::CRM {
        let path = example
            .path
            .replace("/pre-lead/123/discard", "/pre-lead/124/discard")
            .replace("/lead/789/discard", "/lead/790/discard");
        let body = example.body.replace(
            r#""customer_id":"505""#,
            &format!(r#""customer_id":"{customer_id}""#),
        );
        let data = rig.post(&path, serde_json::from_str(&body).unwrap()).await;
        if let Some(id) = data.get("customer_id").and_then(Value::as_str) {
            customer_id = id.to_owned();
        }
        settled += 1;
        // In order, as the CRM would send them (a conversion after its updates).
        rig.processed(settled).await;
    }
    let dead = rig.inspector.topology.dead_letter_queue(Source::CrmEvents);
    assert_eq!(
        rig.inspector.ready_count(&dead).await.unwrap(),
        0,
        "every example applies"
    );

    // Pre-lead 123: updated (status contacted), contact, memo, qualified, converted.
    assert_eq!(
        rig.text("SELECT status FROM crm_pre_leads WHERE id = '123'")
            .await,
        "qualified"
    );
    let pre: Value = rig
        .json("SELECT CAST(data AS TEXT) FROM crm_pre_leads WHERE id = '123'")
        .await;
    assert_eq!(
        (pre["last_name"].as_str(), pre["city"].as_str()),
        (Some("Doe Updated"), Some("Los Angeles"))
    );
    assert_eq!(
        rig.history("123").await,
        [
            ("new".into(), "contacted".into()),
            ("contacted".into(), "qualified".into())
        ]
    );
    let converted = rig
        .text("SELECT converted_lead_id FROM crm_pre_leads WHERE id = '123'")
        .await;
    assert_eq!(
        rig.text(&format!(
            "SELECT priority FROM crm_leads WHERE id = '{converted}'"
        ))
        .await,
        "high"
    );
    assert_eq!(
        rig.text("SELECT discard_reason FROM crm_pre_leads WHERE id = '124'")
            .await,
        "Not interested - budget constraints"
    );
    // Lead 789: updated, contact, activity, profile, memo, statuses, converted, order.
    assert_eq!(
        rig.text("SELECT priority FROM crm_leads WHERE id = '789'")
            .await,
        "critical"
    );
    assert_eq!(
        rig.text("SELECT status FROM crm_leads WHERE id = '789'")
            .await,
        "won"
    );
    let history = rig.history("789").await;
    assert_eq!(
        history.first(),
        Some(&("new".into(), "negotiation".into())),
        "status_date 2024-01-25 comes first in event order: {history:?}"
    );
    assert_eq!(history.last().map(|h| h.1.as_str()), Some("won"));
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM crm_contacts").await, 2);
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM crm_memos").await, 2);
    assert_eq!(rig.text("SELECT kind FROM crm_activities").await, "meeting");
    let profile: Value = rig
        .json("SELECT CAST(data AS TEXT) FROM crm_qualified_profiles WHERE lead_id = '789'")
        .await;
    assert_eq!(
        (
            profile["decision_timeline"].as_str(),
            profile["budget"].as_f64()
        ),
        (Some("Q2 2024"), Some(150000.0))
    );
    assert_eq!(
        rig.text("SELECT customer_code FROM crm_customers").await,
        "CUST-XYZ-001"
    );
    assert_eq!(
        rig.text(&format!(
            "SELECT lead_id FROM crm_customers WHERE id = '{customer_id}'"
        ))
        .await,
        "789"
    );
    assert_eq!(
        rig.db
            .scalar("SELECT CAST(orders_total AS BIGINT) FROM crm_customers")
            .await,
        25000
    );
    assert_eq!(
        rig.db
            .scalar("SELECT CAST(payments_total AS BIGINT) FROM crm_customers")
            .await,
        10000
    );
    assert_eq!(
        rig.text("SELECT discard_reason FROM crm_leads WHERE id = '790'")
            .await,
        "Lost to competitor — Price too high - went with cheaper alternative"
    );
    rig.finish(vec![worker]).await;
}

/// Publishes a CRM event as the edge would, with ids in the envelope.
async fn publish(
    rig: &Rig,
    body: Value,
    path: &[(&str, &str)],
    assigned: &[(&str, &str)],
    at: chrono::DateTime<chrono::Utc>,
) -> Envelope {
    let mut envelope = Envelope::new(Source::CrmEvents, vec![]);
    envelope.received_at = at;
    envelope.path_params = path
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    envelope.assigned_ids = assigned
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    rig.inspector
        .publish(&envelope, body.to_string().as_bytes())
        .await
        .unwrap();
    envelope
}

async fn an_event_that_overtakes_its_create_waits_for_it(backend: Backend) {
    let rig = rig("crm-overtake", backend, &[]).await;
    let worker = Worker::start(&rig.env);
    let now = chrono::Utc::now();
    // The update is delivered before the lead exists ...
    publish(
        &rig,
        json!({"event": "lead_update", "data": {"city": "Delhi", "lead_status": "contacted"}}),
        &[("lead_id", "L-1")],
        &[],
        now,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rig.db
            .count("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
            .await,
        0
    );
    // ... then its creation arrives; the update is retried through the retry queue.
    publish(
        &rig,
        json!({"event": "new_lead", "data": {"first_name": "Asha", "city": "Pune"}}),
        &[],
        &[("lead_id", "L-1")],
        now - chrono::Duration::seconds(1),
    )
    .await;
    rig.processed(2).await;
    assert_eq!(
        rig.text("SELECT status FROM crm_leads WHERE id = 'L-1'")
            .await,
        "contacted"
    );
    let data: Value = rig
        .json("SELECT CAST(data AS TEXT) FROM crm_leads WHERE id = 'L-1'")
        .await;
    assert_eq!(
        (data["city"].as_str(), data["first_name"].as_str()),
        (Some("Delhi"), Some("Asha"))
    );
    let dead = rig.inspector.topology.dead_letter_queue(Source::CrmEvents);
    assert_eq!(rig.inspector.ready_count(&dead).await.unwrap(), 0);
    rig.finish(vec![worker]).await;
}

async fn an_older_update_applied_late_only_fills_missing_fields(backend: Backend) {
    let rig = rig("crm-late-update", backend, &[]).await;
    let worker = Worker::start(&rig.env);
    let t0 = chrono::Utc::now();
    let second = |n| t0 + chrono::Duration::seconds(n);
    let lead = [("lead_id", "L-LATE")];
    publish(
        &rig,
        json!({"event": "new_lead", "data": {"first_name": "Asha", "city": "Pune"}}),
        &[],
        &lead,
        t0,
    )
    .await;
    rig.processed(1).await;
    // The newer update and profile change are applied first ...
    publish(
        &rig,
        json!({"event": "lead_update", "data": {"city": "Delhi", "priority": "high"}}),
        &lead,
        &[],
        second(2),
    )
    .await;
    publish(
        &rig,
        json!({"event": "lead_qualified_profile_update", "data": {"budget": 175000}}),
        &lead,
        &[("profile_id", "P-1")],
        second(2),
    )
    .await;
    rig.processed(3).await;
    // ... then the older ones arrive: they fill gaps and overwrite nothing.
    publish(&rig, json!({"event": "lead_update", "data": {"city": "Mumbai", "priority": "low", "notes": "call back"}}), &lead, &[], second(1)).await;
    publish(&rig, json!({"event": "lead_qualified_profile_update", "data": {"budget": 150000, "industry": "Retail"}}), &lead, &[("profile_id", "P-1")], second(1)).await;
    rig.processed(5).await;
    let data: Value = rig
        .json("SELECT CAST(data AS TEXT) FROM crm_leads WHERE id = 'L-LATE'")
        .await;
    assert_eq!(
        (
            data["city"].as_str(),
            data["notes"].as_str(),
            data["first_name"].as_str()
        ),
        (Some("Delhi"), Some("call back"), Some("Asha"))
    );
    assert_eq!(
        rig.text("SELECT priority FROM crm_leads WHERE id = 'L-LATE'")
            .await,
        "high"
    );
    let profile: Value = rig
        .json("SELECT CAST(data AS TEXT) FROM crm_qualified_profiles")
        .await;
    assert_eq!(
        (profile["budget"].as_i64(), profile["industry"].as_str()),
        (Some(175000), Some("Retail"))
    );
    rig.finish(vec![worker]).await;
}

async fn events_for_records_that_never_come_or_cannot_apply_are_dead_lettered_with_a_reason(
    backend: Backend,
) {
    let rig = rig("crm-dead", backend, &[("RETRY_MAX_ATTEMPTS", "1")]).await;
    let worker = Worker::start(&rig.env);
    let now = chrono::Utc::now();
    publish(
        &rig,
        json!({"event": "lead_status_update", "data": {"lead_status": "won"}}),
        &[("lead_id", "GHOST")],
        &[],
        now,
    )
    .await;
    publish(
        &rig,
        json!({"event": "new_lead", "data": {"first_name": "Ravi"}}),
        &[],
        &[("lead_id", "L-2")],
        now,
    )
    .await;
    publish(
        &rig,
        json!({"event": "lead_discard", "data": {"reason": "Lost to competitor"}}),
        &[("lead_id", "L-2")],
        &[],
        now,
    )
    .await;
    rig.processed(2).await;
    publish(
        &rig,
        json!({"event": "lead_convert", "data": {"customer_code": "C-9"}}),
        &[("lead_id", "L-2")],
        &[("customer_id", "CU-1")],
        now,
    )
    .await;
    let dead = rig.inspector.topology.dead_letter_queue(Source::CrmEvents);
    eventually("both dead-lettered", WAIT, || async {
        rig.inspector.ready_count(&dead).await.unwrap() == 2
    })
    .await;
    let mut reasons: Vec<String> = rig
        .inspector
        .drain(&dead)
        .await
        .unwrap()
        .iter()
        .map(|m| {
            m.headers
                .iter()
                .find(|(k, _)| k == HEADER_REASON)
                .map(|(_, v)| v.clone())
                .unwrap()
        })
        .collect();
    reasons.sort();
    assert!(
        reasons[0].contains("lead GHOST not found") && reasons[0].contains("gave up after 1"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("lead L-2 is discarded and cannot be converted"),
        "{reasons:?}"
    );
    assert_eq!(rig.db.count("SELECT COUNT(*) FROM crm_customers").await, 0);
    rig.finish(vec![worker]).await;
}

async fn three_workers_racing_duplicates_and_out_of_order_changes_agree(backend: Backend) {
    let rig = rig("crm-race", backend, &[("WORKER_PREFETCH", "4")]).await;
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(&rig.env)).collect();
    let base = chrono::Utc::now();
    let statuses = [
        "contacted",
        "qualified",
        "proposal_sent",
        "negotiation",
        "won",
    ];
    let mut messages = Vec::new();
    for lead in 0..4 {
        let id = format!("RACE-{lead}");
        messages.push((
            json!({"event": "new_lead", "data": {"first_name": format!("Lead {lead}")}}),
            vec![],
            vec![("lead_id", id.clone())],
            base,
        ));
        for (i, status) in statuses.iter().enumerate() {
            let date = format!("2024-02-0{}T10:00:00Z", i + 1);
            messages.push((
                json!({"event": "lead_status_update", "data": {"lead_status": status, "status_date": date}}),
                vec![("lead_id", id.clone())],
                vec![],
                base,
            ));
        }
    }
    // Newest first (every change overtakes its predecessors, every one
    // overtakes the create), each sent twice as the same message.
    messages.reverse();
    let mut published = 0;
    for (body, path, assigned, at) in &messages {
        let path: Vec<(&str, &str)> = path.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let assigned: Vec<(&str, &str)> = assigned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let envelope = publish(&rig, body.clone(), &path, &assigned, *at).await;
        rig.inspector
            .publish(&envelope, body.to_string().as_bytes())
            .await
            .unwrap();
        published += 1;
    }
    rig.processed(published).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rig.db
            .scalar("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
            .await,
        published,
        "each message once"
    );
    assert_eq!(rig.db.scalar("SELECT COUNT(*) FROM crm_leads").await, 4);
    for lead in 0..4 {
        let id = format!("RACE-{lead}");
        assert_eq!(
            rig.text(&format!("SELECT status FROM crm_leads WHERE id = '{id}'"))
                .await,
            "won"
        );
        let history = rig.history(&id).await;
        let expected: Vec<(String, String)> = [
            "new",
            "contacted",
            "qualified",
            "proposal_sent",
            "negotiation",
        ]
        .iter()
        .zip(statuses)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(history, expected, "{id}");
    }
    let dead = rig.inspector.topology.dead_letter_queue(Source::CrmEvents);
    assert_eq!(rig.inspector.ready_count(&dead).await.unwrap(), 0);
    rig.finish(workers).await;
}

/// An installation upgraded with CRM records already stored: the migration
/// that adds the typed columns fills them from each record's `data`, and
/// the upgraded database ends with the same schema as a new one, holding a
/// column for every typed field the contract code writes.
async fn records_stored_before_the_typed_columns_are_filled_by_their_migration(backend: Backend) {
    use migrations::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    let db = TestDb::create(backend).await;
    let before_typed_columns = Migrator::migrations()
        .iter()
        .position(|m| m.name().ends_with("crm_typed_columns"))
        .expect("the typed-columns migration") as u32;
    Migrator::up(&db.conn, Some(before_typed_columns))
        .await
        .unwrap();
    db.conn
        .execute_unprepared(
            r#"INSERT INTO crm_leads (id, status, initial_status, discarded, data, created_at, updated_at)
               VALUES ('L-OLD', 'new', 'new', false,
                       '{"first_name": "Asha", "phone": "98765 43210", "expected_value": "1200.50", "city": "Pune", "assigned_to": 7}',
                       CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"#,
        )
        .await
        .unwrap();
    Migrator::up(&db.conn, None).await.unwrap();
    let row = db
        .conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT first_name, phone, expected_value, city, assigned_to, email FROM crm_leads WHERE id = 'L-OLD'",
        ))
        .await
        .unwrap()
        .expect("the stored lead");
    let text = |column: &str| row.try_get::<Option<String>>("", column).unwrap();
    assert_eq!(
        (
            text("first_name"),
            text("phone"),
            text("city"),
            text("assigned_to"),
            text("email")
        ),
        (
            Some("Asha".into()),
            Some("+919876543210".into()),
            Some("Pune".into()),
            Some("7".into()),
            None
        )
    );
    assert_eq!(
        row.try_get::<Option<f64>>("", "expected_value").unwrap(),
        Some(1200.5)
    );

    let new = TestDb::create(backend).await;
    Migrator::up(&new.conn, None).await.unwrap();
    let (upgraded, fresh) = (db.schema().await, new.schema().await);
    assert!(
        fresh.len() > 100,
        "the schema was read: {} lines",
        fresh.len()
    );
    assert_eq!(upgraded, fresh, "an upgraded database and a new one differ");
    for (table, fields) in shared::contracts::crm_fields::TABLES {
        for field in *fields {
            let prefix = format!("{table}.{} ", field.column);
            assert!(
                fresh.iter().any(|line| line.starts_with(&prefix)),
                "the contract code writes {table}.{}, which no migration creates",
                field.column
            );
        }
    }
    new.drop().await;
    db.drop().await;
}

/// A record whose stored `data` is not a JSON object (corrupted by hand, a
/// bad restore): an update for it is retried, then dead-lettered saying
/// why, and neither the JSON nor the typed columns are written over.
async fn an_event_for_a_record_whose_stored_data_is_unreadable_overwrites_nothing(
    backend: Backend,
) {
    use sea_orm::ConnectionTrait;
    let rig = rig("crm-corrupt", backend, &[("RETRY_MAX_ATTEMPTS", "1")]).await;
    let worker = Worker::start(&rig.env);
    let now = chrono::Utc::now();
    publish(
        &rig,
        json!({"event": "new_lead", "data": {"first_name": "Asha", "city": "Pune"}}),
        &[],
        &[("lead_id", "L-CORRUPT")],
        now,
    )
    .await;
    rig.processed(1).await;
    rig.db
        .conn
        .execute_unprepared("UPDATE crm_leads SET data = '[1, 2, 3]' WHERE id = 'L-CORRUPT'")
        .await
        .unwrap();
    publish(
        &rig,
        json!({"event": "lead_update", "data": {"city": "Mumbai", "email": "asha@example.com"}}),
        &[("lead_id", "L-CORRUPT")],
        &[],
        now + chrono::Duration::seconds(1),
    )
    .await;
    let dead = rig.inspector.topology.dead_letter_queue(Source::CrmEvents);
    eventually("the update dead-lettered", WAIT, || async {
        rig.inspector.ready_count(&dead).await.unwrap() == 1
    })
    .await;
    let reasons: Vec<String> = rig
        .inspector
        .drain(&dead)
        .await
        .unwrap()
        .iter()
        .filter_map(|m| {
            m.headers
                .iter()
                .find(|(k, _)| k == HEADER_REASON)
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("not a JSON object") && reasons[0].contains("gave up after 1"),
        "{reasons:?}"
    );
    let stored: Value = rig
        .json("SELECT CAST(data AS TEXT) FROM crm_leads WHERE id = 'L-CORRUPT'")
        .await;
    assert_eq!(stored, json!([1, 2, 3]), "the stored data was written over");
    assert_eq!(
        rig.text("SELECT city FROM crm_leads WHERE id = 'L-CORRUPT'")
            .await,
        "Pune"
    );
    assert_eq!(
        rig.db
            .count("SELECT COUNT(*) FROM crm_leads WHERE id = 'L-CORRUPT' AND email IS NOT NULL")
            .await,
        0
    );
    rig.finish(vec![worker]).await;
}
