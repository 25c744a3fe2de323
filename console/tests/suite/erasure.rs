//! Issue 24, erasure: a person touched by all five partners, with a note
//! and a dead-lettered CRM event, is erased from the operator's page after
//! a dry run; then the database (on SQLite, the file and its WAL byte by
//! byte) and every dead-letter queue are searched for the number in every
//! spelling and the e-mail: nothing. Someone else's data stays; a new
//! message from the number afterwards is a new lead; the command line
//! erases too. Sales staff may not (403).

use super::replies::{PASSWORD, WAIT};
use console::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::json;
use shared::Source;
use shared::broker::QueueInspector;
use shared::config::BrokerConfig;
use testkit::{Backend, Stack, StaffClient, eventually};

testkit::on_both_backends!(a_person_is_erased_everywhere_and_comes_back_only_as_new,);

const KEY: &str = "partner-key-for-tests-0001";
const PHONE: &str = "+919812345678";
const SPELLINGS: [&str; 5] = [
    "+919812345678",
    "919812345678",
    "9812345678",
    "98123 45678",
    "meera@example.com",
];
const OTHER: &str = "919812300000";

async fn post(stack: &Stack, path: &str, key: Option<(&str, &str)>, body: serde_json::Value) {
    let headers: Vec<(&str, &str)> = key.into_iter().collect();
    let response = stack.edge.post(path, &headers, &body.to_string()).await;
    assert_eq!(response.status, 201, "{path}");
}

fn text(response: &testkit::HttpResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// Rows anywhere in the database whose text holds `needle` (PostgreSQL:
/// every table of the schema; SQLite: the file and its WAL, byte by byte).
async fn found_in_database(stack: &Stack, needle: &str) -> Vec<String> {
    let db = &stack.db;
    if let Some(rest) = db.url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap();
        let mut found = Vec::new();
        for file in [path.to_owned(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                found.push(file);
            }
        }
        return found;
    }
    let tables = db
        .conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        ))
        .await
        .unwrap();
    let mut found = Vec::new();
    for row in tables {
        let table: String = row.try_get("", "table_name").unwrap();
        let hits = db
            .count(&format!(
                "SELECT COUNT(*) FROM \"{table}\" t WHERE t::text LIKE '%{needle}%'"
            ))
            .await;
        if hits > 0 {
            found.push(format!("{table}: {hits}"));
        }
    }
    found
}

