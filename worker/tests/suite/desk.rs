//! The lead desk's part of the pipeline (issue 26), through the real edge,
//! broker, workers and database: new leads are routed and assigned
//! round-robin exactly once whatever the number of workers; a first
//! response comes from an action that reached the customer, never from
//! their own message; an unanswered lead escalates on a deadline kept in
//! the database, across restarts of the worker and the console.

use futures_util::future::join_all;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use store::entities::{leads, staff_notifications, staff_users, teams};
use testkit::{
    Backend, Console, Edge, StaffChange, StaffClient, StaffRole, TestDb, Worker, eventually,
    test_env, unique_prefix,
};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(90);
const PASSWORD: &str = "a long enough password";
const KEY: &str = "partner-key-for-tests-0001";

testkit::on_both_backends!(
    round_robin_is_fair_and_each_lead_is_assigned_once_across_three_workers,
    a_member_at_the_cap_or_off_duty_gets_no_lead_and_it_waits_unassigned,
    routing_rules_choose_the_team_by_source_and_line_and_the_rest_go_to_the_default,
    a_first_response_comes_from_a_call_that_reached_the_customer_never_from_their_message,
    a_lead_is_routed_and_escalated_across_restarts_of_the_worker_and_console,
);

async fn processed(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) FROM webhook_log WHERE status IN ('processed', 'duplicate')")
        .await
}

async fn owners(db: &TestDb) -> HashMap<Option<Uuid>, usize> {
    let mut owners = HashMap::new();
    for lead in leads::Entity::find().all(&db.conn).await.unwrap() {
        *owners.entry(lead.owner_id).or_default() += 1;
    }
    owners
}

async fn user_id(db: &TestDb, name: &str) -> Uuid {
    staff_users::Entity::find()
        .filter(staff_users::Column::Username.eq(name))
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn round_robin_is_fair_and_each_lead_is_assigned_once_across_three_workers(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("desk-fair");
    let env = test_env(&prefix, Some(&db.url), &[]);
    let edge = Edge::start(&env).await;
    let first = Worker::start(&env);
    first.wait_ready().await;
    testkit::add_team(&db.url, "Tata sales", true).await;
    for name in ["asha", "ravi", "meera"] {
        testkit::add_member(
            &db.url,
            name,
            PASSWORD,
            StaffRole::Sales,
            &["Tata sales"],
            true,
        )
        .await;
    }
    // Off duty: gets nothing.
    testkit::add_member(
        &db.url,
        "kiran",
        PASSWORD,
        StaffRole::Sales,
        &["Tata sales"],
        false,
    )
    .await;
    let workers = [first, Worker::start(&env), Worker::start(&env)];

    // 300 new people, each writing twice at once (two messages, two
    // workers likely), so concurrent first sightings of one person meet.
    let people: Vec<String> = (0..300).map(|i| format!("91981000{i:04}")).collect();
    for chunk in people.chunks(25) {
        let sends = chunk.iter().flat_map(|from| {
            ["a", "b"].map(|copy| {
                let body = testkit::examples::whatsapp_text(
                    from,
                    &format!("wamid.{from}.{copy}"),
                    "Is the Nexon in stock?",
                );
                let edge = &edge;
                async move {
                    let response = edge.post("/webhook/", &[], &body).await;
                    assert_eq!(response.status, 201);
                }
            })
        });
        join_all(sends).await;
    }
    eventually("600 messages processed", WAIT, || async {
        processed(&db).await >= 600
    })
    .await;
    // Routing runs a moment after each batch commits.
    eventually("300 leads routed", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE routed_at IS NOT NULL")
            .await
            == 300
    })
    .await;

    let counts = owners(&db).await;
    assert_eq!(counts.values().sum::<usize>(), 300, "one lead per person");
    assert_eq!(
        counts.get(&None),
        None,
        "every lead has an owner: {counts:?}"
    );
    for name in ["asha", "ravi", "meera"] {
        let got = counts
            .get(&Some(user_id(&db, name).await))
            .copied()
            .unwrap_or(0);
        assert!((99..=101).contains(&got), "{name} got {got} of 300");
    }
    assert_eq!(counts.get(&Some(user_id(&db, "kiran").await)), None);
    // Exactly 300 turns were taken: none lost, none taken twice.
    let team = teams::Entity::find().one(&db.conn).await.unwrap().unwrap();
    assert_eq!(team.assign_seq, 300);
    // Each owner was told once per lead.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM staff_notifications WHERE kind = 'assigned'")
            .await,
        300
    );

    for worker in workers {
        worker.stop().await;
    }
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

