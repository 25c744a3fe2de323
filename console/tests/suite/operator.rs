//! The operator's view over HTTP, against the real edge, worker, broker and
//! database: only operators get in; a dry run changes nothing; replay and
//! purge need the CSRF token; a dead letter replayed after its cause is
//! fixed is processed, and a purged one is gone; bodies are masked.

use console::auth::Role;
use serde_json::json;
use shared::Source;
use shared::broker::QueueInspector;
use shared::config::{BrokerConfig, Env};
use std::time::Duration;
use testkit::{
    Backend, Console, Edge, StaffClient, TATA_MINIMAL, TestDb, Worker, eventually, test_env,
    unique_prefix,
};

const PASSWORD: &str = "a long enough password";
const WAIT: Duration = Duration::from_secs(60);

testkit::on_both_backends!(
    only_operators_replay_and_purge_dead_letters_after_a_dry_run,
    every_view_of_personal_data_is_in_the_access_audit,
);

/// Issue 24: a person's export also finds what waits about them in the
/// broker's retry queues (where, and its body), read without taking it
/// out: the message is still retried afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_export_finds_what_waits_about_them_in_a_retry_queue() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Sqlite).await;
    let prefix = unique_prefix("export-retrying");
    let env: Env = test_env(&prefix, Some(&db.url), &[("RETRY_MAX_ATTEMPTS", "4")]);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    let console = Console::start(&env).await;
    testkit::add_staff(&db.url, "omar", PASSWORD, Role::Operator).await;
    let operator = StaffClient::sign_in(console.addr, "omar", PASSWORD).await;
    // Retried: the CRM never sent lead L-88 (1 s, 5 s, then 30 s waits).
    dead_letter_for(&edge, "L-88").await;
    let retried = ingest_id(&db, "crm_events", "retrying").await;
    let export = || async {
        operator
            .get("/operator/person/export.json?phone=%2B919876511111")
            .await
            .json()
    };
    eventually("the export lists it as retrying", WAIT, || async {
        export().await["retrying"]
            .as_array()
            .is_some_and(|r| r.len() == 1)
    })
    .await;
    // Read again: it may have moved on to its next try meanwhile.
    let mut found = export().await;
    for _ in 0..50 {
        if found["retrying"].as_array().is_some_and(|r| r.len() == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        found = export().await;
    }
    let waiting = &found["retrying"][0];
    assert_eq!(waiting["ingest_id"], retried.as_str(), "{found}");
    assert_eq!(waiting["source"], "crm_events");
    assert!(
        waiting["where"].as_str().unwrap().contains("retry queue"),
        "{waiting}"
    );
    assert!(waiting["body"].as_str().unwrap().contains("98765 11111"));
    assert_eq!(found["dead_letters"], json!([]));
    assert!(
        !found["not_searched"].to_string().contains("retry"),
        "{found}"
    );
    // Nobody else's.
    let other = operator
        .get("/operator/person/export.json?phone=%2B919876522222")
        .await
        .json();
    assert_eq!(other["retrying"], json!([]));
    // Still retried after being read: it is tried again (its attempts
    // grow in the log).
    let attempts =
        || db.count("SELECT CAST(attempts AS BIGINT) FROM webhook_log WHERE source = 'crm_events'");
    let before = attempts().await;
    eventually("tried again after the export", WAIT, || async {
        attempts().await > before
    })
    .await;
    worker.stop().await;
    console.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

/// Issue 24's audit: a salesperson's sign-in, her view of a lead and of a
/// conversation, and her export are recorded (who, what, about which
/// lead, from where; never the number); a view that found nothing is not;
/// operators read the audit and download it, sales staff may not.
async fn every_view_of_personal_data_is_in_the_access_audit(backend: Backend) {
    let stack = testkit::Stack::start(backend, "console-audit", &[]).await;
    let (db, edge, console) = (&stack.db, &stack.edge, &stack.console);
    testkit::add_staff(&db.url, "asha", PASSWORD, Role::Sales).await;
    testkit::add_staff(&db.url, "omar", PASSWORD, Role::Operator).await;
    let body = testkit::examples::whatsapp_text("919833300077", "wamid.AUD-1", "Hello");
    assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201);
    eventually("the lead", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads").await == 1
    })
    .await;
    let lead = db.uuid("SELECT id FROM leads").await.to_string();

    let asha = StaffClient::sign_in(console.addr, "asha", PASSWORD).await;
    assert_eq!(asha.get(&format!("/ajax/leads/{lead}")).await.status, 200);
    assert_eq!(
        asha.get("/ajax/tata-conversations/+919833300077/")
            .await
            .status,
        200
    );
    assert_eq!(
        asha.get("/leads/export.csv?view=all&q=%2B919833300077")
            .await
            .status,
        403
    );
    assert_eq!(
        asha.get("/leads/export.csv?view=unassigned").await.status,
        200
    );
    // Looked at again at once (a reload, a chat refreshed by a push): the
    // audit keeps the first view, not one per refresh.
    assert_eq!(asha.get(&format!("/ajax/leads/{lead}")).await.status, 200);
    assert_eq!(
        asha.get("/ajax/tata-conversations/+919833300077/")
            .await
            .status,
        200
    );
    let nobody = "0190a4f3-0000-7000-8000-000000000000";
    assert_eq!(asha.get(&format!("/ajax/leads/{nobody}")).await.status, 404);
    assert_eq!(asha.get("/operator/access").await.status, 403);
    assert_eq!(asha.get("/operator/access.csv").await.status, 403);

    // Failed sign-ins are recorded too: under the account's name when it
    // exists, never under what was typed otherwise.
    let wrong = testkit::post_login(console.addr, "asha", "not her password", None).await;
    assert_eq!(wrong.status, 401);
    let typo = testkit::post_login(console.addr, "9833300077", PASSWORD, None).await;
    assert_eq!(typo.status, 401);

    let omar = StaffClient::sign_in(console.addr, "omar", PASSWORD).await;
    let failures = text(&omar.get("/operator/access").await);
    assert_eq!(failures.matches("sign_in_failed").count(), 2, "{failures}");
    assert!(failures.contains("(no such account)"));
    assert!(!failures.contains("9833300077"), "never what was typed");
    let page = omar.get("/operator/access?staff=asha").await;
    assert_eq!(page.status, 200);
    let page = text(&page);
    for action in [
        "signed_in",
        "sign_in_failed",
        "lead_viewed",
        "conversation_viewed",
        "leads_exported",
    ] {
        assert!(page.contains(action), "{action} in\n{page}");
    }
    assert!(page.contains(&lead));
    assert!(page.contains("127.0.0.1"), "from where");
    assert!(!page.contains("9833300077"), "never the number");
    assert!(
        !page.contains(nobody),
        "a view that found nothing is no view"
    );
    // The lead's entries, as CSV: her two views of it (each viewed twice
    // within minutes, recorded once).
    let csv = omar
        .get(&format!("/operator/access.csv?subject={lead}"))
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv = text(&csv);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows.iter()
            .all(|r| r.contains(",asha,") && r.contains(&lead)),
        "{csv}"
    );
    assert_eq!(
        omar.get("/operator/access?from=yesterday").await.status,
        400
    );

    // The person's data from the operator's page: a download, recorded.
    assert_eq!(asha.get("/operator/person").await.status, 403);
    assert_eq!(
        asha.get("/operator/person/export.json?phone=%2B919833300077")
            .await
            .status,
        403
    );
    assert_eq!(omar.get("/operator/person").await.status, 200);
    let export = omar
        .get("/operator/person/export.json?phone=098333%2000077")
        .await;
    assert_eq!(export.status, 200);
    assert!(
        export
            .header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment"))
    );
    let document = export.json();
    assert_eq!(document["tables"]["leads"][0]["id"], lead.as_str());
    assert_eq!(document["tables"]["whatsapp_messages"][0]["text"], "Hello");
    assert_eq!(
        omar.get("/operator/person/export.json?phone=12")
            .await
            .status,
        400
    );
    let audit = text(&omar.get("/operator/access?staff=omar").await);
    assert!(
        audit.contains("person_exported") && audit.contains("sha256:"),
        "{audit}"
    );
    assert!(!audit.contains("9833300077"));

    stack.stop().await;
}