async fn a_person_is_erased_everywhere_and_comes_back_only_as_new(backend: Backend) {
    let extra = [
        ("LEAD_API_KEY_CARDEKHO", KEY),
        ("CALL_CAPTURE_API_KEYS", KEY),
        ("RETRY_MAX_ATTEMPTS", "1"),
        ("CONSOLE_PUBLIC_URL", "https://console.dealer.example"),
    ];
    let stack = Stack::start(backend, "erase", &extra).await;
    let db = &stack.db;
    testkit::add_staff(&db.url, "ravi", PASSWORD, Role::Sales).await;
    testkit::add_staff(&db.url, "omar", PASSWORD, Role::Operator).await;
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&stack.env).unwrap())
        .await
        .unwrap();

    // Meera, through all five partners.
    post(&stack, "/api/webhook/", None, json!({"call_id": "ER-1", "caller_number": "09812345678", "call_start_time": "2025-11-07T10:00:00Z", "call_status": "completed", "customer_name": "Meera Iyer"})).await;
    post(&stack, "/webhook/", None, json!({"messages": [{"from": "919812345678", "id": "wamid.ER-2", "timestamp": "1762510000", "type": "text", "text": {"body": "Is the Curvv in stock?"}}]})).await;
    post(
        &stack,
        "/admin/mg-digital-leads/source/cardekho",
        Some(("X-API-Key", KEY)),
        json!({"name": "Meera Iyer", "phone_number": PHONE, "car_model": "Curvv EV"}),
    )
    .await;
    post(&stack, "/functions/v1/webhook-call-capture", Some(("x-api-key", KEY)), json!({"company_id": "123e4567-e89b-12d3-a456-426614174000", "caller_number": PHONE, "outcome": "follow_up", "notes": "Wants a test drive", "external_call_id": "ER-4", "external_system": "Dialer"})).await;
    post(&stack, "/api/v1/webhooks/incoming/lead/create", None, json!({"event": "new_lead", "source": "website", "data": {"first_name": "Meera", "last_name": "Iyer", "phone": PHONE, "email": "meera@example.com", "lead_status": "contacted"}})).await;
    // A CRM change for a lead the CRM never sent, with her number: retried
    // once, then dead-lettered.
    post(&stack, "/api/v1/webhooks/incoming/lead/L-404/status/update", None, json!({"event": "lead_status_update", "source": "crm", "data": {"lead_status": "won", "phone": "+91 98123 45678"}})).await;
    // Someone else.
    post(&stack, "/webhook/", None, json!({"messages": [{"from": OTHER, "id": "wamid.ER-other", "timestamp": "1762510000", "type": "text", "text": {"body": "Someone else"}}]})).await;
    eventually("her five partners and the other person", WAIT, || async {
        db.count("SELECT COUNT(*) FROM lead_touchpoints").await >= 6
    })
    .await;
    eventually("the dead letter", WAIT, || async {
        testkit::dead_letter_count(&inspector, Source::CrmEvents).await == 1
    })
    .await;
    let lead = db
        .uuid(&format!("SELECT id FROM leads WHERE phone = '{PHONE}'"))
        .await;
    let ravi = StaffClient::sign_in(stack.console.addr, "ravi", PASSWORD).await;
    let noted = ravi
        .post_json(
            &format!("/ajax/leads/{lead}/notes"),
            &json!({"text": "Meera asked us to call 09812345678 after six"}),
        )
        .await;
    assert!(noted.status < 300, "{}", text(&noted));
    // A quotation staff uploaded to send her (the bytes name her too).
    let omar = StaffClient::sign_in(stack.console.addr, "omar", PASSWORD).await;
    let uploaded = omar
        .post_file(
            &format!("/ajax/tata-conversations/{PHONE}/files"),
            "application/pdf",
            "quotation.pdf",
            b"%PDF-1.4 Quotation for Meera Iyer, 9812345678",
        )
        .await;
    assert_eq!(uploaded.status, 201, "{}", text(&uploaded));
    for spelling in SPELLINGS {
        assert!(
            !found_in_database(&stack, spelling).await.is_empty(),
            "{spelling} is there before"
        );
    }

    // Sales staff may neither look nor erase.
    assert_eq!(
        ravi.get("/operator/person/erase?phone=09812345678")
            .await
            .status,
        403
    );
    let refused = ravi
        .post_fields(
            "/operator/person/erase",
            Some(&ravi.csrf),
            &[("phone", PHONE)],
        )
        .await;
    assert_eq!(refused.status, 403);

    // The dry run lists what would go and erases nothing.
    let preview = omar
        .get("/operator/person/erase?phone=098123%2045678")
        .await;
    assert_eq!(preview.status, 200);
    let preview = text(&preview);
    for what in [
        "leads",
        "calls",
        "whatsapp_messages",
        "digital_leads",
        "call_records",
        "crm_leads",
        "lead_notes",
        "outbound_files",
        "dead letters",
    ] {
        assert!(
            preview.contains(&format!("<td>{what}</td>")),
            "{what} in {preview}"
        );
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM leads").await, 2);
    // Without the CSRF token: refused, nothing queued.
    let forged = omar
        .post_fields("/operator/person/erase", None, &[("phone", PHONE)])
        .await;
    assert_eq!(forged.status, 403);
    let queued = omar
        .post_fields(
            "/operator/person/erase",
            Some(&omar.csrf),
            &[("phone", PHONE)],
        )
        .await;
    assert_eq!(queued.status, 303, "{}", text(&queued));
    let erasure_page = queued.header("location").unwrap().to_owned();
    assert!(erasure_page.starts_with("/operator/person/erasures/"));
    eventually("the erasure done", WAIT, || async {
        text(&omar.get(&erasure_page).await).contains("Done")
    })
    .await;
    let done = text(&omar.get(&erasure_page).await);
    assert!(done.contains("<td>leads</td><td>1</td>"), "{done}");
    assert!(done.contains("<td>outbound_files</td><td>1</td>"), "{done}");
    assert!(done.contains("<td>dead letters</td><td>1</td>"), "{done}");
    assert!(!done.contains("9812345678"), "never the number: {done}");

    // Nothing left, anywhere.
    for spelling in SPELLINGS {
        assert_eq!(
            found_in_database(&stack, spelling).await,
            Vec::<String>::new(),
            "{spelling} is gone"
        );
    }
    assert_eq!(
        testkit::dead_letter_count(&inspector, Source::CrmEvents).await,
        0
    );
    let export = omar
        .get("/operator/person/export.json?phone=%2B919812345678")
        .await
        .json();
    for (table, rows) in export["tables"].as_object().unwrap() {
        assert_eq!(rows.as_array().unwrap().len(), 0, "{table}: {rows}");
    }
    assert_eq!(export["dead_letters"], json!([]));
    // The webhook log keeps its bookkeeping: every delivery is still there.
    assert_eq!(db.count("SELECT COUNT(*) FROM webhook_log").await, 7);
    // Recorded with who asked and a hash, in the audit too.
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM erasures WHERE requested_by = 'omar' AND subject LIKE 'sha256:%'"
        )
        .await,
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM staff_access_log WHERE action = 'person_erased' AND username = 'omar'")
            .await,
        1
    );
    // Someone else's data stays.
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM leads WHERE phone = '+{OTHER}'"
        ))
        .await,
        1
    );

    // She writes again: a new contact, a new lead.
    post(&stack, "/webhook/", None, json!({"messages": [{"from": "919812345678", "id": "wamid.ER-new", "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": "Hello again"}}]})).await;
    eventually("her new lead", WAIT, || async {
        db.count(&format!(
            "SELECT COUNT(*) FROM leads WHERE phone = '{PHONE}'"
        ))
        .await
            == 1
    })
    .await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM whatsapp_messages WHERE from_number = '+919812345678'")
            .await,
        1,
        "only the new message"
    );

    // The command line: a dry run erases nothing; --yes erases and prints
    // what went.
    let console = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_console"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("AMQP_URL", testkit::amqp_url())
            .env("AMQP_PREFIX", &stack.prefix)
            .output()
            .expect("run console person erase")
    };
    let dry = console(&["person", "erase", OTHER]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let dry = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(dry.contains("leads: 1") && dry.contains("--yes"), "{dry}");
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM leads WHERE phone = '+{OTHER}'"
        ))
        .await,
        1
    );
    let erased = console(&["person", "erase", OTHER, "--yes"]);
    assert!(
        erased.status.success(),
        "{}",
        String::from_utf8_lossy(&erased.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&erased.stdout).expect("JSON");
    assert_eq!(printed["rows"]["leads"], 1, "{printed}");
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM leads WHERE phone = '+{OTHER}'"
        ))
        .await,
        0
    );
    stack.stop().await;
}