async fn a_member_at_the_cap_or_off_duty_gets_no_lead_and_it_waits_unassigned(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("desk-cap");
    let env = test_env(&prefix, Some(&db.url), &[]);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    worker.wait_ready().await;
    testkit::add_team(&db.url, "Kia sales", true).await;
    testkit::cap_team(&db.url, "Kia sales", 1).await;
    testkit::add_member(
        &db.url,
        "asha",
        PASSWORD,
        StaffRole::Sales,
        &["Kia sales"],
        true,
    )
    .await;
    testkit::add_member(
        &db.url,
        "kiran",
        PASSWORD,
        StaffRole::Sales,
        &["Kia sales"],
        false,
    )
    .await;
    let asha = user_id(&db, "asha").await;
    let mut sent = 0;
    let mut new_lead = |from: &'static str| {
        sent += 1;
        let n = sent;
        let edge = &edge;
        let db = &db;
        async move {
            let body = testkit::examples::whatsapp_text(from, &format!("wamid.{from}"), "Hi");
            assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201);
            eventually("processed", WAIT, || async { processed(db).await >= n }).await;
            eventually("routed", WAIT, || async {
                db.count("SELECT COUNT(*) FROM leads WHERE routed_at IS NULL")
                    .await
                    == 0
            })
            .await;
            leads::Entity::find()
                .filter(leads::Column::Phone.eq(format!("+{from}")))
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let first = new_lead("919866600001").await;
    assert_eq!(first.owner_id, Some(asha));
    // Asha holds one open lead, the cap; Kiran is off duty: nobody takes it.
    let second = new_lead("919866600002").await;
    assert_eq!(second.owner_id, None, "unassigned");
    assert!(second.team_id.is_some() && second.routed_at.is_some());
    // Once her lead is won, she is under the cap again.
    db.conn
        .execute_unprepared("UPDATE leads SET stage = 'won' WHERE phone = '+919866600001'")
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads WHERE stage = 'won'")
            .await,
        1
    );
    let third = new_lead("919866600003").await;
    assert_eq!(third.owner_id, Some(asha));

    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

async fn routing_rules_choose_the_team_by_source_and_line_and_the_rest_go_to_the_default(
    backend: Backend,
) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("desk-rules");
    let env = test_env(&prefix, Some(&db.url), &[("LEAD_API_KEY_CARDEKHO", KEY)]);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    worker.wait_ready().await;
    testkit::add_team(&db.url, "Tata sales", true).await;
    testkit::add_team(&db.url, "MG sales", false).await;
    testkit::add_member(
        &db.url,
        "tina",
        PASSWORD,
        StaffRole::Sales,
        &["Tata sales"],
        true,
    )
    .await;
    testkit::add_member(
        &db.url,
        "manu",
        PASSWORD,
        StaffRole::Sales,
        &["MG sales"],
        true,
    )
    .await;
    testkit::add_rule(
        &db.url,
        "MG sales",
        Some("tata_whatsapp"),
        Some("+91 93554 21616"),
    )
    .await;
    // To the MG number: the rule's team.
    let to_mg = testkit::examples::whatsapp_text("919877700001", "wamid.M1", "Hector?");
    // To another business number: no rule matches, the default team.
    let to_other = testkit::examples::whatsapp_text("919877700002", "wamid.M2", "Nexon?")
        .replace("+919355421616", "+919355400000");
    for body in [to_mg, to_other] {
        assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201);
    }
    let portal = json!({"name": "Rohit", "phone_number": "+919877700003"}).to_string();
    let response = edge
        .post(
            "/admin/mg-digital-leads/source/cardekho",
            &[("X-API-Key", KEY)],
            &portal,
        )
        .await;
    assert_eq!(response.status, 201);
    eventually("three leads routed", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE routed_at IS NOT NULL")
            .await
            == 3
    })
    .await;
    let owner_of = |phone: &'static str| {
        let db = &db;
        async move {
            leads::Entity::find()
                .filter(leads::Column::Phone.eq(phone))
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap()
                .owner_id
        }
    };
    assert_eq!(
        owner_of("+919877700001").await,
        Some(user_id(&db, "manu").await)
    );
    assert_eq!(
        owner_of("+919877700002").await,
        Some(user_id(&db, "tina").await)
    );
    assert_eq!(
        owner_of("+919877700003").await,
        Some(user_id(&db, "tina").await)
    );

    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