fn text(response: &testkit::HttpResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// A CRM status change for a lead the CRM never sent: retried once, then
/// dead-lettered (`RETRY_MAX_ATTEMPTS=1`).
async fn dead_letter_for(edge: &Edge, lead: &str) {
    let body = json!({"event": "lead_status_update", "source": "crm", "data": {"lead_status": "won", "phone": "+91 98765 11111"}});
    let response = edge
        .post_json(
            &format!("/api/v1/webhooks/incoming/lead/{lead}/status/update"),
            &body.to_string(),
        )
        .await;
    assert_eq!(response.status, 201, "{:?}", response.json());
}

/// The ingest id of the one log row with this status and source.
async fn ingest_id(db: &TestDb, source: &str, status: &str) -> String {
    let sql = format!(
        "SELECT ingest_id FROM webhook_log WHERE source = '{source}' AND status = '{status}'"
    );
    eventually("the log row", WAIT, || async {
        db.count(&sql.replace("ingest_id", "COUNT(*)")).await == 1
    })
    .await;
    db.uuid(&sql).await.to_string()
}

async fn only_operators_replay_and_purge_dead_letters_after_a_dry_run(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("console-operator");
    let env: Env = test_env(&prefix, Some(&db.url), &[("RETRY_MAX_ATTEMPTS", "1")]);
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let dead = || testkit::dead_letter_count(&inspector, Source::CrmEvents);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    let console = Console::start(&env).await;
    testkit::add_staff(&db.url, "asha", PASSWORD, Role::Sales).await;
    testkit::add_staff(&db.url, "omar", PASSWORD, Role::Operator).await;

    assert_eq!(
        edge.post_json("/api/webhook/", TATA_MINIMAL).await.status,
        201
    );
    dead_letter_for(&edge, "L-77").await;
    eventually("dead-lettered", WAIT, || async { dead().await == 1 }).await;
    let dead_id = ingest_id(&db, "crm_events", "dead_lettered").await;
    let call_id = ingest_id(&db, "tata_calls", "processed").await;

    // Sales staff neither see nor reach the operator's view.
    let sales = StaffClient::sign_in(console.addr, "asha", PASSWORD).await;
    assert!(!text(&sales.get("/tata-chat/").await).contains("/operator/"));
    for path in [
        "/operator/",
        "/operator/log",
        &format!("/operator/log/{dead_id}"),
        "/operator/dead-letters",
        "/operator/dead-letters/confirm?action=purge",
    ] {
        assert_eq!(sales.get(path).await.status, 403, "{path}");
    }
    let ids = [("action", "purge"), ("ids", dead_id.as_str())];
    let refused = sales
        .post_fields("/operator/dead-letters/apply", Some(&sales.csrf), &ids)
        .await;
    assert_eq!(refused.status, 403, "a sales session cannot purge");
    assert_eq!(dead().await, 1);

    // The operator sees the last hour per source and the dead letters.
    let operator = StaffClient::sign_in(console.addr, "omar", PASSWORD).await;
    // A person's export finds what waits about them in a dead-letter queue
    // (issue 24), by another spelling of their number, and nothing for
    // someone else.
    let person = operator
        .get("/operator/person/export.json?phone=09876511111")
        .await;
    assert_eq!(person.status, 200);
    let person = person.json();
    let waiting = person["dead_letters"].as_array().expect("dead_letters");
    assert_eq!(waiting.len(), 1, "{person}");
    assert_eq!(waiting[0]["ingest_id"], dead_id.as_str());
    assert_eq!(waiting[0]["where"], "the crm_events dead-letter queue");
    assert!(waiting[0]["body"].as_str().unwrap().contains("98765 11111"));
    let searched = person["not_searched"].to_string();
    assert!(!searched.contains("dead-letter"), "{searched}");
    let other = operator
        .get("/operator/person/export.json?phone=%2B919876522222")
        .await
        .json();
    assert_eq!(other["dead_letters"], json!([]));
    assert!(text(&operator.get("/tata-chat/").await).contains(r#"href="/operator/""#));
    let overview = operator.get("/operator/").await;
    assert_eq!(overview.status, 200);
    let overview = text(&overview);
    for link in [
        r#"href="/operator/log?source=tata_calls&amp;status=processed">1</a>"#,
        r#"href="/operator/log?source=crm_events&amp;status=dead_lettered">1</a>"#,
        r#"href="/operator/dead-letters?source=crm_events">1</a>"#,
    ] {
        assert!(overview.contains(link), "{link} in\n{overview}");
    }
    // The log, filtered by outcome, and by the partner's id.
    let failed = text(&operator.get("/operator/log?status=dead_lettered").await);
    assert!(
        failed.contains(&dead_id) && !failed.contains(&call_id),
        "{failed}"
    );
    let by_ref = text(&operator.get("/operator/log?id=UNIQUE-CALL-ID").await);
    assert!(by_ref.contains(&call_id) && !by_ref.contains(&dead_id));
    assert_eq!(operator.get("/operator/log?status=lost").await.status, 400);
    assert_eq!(operator.get("/operator/log?source=fax").await.status, 400);
    // One delivery: its body masked, its failure history, its actions.
    let call = text(&operator.get(&format!("/operator/log/{call_id}")).await);
    assert!(call.contains("UNIQUE-CALL-ID"), "{call}");
    assert!(
        !call.contains("9876543210"),
        "the caller's number is masked"
    );
    let failure = text(&operator.get(&format!("/operator/log/{dead_id}")).await);
    assert!(failure.contains("lead L-77 not found"), "{failure}");
    assert!(failure.contains(&format!(
        "/operator/dead-letters/confirm?action=replay&amp;id={dead_id}"
    )));
    let listed = text(
        &operator
            .get("/operator/dead-letters?reason=NOT+FOUND")
            .await,
    );
    assert!(listed.contains(&dead_id), "{listed}");
    let none = text(&operator.get("/operator/dead-letters?reason=timeout").await);
    assert!(none.contains("No dead letters match."));

    // The dry run lists it and changes nothing.
    let dry_run = operator
        .get(&format!(
            "/operator/dead-letters/confirm?action=replay&id={dead_id}"
        ))
        .await;
    assert_eq!(dry_run.status, 200);
    let dry_run = text(&dry_run);
    assert!(
        dry_run.contains("Dry run") && dry_run.contains("Replay 1 now"),
        "{dry_run}"
    );
    assert!(dry_run.contains(&dead_id));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dead().await, 1, "a dry run moves nothing");

    // Without the token, or with another, nothing moves.
    let replay = [("action", "replay"), ("ids", dead_id.as_str())];
    for token in [None, Some("0000")] {
        let refused = operator
            .post_fields("/operator/dead-letters/apply", token, &replay)
            .await;
        assert_eq!(refused.status, 403, "token {token:?}");
    }
    assert_eq!(dead().await, 1);

    // The cause is fixed (the lead arrives); the replay is processed once.
    testkit::crm_lead_arrives(&inspector, "L-77").await;
    eventually("the lead exists", WAIT, || async {
        db.count("SELECT COUNT(*) FROM crm_leads WHERE id = 'L-77'")
            .await
            == 1
    })
    .await;
    let done = operator
        .post_fields(
            "/operator/dead-letters/apply",
            Some(&operator.csrf),
            &replay,
        )
        .await;
    assert_eq!(done.status, 200);
    assert!(text(&done).contains("Replayed 1."), "{}", text(&done));
    eventually("the replayed status is applied", WAIT, || async {
        db.count("SELECT COUNT(*) FROM crm_leads WHERE id = 'L-77' AND status = 'won'")
            .await
            == 1
    })
    .await;
    assert_eq!(dead().await, 0);
    let replayed = text(&operator.get(&format!("/operator/log/{dead_id}")).await);
    assert!(
        replayed.contains(r#"class="badge status processed""#),
        "{replayed}"
    );
    assert!(
        replayed.contains("lead L-77 not found") && replayed.contains("after 3 attempts"),
        "the reason history outlives the dead letter: {replayed}"
    );

    // A purge, confirmed, deletes exactly what the dry run named.
    dead_letter_for(&edge, "L-78").await;
    eventually("dead-lettered again", WAIT, || async { dead().await == 1 }).await;
    let purge_id = ingest_id(&db, "crm_events", "dead_lettered").await;
    let dry_run = text(
        &operator
            .get("/operator/dead-letters/confirm?action=purge&source=crm_events")
            .await,
    );
    assert!(dry_run.contains("Purge 1 for good") && dry_run.contains(&purge_id));
    // An id the dry run did not name is not touched.
    let other = uuid::Uuid::now_v7().to_string();
    let nothing = operator
        .post_fields(
            "/operator/dead-letters/apply",
            Some(&operator.csrf),
            &[
                ("action", "purge"),
                ("source", "crm_events"),
                ("ids", &other),
            ],
        )
        .await;
    assert!(text(&nothing).contains("Purged 0."), "{}", text(&nothing));
    assert_eq!(dead().await, 1);
    let purged = operator
        .post_fields(
            "/operator/dead-letters/apply",
            Some(&operator.csrf),
            &[
                ("action", "purge"),
                ("source", "crm_events"),
                ("ids", &purge_id),
            ],
        )
        .await;
    assert!(text(&purged).contains("Purged 1."), "{}", text(&purged));
    assert_eq!(dead().await, 0);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM crm_leads WHERE id = 'L-78'")
            .await,
        0,
        "a purged webhook is never applied"
    );

    console.stop().await;
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup(inspector).await;
    db.drop().await;
}
