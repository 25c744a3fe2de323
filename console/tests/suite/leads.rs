//! Lead timelines and follow-ups in the console, from webhooks sent through
//! the real edge and persisted by a real worker.

use console::auth::Role;
use serde_json::json;
use std::time::Duration;
use testkit::{Backend, Stack, StaffClient, eventually};

const PASSWORD: &str = "a long enough password";
const KEY: &str = "partner-key-for-tests-0001";
const WAIT: Duration = Duration::from_secs(60);

/// The whole system, with a portal and call-capture key and one
/// salesperson, ravi, signed in.
struct Rig {
    stack: Stack,
    staff: StaffClient,
}

impl Rig {
    async fn start(backend: Backend, name: &str) -> Self {
        let extra = [
            ("LEAD_API_KEY_CARDEKHO", KEY),
            ("CALL_CAPTURE_API_KEYS", KEY),
        ];
        let stack = Stack::start(backend, name, &extra).await;
        testkit::add_staff(&stack.db.url, "ravi", PASSWORD, Role::Sales).await;
        let staff = StaffClient::sign_in(stack.console.addr, "ravi", PASSWORD).await;
        Self { stack, staff }
    }

    async fn post(&self, path: &str, key: Option<(&str, &str)>, body: serde_json::Value) {
        let headers: Vec<(&str, &str)> = key.into_iter().collect();
        let response = self
            .stack
            .edge
            .post(path, &headers, &body.to_string())
            .await;
        assert_eq!(
            response.status,
            201,
            "{path}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }

    async fn stop(self) {
        self.stack.stop().await;
    }
}

fn html(response: &testkit::HttpResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

async fn a_lead_timeline_holds_every_partner_for_one_number(backend: Backend) {
    let rig = Rig::start(backend, "timeline").await;
    let phone = "+919812345678";
    rig.post(
        "/api/webhook/",
        None,
        json!({"call_id": "TL-1", "caller_number": "09812345678", "call_start_time": "2025-11-07T10:00:00Z", "call_status": "completed", "customer_name": "Meera Iyer"}),
    )
    .await;
    rig.post(
        "/webhook/",
        None,
        json!({"messages": [{"from": "919812345678", "id": "wamid.TL-2", "timestamp": "1762510000", "type": "text", "text": {"body": "<script>alert(1)</script> Is the Curvv in stock?"}}]}),
    )
    .await;
    rig.post(
        "/admin/mg-digital-leads/source/cardekho",
        Some(("X-API-Key", KEY)),
        json!({"name": "Meera Iyer", "phone_number": phone, "car_model": "Curvv EV"}),
    )
    .await;
    rig.post(
        "/functions/v1/webhook-call-capture",
        Some(("x-api-key", KEY)),
        json!({"company_id": "123e4567-e89b-12d3-a456-426614174000", "caller_number": phone, "outcome": "follow_up", "notes": "Wants a test drive", "external_call_id": "TL-4", "external_system": "Dialer"}),
    )
    .await;
    rig.post(
        "/api/v1/webhooks/incoming/lead/create",
        None,
        json!({"event": "new_lead", "source": "website", "data": {"first_name": "Meera", "last_name": "Iyer", "phone": phone, "email": "meera@example.com", "lead_status": "contacted"}}),
    )
    .await;
    eventually("five touchpoints", WAIT, || async {
        rig.stack
            .db
            .count("SELECT COUNT(*) FROM lead_touchpoints")
            .await
            >= 5
    })
    .await;

    // Nobody owns it (no team is set up): it is in the Unassigned view.
    let found = rig
        .staff
        .get("/leads/?view=unassigned&q=98123%2045678")
        .await;
    let page = html(&found);
    let marker = "<a class=\"name\" href=\"";
    let start = page.find(marker).expect("a lead in the results") + marker.len();
    let link: String = page[start..].chars().take_while(|c| *c != '"').collect();
    let timeline = rig.staff.get(&link).await;
    assert_eq!(timeline.status, 200);
    let page = html(&timeline);
    for source in ["Tata call", "WhatsApp", "CarDekho", "Captured call", "CRM"] {
        assert!(
            page.contains(&format!("<span class=\"source\">{source}</span>")),
            "{source} missing from the timeline: {page}"
        );
    }
    assert!(page.contains("meera@example.com"));
    assert!(
        page.contains(r#"<dd id="crm-status">contacted</dd>"#),
        "CRM status shown"
    );
    // Customer text is shown as text.
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Entries run oldest first.
    let tata = page.find(">Tata call<").unwrap();
    let crm = page.rfind(">CRM<").unwrap();
    assert!(tata < crm);
    let missing = rig
        .staff
        .get("/leads/0190a4f3-0000-7000-8000-000000000000")
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(rig.staff.get("/leads/not-a-uuid").await.status, 400);

    // Issue 24, first part: everything held about her, found by her number
    // in another spelling, and nothing about anyone else.
    rig.post(
        "/webhook/",
        None,
        json!({"messages": [{"from": "919812300000", "id": "wamid.TL-other", "timestamp": "1762510000", "type": "text", "text": {"body": "Someone else"}}]}),
    )
    .await;
    eventually("the other person's message", WAIT, || async {
        rig.stack.db.count("SELECT COUNT(*) FROM leads").await == 2
    })
    .await;
    // The CRM lead's children: a memo and a status change.
    let crm_lead = {
        use sea_orm::EntityTrait;
        store::entities::crm_leads::Entity::find()
            .one(&rig.stack.db.conn)
            .await
            .expect("read crm_leads")
            .expect("the CRM lead")
            .id
    };
    let crm_path = format!("/api/v1/webhooks/incoming/lead/{crm_lead}");
    rig.post(
        &format!("{crm_path}/memo/add"),
        None,
        json!({"event": "lead_memo_add", "data": {"title": "Visit", "content": "Coming Saturday", "memo_type": "call"}}),
    )
    .await;
    rig.post(
        &format!("{crm_path}/status/update"),
        None,
        json!({"event": "lead_status_update", "data": {"lead_status": "qualified"}}),
    )
    .await;
    eventually("the memo and the status change", WAIT, || async {
        let db = &rig.stack.db;
        db.count("SELECT COUNT(*) FROM crm_memos").await == 1
            && db.count("SELECT COUNT(*) FROM crm_status_history").await >= 1
    })
    .await;
    let exported = console::person::export(&rig.stack.db.conn, "098123 45678")
        .await
        .expect("export");
    assert_eq!(exported["phone"], phone);
    let tables = &exported["tables"];
    let rows = |table: &str| tables[table].as_array().unwrap().len();
    assert_eq!(rows("leads"), 1);
    assert_eq!(tables["leads"][0]["name"], "Meera Iyer");
    // Five partners, then the CRM's memo and status change.
    assert_eq!(rows("lead_touchpoints"), 7);
    assert_eq!(rows("calls"), 1);
    assert_eq!(rows("whatsapp_messages"), 1);
    assert_eq!(rows("digital_leads"), 1);
    assert_eq!(rows("call_records"), 1);
    assert_eq!(rows("crm_leads"), 1);
    assert_eq!(rows("crm_memos"), 1);
    assert_eq!(tables["crm_memos"][0]["content"], "Coming Saturday");
    assert!(rows("crm_status_history") >= 1);
    // The seven deliveries, with their bodies.
    assert_eq!(rows("webhook_log"), 7, "{}", tables["webhook_log"]);
    let text = exported.to_string();
    assert!(text.contains("Is the Curvv in stock?") && text.contains("meera@example.com"));
    assert!(!text.contains("919812300000") && !text.contains("Someone else"));
    assert!(
        exported["not_searched"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
    );
    // The command prints the same document; a number that is not one is
    // refused, naming it.
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_console"))
        .args(["person", "export", "+91 98123 45678"])
        .env("DATABASE_URL", &rig.stack.db.url)
        // Its dead-letter queues are searched too: this test's own.
        .env("AMQP_URL", testkit::amqp_url())
        .env("AMQP_PREFIX", &rig.stack.prefix)
        .output()
        .expect("run console person export");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("JSON");
    // (The router may have routed the lead in between: same lead, same
    // tables.)
    assert_eq!(
        printed["tables"]["leads"][0]["id"],
        exported["tables"]["leads"][0]["id"]
    );
    let names = |doc: &serde_json::Value| {
        doc["tables"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&printed), names(&exported));
    assert_eq!(printed["dead_letters"], serde_json::json!([]), "none waits");
    // The export is in the access audit, under a hash of the number.
    assert_eq!(
        rig.stack.db
            .count("SELECT COUNT(*) FROM staff_access_log WHERE action = 'person_exported' AND subject LIKE 'sha256:%' AND username LIKE 'command line%'")
            .await,
        1
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_console"))
        .args(["person", "export", "12"])
        .env("DATABASE_URL", &rig.stack.db.url)
        .output()
        .expect("run console person export");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"12\" is not a phone number"));
    rig.stop().await;
}

async fn follow_ups_due_today_and_overdue_are_listed_and_marked_done(backend: Backend) {
    let rig = Rig::start(backend, "follow-ups").await;
    let today = (chrono::Utc::now() + chrono::TimeDelta::minutes(330)).date_naive();
    let capture = |id: &str, phone: &str, date: chrono::NaiveDate, notes: &str| {
        json!({
            "company_id": "123e4567-e89b-12d3-a456-426614174000",
            "caller_number": phone,
            "outcome": "follow_up",
            "notes": notes,
            "external_call_id": id,
            "external_system": "Dialer",
            "next_follow_up": date.to_string(),
            "next_follow_up_time": "11:30:00",
            "auto_call_followup": true,
        })
    };
    let path = "/functions/v1/webhook-call-capture";
    let key = Some(("x-api-key", KEY));
    let yesterday = today - chrono::TimeDelta::days(1);
    let tomorrow = today + chrono::TimeDelta::days(1);
    rig.post(
        path,
        key,
        capture("FU-1", "+919800000001", yesterday, "overdue one"),
    )
    .await;
    rig.post(
        path,
        key,
        capture("FU-2", "+919800000002", today, "due today"),
    )
    .await;
    rig.post(
        path,
        key,
        capture("FU-3", "+919800000003", tomorrow, "not yet"),
    )
    .await;
    eventually("three follow-ups", WAIT, || async {
        rig.stack.db.count("SELECT COUNT(*) FROM follow_ups").await == 3
    })
    .await;
    let page = html(&rig.staff.get("/follow-ups/").await);
    assert!(page.contains("overdue one") && page.contains("due today"));
    assert!(!page.contains("not yet"));
    assert!(page.contains("11:30 IST"));
    // The same captured call again, moved to today: updated, not added.
    rig.post(
        path,
        key,
        capture("FU-3", "+919800000003", today, "moved to today"),
    )
    .await;
    eventually("the repeated call moved its follow-up", WAIT, || async {
        html(&rig.staff.get("/follow-ups/").await).contains("moved to today")
    })
    .await;
    assert_eq!(
        rig.stack.db.scalar("SELECT COUNT(*) FROM follow_ups").await,
        3
    );
    // Mark the overdue one done.
    let start = page.find("action=\"/follow-ups/").unwrap() + "action=\"".len();
    let action: String = page[start..].chars().take_while(|c| *c != '"').collect();
    let done = rig.staff.post_form(&action).await;
    assert_eq!(done.status, 303);
    let page = html(&rig.staff.get("/follow-ups/").await);
    assert!(!page.contains("overdue one") && page.contains("due today"));
    assert_eq!(rig.staff.post_form(&action).await.status, 404, "done once");
    rig.stop().await;
}

testkit::on_both_backends!(
    a_lead_timeline_holds_every_partner_for_one_number,
    follow_ups_due_today_and_overdue_are_listed_and_marked_done,
);