async fn a_first_response_comes_from_a_call_that_reached_the_customer_never_from_their_message(
    backend: Backend,
) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("desk-response");
    let dealer = "+919000000001";
    let env = test_env(
        &prefix,
        Some(&db.url),
        &[("CALL_CAPTURE_API_KEYS", KEY), ("DEALER_NUMBERS", dealer)],
    );
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    worker.wait_ready().await;
    let employee = Uuid::now_v7();
    testkit::add_member(&db.url, "meera", PASSWORD, StaffRole::Sales, &[], true).await;
    testkit::change_staff(
        &db.url,
        "meera",
        StaffChange {
            tata_staff_id: Some("EMP-7".into()),
            employee_id: Some(employee.to_string()),
            ..Default::default()
        },
    )
    .await;
    let post = |path: &'static str, key: bool, body: serde_json::Value| {
        let edge = &edge;
        async move {
            let headers: Vec<(&str, &str)> = if key {
                vec![("x-api-key", KEY)]
            } else {
                vec![]
            };
            let response = edge.post(path, &headers, &body.to_string()).await;
            assert_eq!(
                response.status,
                201,
                "{}",
                String::from_utf8_lossy(&response.body)
            );
        }
    };
    let capture = |caller: &str, recipient: &str, id: &str| {
        json!({"company_id": "123e4567-e89b-12d3-a456-426614174000", "caller_number": caller, "recipient_number": recipient,
               "employee_id": employee, "outcome": "completed", "external_call_id": id, "external_system": "Dialer",
               "call_date": chrono::Utc::now().to_rfc3339()})
    };
    // Only wrote: no response.
    let only_wrote = "919811100001";
    post(
        "/webhook/",
        false,
        serde_json::from_str(&testkit::examples::whatsapp_text(
            only_wrote, "wamid.R1", "Hello",
        ))
        .unwrap(),
    )
    .await;
    // Wrote, then was called back: answered by that call.
    let called_back = "919811100002";
    post(
        "/webhook/",
        false,
        serde_json::from_str(&testkit::examples::whatsapp_text(
            called_back,
            "wamid.R2",
            "Hello",
        ))
        .unwrap(),
    )
    .await;
    eventually("the two messages", WAIT, || async {
        processed(&db).await >= 2
    })
    .await;
    post(
        "/functions/v1/webhook-call-capture",
        true,
        capture(dealer, "+919811100002", "R-OUT"),
    )
    .await;
    // Called the dealer: an incoming call is not a response.
    post(
        "/functions/v1/webhook-call-capture",
        true,
        capture("+919811100003", dealer, "R-IN"),
    )
    .await;
    // A Tata call a staff member answered.
    post(
        "/api/webhook/",
        false,
        json!({"call_id": "R-TATA", "caller_number": "+919811100004", "call_start_time": chrono::Utc::now().to_rfc3339(),
               "call_status": "completed", "staff_id": "EMP-7", "staff_name": "Meera"}),
    )
    .await;
    eventually("five messages", WAIT, || async {
        processed(&db).await >= 5
    })
    .await;

    let lead = |phone: &'static str| {
        let db = &db;
        async move {
            leads::Entity::find()
                .filter(leads::Column::Phone.eq(phone))
                .one(&db.conn)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no lead for {phone}"))
        }
    };
    let meera = user_id(&db, "meera").await;
    assert_eq!(lead("+919811100001").await.first_response_at, None);
    let answered = lead("+919811100002").await;
    assert!(
        answered.first_response_at.is_some(),
        "the call back answers it"
    );
    assert_eq!(answered.first_response_by, Some(meera));
    assert!(answered.first_response_at >= answered.clock_started_at);
    assert_eq!(lead("+919811100003").await.first_response_at, None);
    let tata = lead("+919811100004").await;
    assert!(tata.first_response_at.is_some());
    assert_eq!(tata.first_response_by, Some(meera));
    // Routed even with no team configured: a deadline, no owner.
    eventually("routed", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE routed_at IS NULL")
            .await
            == 0
    })
    .await;
    let unowned = lead("+919811100001").await;
    assert!(unowned.response_due_at.is_some());
    assert_eq!(unowned.owner_id, None);

    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

async fn a_lead_is_routed_and_escalated_across_restarts_of_the_worker_and_console(
    backend: Backend,
) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("desk-escalate");
    let env = test_env(
        &prefix,
        Some(&db.url),
        &[
            ("DESK_RESPONSE_TARGET_SECS", "1"),
            ("DESK_ESCALATE_AFTER_SECS", "4"),
            ("DESK_BUSINESS_HOURS", "00:00-24:00"),
            ("DESK_ESCALATE_REASSIGN", "true"),
            ("DESK_SWEEP_MILLIS", "200"),
        ],
    );
    // The first worker's sweep for unrouted leads runs only at start (its
    // next round is an hour away).
    let first_env = test_env(
        &prefix,
        Some(&db.url),
        &[
            ("DESK_ROUTE_MILLIS", "3600000"),
            ("DESK_RESPONSE_TARGET_SECS", "1"),
            ("DESK_ESCALATE_AFTER_SECS", "4"),
            ("DESK_BUSINESS_HOURS", "00:00-24:00"),
        ],
    );
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&first_env);
    worker.wait_ready().await;
    let console = Console::start(&env).await;
    testkit::add_team(&db.url, "MG sales", true).await;
    testkit::add_member(
        &db.url,
        "asha",
        PASSWORD,
        StaffRole::Sales,
        &["MG sales"],
        true,
    )
    .await;
    testkit::add_member(
        &db.url,
        "ravi",
        PASSWORD,
        StaffRole::Sales,
        &["MG sales"],
        true,
    )
    .await;
    testkit::add_member(
        &db.url,
        "mona",
        PASSWORD,
        StaffRole::Manager,
        &["MG sales"],
        false,
    )
    .await;
    let response = edge
        .post(
            "/webhook/",
            &[],
            &testkit::examples::whatsapp_text("919822200001", "wamid.E1", "Hello"),
        )
        .await;
    assert_eq!(response.status, 201);
    eventually("the message processed", WAIT, || async {
        processed(&db).await == 1
    })
    .await;
    // Routed and assigned by the batch that wrote it, in the same commit.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads WHERE routed_at IS NOT NULL AND owner_id IS NOT NULL AND escalate_at IS NOT NULL")
            .await,
        1,
        "routed as it was written"
    );
    // A lead left unrouted, as a version that routed after the batch could
    // leave one when it stopped: the next worker's sweep routes it.
    worker.stop().await;
    db.conn
        .execute_unprepared(
            "UPDATE leads SET routed_at = NULL, team_id = NULL, owner_id = NULL, response_due_at = NULL, escalate_at = NULL",
        )
        .await
        .unwrap();
    let worker = Worker::start(&env);
    eventually("the lead assigned", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE owner_id IS NOT NULL")
            .await
            == 1
    })
    .await;
    // Everything stops before the escalation deadline.
    worker.stop().await;
    console.stop().await;
    let lead = leads::Entity::find().one(&db.conn).await.unwrap().unwrap();
    assert_eq!(lead.escalated_at, None, "stopped before its deadline");
    let first_owner = lead.owner_id.unwrap();
    let deadline = lead.escalate_at.expect("an escalation deadline");
    let wait = (deadline - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(500)).await;

    // Back up after the deadline: nothing held it in memory.
    let worker = Worker::start(&env);
    let console = Console::start(&env).await;
    eventually("the lead escalated", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE escalated_at IS NOT NULL")
            .await
            == 1
    })
    .await;
    let lead = leads::Entity::find().one(&db.conn).await.unwrap().unwrap();
    assert_ne!(
        lead.owner_id,
        Some(first_owner),
        "reassigned to the next on duty"
    );
    assert!(lead.owner_id.is_some());
    let mona = user_id(&db, "mona").await;
    let told = staff_notifications::Entity::find()
        .filter(staff_notifications::Column::UserId.eq(mona))
        .all(&db.conn)
        .await
        .unwrap();
    assert_eq!(told.len(), 1, "the manager is told once");
    assert_eq!(told[0].kind, "escalated");
    // And sees it in the console.
    let manager = StaffClient::sign_in(console.addr, "mona", PASSWORD).await;
    let page = manager.get("/ajax/notifications/").await;
    assert_eq!(page.status, 200);
    let body = page.json();
    assert_eq!(body["unread"], 1);
    assert_eq!(body["notifications"][0]["kind"], "escalated");
    // A sweep after the escalation changes nothing more.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM staff_notifications WHERE kind = 'escalated'")
            .await,
        1
    );

    console.stop().await;
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}
