//! Replies from the console to Tata's WhatsApp API, end to end: the console
//! publishes, a real worker sends to a fake Tata (a real HTTP server on
//! loopback), and Tata's status webhooks through the real edge move the
//! reply on. A reply is sent once; Tata being down is retried; a refusal
//! is final; a worker killed mid-call never leads to a silent second call.

use console::auth::Role;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use testkit::{
    Backend, Console, Edge, FakeTata, StaffClient, TataAnswer, TestDb, Worker, eventually,
    test_env, unique_prefix, within,
};

pub(crate) const PASSWORD: &str = "a long enough password";
const KEY: &str = "tata-account-key-0001";
const ADMIN: &str = "admin-token-for-tests-0001";
const PARTNER_KEY: &str = "partner-key-for-tests-0001";
pub(crate) const WAIT: Duration = Duration::from_secs(60);

fn inbound(from: &str, wamid: &str) -> String {
    json!({
        "messages": [{"from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": "Price of the Harrier?"}}],
        "businessPhoneNumber": "+919355421616"
    })
    .to_string()
}

fn receipt(wamid: &str, status: &str, to: &str) -> String {
    json!({
        "statuses": [{"id": wamid, "status": status, "timestamp": chrono::Utc::now().timestamp().to_string(), "recipient_id": to}],
        "businessPhoneNumber": "+919355421616"
    })
    .to_string()
}

/// A console, an edge and a fake Tata on one database, with a sales
/// account signed in (`asha`); workers are started by each test.
pub(crate) struct Rig {
    pub(crate) db: TestDb,
    prefix: String,
    env_pairs: Vec<(String, String)>,
    pub(crate) edge: Edge,
    pub(crate) console: Console,
    pub(crate) tata: FakeTata,
    pub(crate) staff: StaffClient,
}

impl Rig {
    pub(crate) async fn start(backend: Backend, name: &str, timeout_ms: &str) -> Self {
        Self::start_with(backend, name, timeout_ms, &[]).await
    }

    /// [`Rig::start`] with more variables.
    pub(crate) async fn start_with(
        backend: Backend,
        name: &str,
        timeout_ms: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        testkit::init_logging();
        let db = TestDb::create(backend).await;
        let prefix = unique_prefix(name);
        let tata = FakeTata::start().await;
        let mut env_pairs: Vec<(String, String)> = vec![
            ("TATA_WHATSAPP_API_URL".into(), tata.url.clone()),
            ("TATA_WHATSAPP_API_KEY".into(), KEY.into()),
            ("TATA_WHATSAPP_TIMEOUT_MS".into(), timeout_ms.into()),
            ("TATA_MEDIA_RETRY_SECS".into(), "1".into()),
            ("ADMIN_TOKEN".into(), ADMIN.into()),
            ("LEAD_API_KEY_CARDEKHO".into(), PARTNER_KEY.into()),
        ];
        env_pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env = Self::env_of(&prefix, &db, &env_pairs);
        let edge = Edge::start(&env).await;
        let console = Console::start(&env).await;
        testkit::add_staff(&db.url, "asha", PASSWORD, Role::Sales).await;
        let staff = StaffClient::sign_in(console.addr, "asha", PASSWORD).await;
        Self {
            db,
            prefix,
            env_pairs,
            edge,
            console,
            tata,
            staff,
        }
    }

    fn env_of(prefix: &str, db: &TestDb, pairs: &[(String, String)]) -> shared::config::Env {
        let extra: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        test_env(prefix, Some(&db.url), &extra)
    }

    pub(crate) fn env(&self) -> shared::config::Env {
        Self::env_of(&self.prefix, &self.db, &self.env_pairs)
    }

    /// A customer writes in, so the 24-hour window is open.
    pub(crate) async fn customer_writes(&self, digits: &str) {
        let wamid = format!("wamid.in-{digits}");
        assert_eq!(
            self.edge
                .post_json("/webhook/", &inbound(digits, &wamid))
                .await
                .status,
            201
        );
        eventually("the customer's message stored", WAIT, || async {
            self.db
                .count(&format!(
                    "SELECT COUNT(*) FROM whatsapp_messages WHERE wamid = '{wamid}'"
                ))
                .await
                == 1
        })
        .await;
    }

    /// The customer's messages move two days back: WhatsApp's 24-hour
    /// window is closed to them.
    pub(crate) async fn window_closes(&self, phone: &str) {
        use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
        let long_ago = chrono::Utc::now() - chrono::Duration::days(2);
        store::entities::whatsapp_messages::Entity::update_many()
            .col_expr(
                store::entities::whatsapp_messages::Column::SentAt,
                Expr::value(long_ago),
            )
            .filter(store::entities::whatsapp_messages::Column::FromNumber.eq(phone))
            .exec(&self.db.conn)
            .await
            .unwrap();
    }

    async fn reply(&self, phone: &str, text: &str) -> String {
        let answer = self
            .staff
            .post_json(
                "/ajax/tata-send-reply/",
                &json!({"phone": phone, "message": text}),
            )
            .await;
        assert_eq!(
            answer.status,
            202,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.json()["reply_id"].as_str().unwrap().to_owned()
    }

    /// The reply as the chat panel shows it.
    async fn shown(&self, phone: &str, reply_id: &str) -> Option<Value> {
        let thread = self
            .staff
            .get(&format!("/ajax/tata-conversations/{phone}/"))
            .await
            .json();
        thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == reply_id)
            .cloned()
    }

    async fn wait_for_state(&self, phone: &str, reply_id: &str, state: &str) -> Value {
        let mut last = None;
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let shown = self.shown(phone, reply_id).await;
                if shown.as_ref().is_some_and(|m| m["state"] == state) {
                    return shown.unwrap();
                }
                last = shown;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!("reply {reply_id} never reached {state}; last seen {last:?}")
        })
    }

    pub(crate) async fn stop(self) {
        self.console.stop().await;
        self.edge.stop().await;
        testkit::cleanup_prefix(&self.prefix).await;
        self.db.drop().await;
    }
}

async fn a_reply_is_sent_once_and_its_receipts_move_it_on(backend: Backend) {
    let rig = Rig::start(backend, "reply-sent", "5000").await;
    let worker = Worker::start(&rig.env());
    rig.customer_writes("919876511111").await;
    rig.tata
        .answer([TataAnswer::SentAfter(Duration::from_millis(1500))]);
    let id = rig
        .reply("+919876511111", "Hello <b>Rohit</b>, the Harrier is ₹25L")
        .await;
    let sent = rig.wait_for_state("+919876511111", &id, "sent").await;
    assert_eq!(sent["text"], "Hello <b>Rohit</b>, the Harrier is ₹25L");
    assert_eq!(sent["sent_by"], "asha");
    // Accepted by Tata: the lead's first response, by Asha; the customer's
    // own message before it was none.
    assert_eq!(
        rig.db
            .count("SELECT COUNT(*) FROM leads l JOIN staff_users u ON u.id = l.first_response_by WHERE l.phone = '+919876511111' AND u.username = 'asha' AND l.first_response_at >= l.clock_started_at")
            .await,
        1
    );
    let calls = rig.tata.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].path, "/v1/whatsapp/messages");
    assert_eq!(calls[0].authorization.as_deref(), Some(KEY));
    assert_eq!(
        calls[0].body,
        json!({"to": "919876511111", "type": "text", "text": {"body": "Hello <b>Rohit</b>, the Harrier is ₹25L", "preview_url": false}})
    );
    let wamid = calls[0].wamid.clone().unwrap();
    // Tata's receipts arrive on the partner webhook, through the edge.
    for status in ["delivered", "read"] {
        let body = receipt(&wamid, status, "919876511111");
        assert_eq!(rig.edge.post_json("/webhook/", &body).await.status, 201);
        rig.wait_for_state("+919876511111", &id, status).await;
    }
    // The webhook log has it, as outgoing, under Tata's id.
    let log = worker
        .admin_get("/logs?direction=outgoing", Some(ADMIN))
        .await
        .json();
    let entries = log["data"]["items"]
        .as_array()
        .or(log["data"].as_array())
        .cloned()
        .unwrap_or_default();
    let text = log.to_string();
    assert!(text.contains(&wamid), "outgoing log: {text}");
    assert!(
        entries.iter().all(|e| e["direction"] == "outgoing"),
        "{text}"
    );
    let incoming = worker
        .admin_get("/logs?direction=incoming", Some(ADMIN))
        .await
        .json()
        .to_string();
    assert!(!incoming.contains("whatsapp_replies"), "{incoming}");
    // Redelivering the same send request changes nothing: still one call.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rig.tata.calls().len(), 1);
    worker.stop().await;
    rig.stop().await;
}

async fn tata_down_then_hanging_is_retried_and_the_reply_sent_once(backend: Backend) {
    let rig = Rig::start(backend, "reply-retry", "1500").await;
    let worker = Worker::start(&rig.env());
    rig.customer_writes("919876522222").await;
    rig.tata.answer([
        TataAnswer::Status(500, r#"{"error": "internal"}"#.into()),
        TataAnswer::Hang,
        TataAnswer::Sent,
    ]);
    let id = rig.reply("+919876522222", "We are open till 8pm").await;
    rig.wait_for_state("+919876522222", &id, "sent").await;
    let calls = rig.tata.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls.iter().filter(|c| c.wamid.is_some()).count(),
        1,
        "sent once"
    );
    let stored =
        store::entities::whatsapp_replies::Entity::find_by_id(id.parse::<uuid::Uuid>().unwrap())
            .one(&rig.db.conn)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(stored.attempts, 3, "three calls recorded");
    assert!(stored.wamid.is_some());
    worker.stop().await;
    rig.stop().await;
}

async fn a_refusal_marks_the_reply_failed_with_tatas_reason(backend: Backend) {
    let rig = Rig::start(backend, "reply-refused", "5000").await;
    let worker = Worker::start(&rig.env());
    rig.customer_writes("919876533333").await;
    rig.tata.answer([TataAnswer::Status(
        400,
        r#"{"error": {"message": "Recipient is not a valid WhatsApp user"}}"#.into(),
    )]);
    let id = rig.reply("+919876533333", "Hello").await;
    let failed = rig.wait_for_state("+919876533333", &id, "failed").await;
    // A reply Tata refused reached nobody: no first response.
    assert_eq!(
        rig.db
            .count("SELECT COUNT(*) FROM leads WHERE phone = '+919876533333' AND first_response_at IS NULL")
            .await,
        1
    );
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.contains("400") && reason.contains("not a valid WhatsApp user"),
        "{reason}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.tata.calls().len(), 1, "a 4xx is final: not retried");
    worker.stop().await;
    rig.stop().await;
}

testkit::on_both_backends!(
    a_reply_is_sent_once_and_its_receipts_move_it_on,
    tata_down_then_hanging_is_retried_and_the_reply_sent_once,
    a_refusal_marks_the_reply_failed_with_tatas_reason,
    messages_beyond_text_show_as_what_they_are_and_a_failed_receipt_says_why,
    a_template_reaches_a_lead_who_never_wrote_and_only_approved_ones_with_their_fields_go,
    a_resolved_or_snoozed_conversation_reopens_when_the_customer_writes_again,
    a_quoted_reply_carries_its_context_and_shows_the_quote,
    a_reaction_goes_out_once_and_sits_on_its_message,
    a_failed_reply_is_sent_again_as_it_was_asked_for,
    a_photo_or_a_pdf_goes_out_at_a_link_only_tata_can_use_until_it_expires,
);

/// Issue 23, files: staff attach a photo or a PDF; it is stored, sent to
/// Tata as a link on the console's public address that needs no session
/// and stops working when it expires, and shown in the thread. What is
/// not a JPEG, a PNG or a PDF (whatever it claims to be) is refused.
async fn a_photo_or_a_pdf_goes_out_at_a_link_only_tata_can_use_until_it_expires(backend: Backend) {
    const BASE: &str = "https://console.dealer.example";
    let rig = Rig::start_with(
        backend,
        "send-file",
        "5000",
        &[("CONSOLE_PUBLIC_URL", BASE)],
    )
    .await;
    let worker = Worker::start(&rig.env());
    rig.customer_writes("919876555555").await;
    rig.customer_writes("919876544445").await;
    let files = "/ajax/tata-conversations/+919876555555/files";
    let png: &[u8] = include_bytes!("car.png");
    for (bytes, claimed, why) in [
        (
            &b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"[..],
            "image/svg+xml",
            "an SVG",
        ),
        (
            &b"<!doctype html><script>alert(1)</script>"[..],
            "image/png",
            "HTML claiming to be a PNG",
        ),
        (&b""[..], "image/png", "an empty file"),
    ] {
        let refused = rig.staff.post_file(files, claimed, "x.png", bytes).await;
        assert_eq!(refused.status, 400, "{why}");
    }
    let uploaded = rig
        .staff
        .post_file(files, "image/png", "exchange%20car.png", png)
        .await;
    assert_eq!(
        uploaded.status,
        201,
        "{}",
        String::from_utf8_lossy(&uploaded.body)
    );
    let photo = uploaded.json()["file_id"].as_str().unwrap().to_owned();
    assert_eq!(uploaded.json()["name"], "exchange car.png");
    // A photo as a phone takes it (megabytes, far over the console's
    // limit for other requests) is taken too.
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(3 * 1024 * 1024, 0x5A);
    let taken = rig
        .staff
        .post_file(files, "image/jpeg", "IMG_0042.jpg", &big)
        .await;
    assert_eq!(
        taken.status,
        201,
        "{}",
        String::from_utf8_lossy(&taken.body)
    );
    assert_eq!(taken.json()["size"], big.len());

    // Another conversation cannot send it.
    let elsewhere = rig
        .staff
        .post_json(
            "/ajax/tata-send-reply/",
            &json!({"phone": "+919876544445", "file_id": photo}),
        )
        .await;
    assert_eq!(elsewhere.status, 400);

    let sent = rig
        .staff
        .post_json(
            "/ajax/tata-send-reply/",
            &json!({"phone": "+919876555555", "file_id": photo, "message": "Your car, as we saw it"}),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", String::from_utf8_lossy(&sent.body));
    let reply = sent.json()["reply_id"].as_str().unwrap().to_owned();
    let shown = rig.wait_for_state("+919876555555", &reply, "sent").await;
    let call = rig
        .tata
        .calls()
        .into_iter()
        .find(|c| c.path == "/v1/whatsapp/messages")
        .unwrap();
    assert_eq!(call.body["type"], "image");
    assert_eq!(call.body["to"], "919876555555");
    assert_eq!(call.body["image"]["caption"], "Your car, as we saw it");
    let link = call.body["image"]["link"].as_str().unwrap().to_owned();
    let path = link
        .strip_prefix(&format!("{BASE}/public/whatsapp-files/"))
        .map(|token| format!("/public/whatsapp-files/{token}"))
        .unwrap_or_else(|| panic!("a link on the public address: {link}"));
    // Tata fetches it with no session.
    let fetched = testkit::http(rig.console.addr, "GET", &path, &[], b"").await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.header("content-type"), Some("image/png"));
    assert_eq!(fetched.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(fetched.body, png);
    let guessed = testkit::http(
        rig.console.addr,
        "GET",
        &format!("/public/whatsapp-files/{}", "0".repeat(64)),
        &[],
        b"",
    )
    .await;
    assert_eq!(guessed.status, 404);
    // The thread shows the photo, from a signed-in address.
    let url = shown["content"]["file"]["url"].as_str().unwrap().to_owned();
    assert_eq!(shown["content"]["file"]["inline"], "image");
    assert_eq!(rig.staff.get(&url).await.body, png);
    assert_eq!(
        testkit::http(rig.console.addr, "GET", &url, &[], b"")
            .await
            .status,
        303,
        "not without a session"
    );

    // A PDF, without a caption: a document with its name.
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";
    let uploaded = rig
        .staff
        .post_file(files, "application/pdf", "quotation.pdf", pdf)
        .await;
    assert_eq!(uploaded.status, 201);
    let quotation = uploaded.json()["file_id"].as_str().unwrap().to_owned();
    let sent = rig
        .staff
        .post_json(
            "/ajax/tata-send-reply/",
            &json!({"phone": "+919876555555", "file_id": quotation}),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", String::from_utf8_lossy(&sent.body));
    let reply = sent.json()["reply_id"].as_str().unwrap().to_owned();
    rig.wait_for_state("+919876555555", &reply, "sent").await;
    let call = rig
        .tata
        .calls()
        .into_iter()
        .filter(|c| c.path == "/v1/whatsapp/messages")
        .nth(1)
        .unwrap();
    assert_eq!(call.body["type"], "document");
    assert_eq!(call.body["document"]["filename"], "quotation.pdf");
    assert!(call.body["document"].get("caption").is_none());
    let path = call.body["document"]["link"]
        .as_str()
        .unwrap()
        .strip_prefix(BASE)
        .unwrap()
        .to_owned();
    let fetched = testkit::http(rig.console.addr, "GET", &path, &[], b"").await;
    assert_eq!(fetched.header("content-type"), Some("application/pdf"));
    assert!(
        fetched
            .header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment"))
    );

    // Once expired, the link answers 404 and the file is not sent again.
    {
        use sea_orm::{EntityTrait, sea_query::Expr};
        store::entities::outbound_files::Entity::update_many()
            .col_expr(
                store::entities::outbound_files::Column::ExpiresAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
            )
            .exec(&rig.db.conn)
            .await
            .unwrap();
    }
    assert_eq!(
        testkit::http(rig.console.addr, "GET", &path, &[], b"")
            .await
            .status,
        404
    );
    let late = rig
        .staff
        .post_json(
            "/ajax/tata-send-reply/",
            &json!({"phone": "+919876555555", "file_id": quotation}),
        )
        .await;
    assert_eq!(late.status, 409);
    worker.stop().await;
    rig.stop().await;
}

/// Issue 23: "Send again" on a failed template sends the template again
/// (its fields and all) to a lead whose window is closed, never its text
/// as free text; free text outside the window, a reply that did not fail
/// and another conversation's reply are refused.
async fn a_failed_reply_is_sent_again_as_it_was_asked_for(backend: Backend) {
    let rig = Rig::start(backend, "send-again", "5000").await;
    rig.tata.set_templates(KEY, json!([
        {"name": "test_drive_invite", "language": "en", "status": "APPROVED", "category": "MARKETING",
         "components": [{"type": "BODY", "text": "Hi {{1}}, your {{2}} test drive is ready."}]},
    ]));
    let worker = Worker::start(&rig.env());
    eventually("the templates fetched", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM whatsapp_templates")
            .await
            == 1
    })
    .await;
    // A customer who wrote two days ago: free text is closed to them.
    rig.customer_writes("919876577777").await;
    rig.customer_writes("919876566666").await;
    rig.window_closes("+919876577777").await;
    rig.tata.answer([TataAnswer::Status(
        400,
        r#"{"error": {"message": "Template paused"}}"#.into(),
    )]);
    let first = rig
        .staff
        .post_json(
            "/ajax/tata-send-reply/",
            &json!({"phone": "+919876577777", "template": {"name": "test_drive_invite", "language": "en", "parameters": ["Ravi", "Nexon"]}}),
        )
        .await;
    assert_eq!(
        first.status,
        202,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let failed_id = first.json()["reply_id"].as_str().unwrap().to_owned();
    rig.wait_for_state("+919876577777", &failed_id, "failed")
        .await;

    let again_path =
        |phone: &str, id: &str| format!("/ajax/tata-conversations/{phone}/replies/{id}/again");
    assert_eq!(
        rig.staff
            .post_json(&again_path("+919876566666", &failed_id), &json!({}))
            .await
            .status,
        404,
        "another conversation's reply"
    );
    let again = rig
        .staff
        .post_json(&again_path("+919876577777", &failed_id), &json!({}))
        .await;
    assert_eq!(
        again.status,
        202,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    let again_id = again.json()["reply_id"].as_str().unwrap().to_owned();
    assert_ne!(again_id, failed_id, "a new reply");
    let sent = rig.wait_for_state("+919876577777", &again_id, "sent").await;
    assert_eq!(sent["text"], "Hi Ravi, your Nexon test drive is ready.");
    let sends: Vec<_> = rig
        .tata
        .calls()
        .into_iter()
        .filter(|c| c.path == "/v1/whatsapp/messages")
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(
        sends[1].body, sends[0].body,
        "the same template, fields and all"
    );
    assert_eq!(sends[1].body["type"], "template");
    assert_eq!(
        rig.staff
            .post_json(&again_path("+919876577777", &again_id), &json!({}))
            .await
            .status,
        409,
        "a sent reply is not sent again"
    );

    // Free text that failed inside the window, then the window closed.
    rig.tata.answer([TataAnswer::Status(
        400,
        r#"{"error": {"message": "Recipient unavailable"}}"#.into(),
    )]);
    let text_id = rig.reply("+919876566666", "Your quote is ready").await;
    rig.wait_for_state("+919876566666", &text_id, "failed")
        .await;
    rig.window_closes("+919876566666").await;
    let closed = rig
        .staff
        .post_json(&again_path("+919876566666", &text_id), &json!({}))
        .await;
    assert_eq!(closed.status, 409);
    assert!(
        closed.json()["error"]
            .as_str()
            .unwrap()
            .contains("24-hour window")
    );
    worker.stop().await;
    rig.stop().await;
}

/// Issue 23, reactions: staff put an emoji on the customer's message; the
/// worker sends it once as a WhatsApp reaction, and the thread shows it on
/// that message with its state, not as a line of its own. Text, another
/// conversation's message and a closed window are refused.
async fn a_reaction_goes_out_once_and_sits_on_its_message(backend: Backend) {
    let rig = Rig::start(backend, "reaction", "5000").await;
    let worker = Worker::start(&rig.env());
    rig.customer_writes("919876588888").await;
    rig.customer_writes("919876599999").await;
    let path = "/ajax/tata-conversations/+919876588888/reactions";
    let theirs = "wamid.in-919876588888";
    for (body, why) in [
        (
            json!({"message_id": theirs, "emoji": "ok"}),
            "text is no reaction",
        ),
        (
            json!({"message_id": "wamid.in-919876599999", "emoji": "👍"}),
            "another conversation's message",
        ),
        (json!({"message_id": theirs}), "no emoji"),
    ] {
        assert_eq!(rig.staff.post_json(path, &body).await.status, 400, "{why}");
    }
    let answer = rig
        .staff
        .post_json(path, &json!({"message_id": theirs, "emoji": "👍"}))
        .await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let reaction_id = answer.json()["reply_id"].as_str().unwrap().to_owned();
    eventually("the reaction sent", WAIT, || async {
        let thread = rig
            .staff
            .get("/ajax/tata-conversations/+919876588888/")
            .await
            .json();
        thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == theirs && m["our_reaction"]["state"] == "sent")
    })
    .await;
    let calls = rig.tata.calls();
    assert_eq!(calls.len(), 1, "sent once");
    assert_eq!(
        calls[0].body,
        json!({"to": "919876588888", "type": "reaction", "reaction": {"message_id": theirs, "emoji": "👍"}})
    );
    let thread = rig
        .staff
        .get("/ajax/tata-conversations/+919876588888/")
        .await
        .json();
    let messages = thread["messages"].as_array().unwrap();
    let on = messages.iter().find(|m| m["id"] == theirs).unwrap();
    assert_eq!(on["our_reaction"]["emoji"], "👍");
    assert_eq!(on["our_reaction"]["by"], "asha");
    assert!(
        messages.iter().all(|m| m["id"] != reaction_id.as_str()),
        "no line of its own: {thread}"
    );
    // Taken off again: an empty emoji, as WhatsApp takes it.
    let off = rig
        .staff
        .post_json(path, &json!({"message_id": theirs, "emoji": ""}))
        .await;
    assert_eq!(off.status, 202, "{}", String::from_utf8_lossy(&off.body));
    eventually("the reaction taken off", WAIT, || async {
        rig.tata.calls().len() == 2
    })
    .await;
    assert_eq!(
        rig.tata.calls()[1].body,
        json!({"to": "919876588888", "type": "reaction", "reaction": {"message_id": theirs, "emoji": ""}})
    );
    let thread = rig
        .staff
        .get("/ajax/tata-conversations/+919876588888/")
        .await
        .json();
    let on = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == theirs)
        .unwrap()
        .clone();
    assert!(on["our_reaction"].is_null(), "{on}");
    // No public address for Tata to fetch files from: none is taken.
    let png = include_bytes!("car.png");
    let refused = rig
        .staff
        .post_file(
            "/ajax/tata-conversations/+919876588888/files",
            "image/png",
            "car.png",
            png,
        )
        .await;
    assert_eq!(refused.status, 409);
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("CONSOLE_PUBLIC_URL")
    );
    // A day and more later, WhatsApp takes no reaction.
    rig.window_closes("+919876588888").await;
    assert_eq!(
        rig.staff
            .post_json(path, &json!({"message_id": theirs, "emoji": "🙏"}))
            .await
            .status,
        409
    );
    worker.stop().await;
    rig.stop().await;
}

/// Issue 23, templates: Tata's list is fetched at start and on a manager's
/// request (through the broker), only approved templates the panel can fill
/// are offered, and one reaches a CarDekho lead who never wrote on WhatsApp
/// with exactly the body the contract shows; free text to them is refused,
/// and a template with the wrong fields never leaves the console.
async fn a_template_reaches_a_lead_who_never_wrote_and_only_approved_ones_with_their_fields_go(
    backend: Backend,
) {
    let rig = Rig::start(backend, "reply-template", "5000").await;
    rig.tata.set_templates(KEY, json!([
        {"name": "test_drive_invite", "language": "en", "status": "APPROVED", "category": "MARKETING",
         "components": [{"type": "BODY", "text": "Hi {{1}}, your {{2}} test drive is ready. Reply YES to book."}]},
        {"name": "festive_offer", "language": "en", "status": "PENDING", "category": "MARKETING",
         "components": [{"type": "BODY", "text": "Our Diwali offers are here"}]},
        {"name": "brochure", "language": "en", "status": "APPROVED", "category": "MARKETING",
         "components": [{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Here is the brochure"}]},
    ]));
    let worker = Worker::start(&rig.env());
    eventually("the templates fetched at start", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM whatsapp_templates")
            .await
            == 3
    })
    .await;
    let offered = rig.staff.get("/ajax/whatsapp/templates").await.json();
    let names: Vec<&str> = offered["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["test_drive_invite"], "{offered}");
    assert_eq!(offered["templates"][0]["parameters"], 2);
    assert_eq!(offered["can_refresh"], false);

    // A CarDekho lead who never wrote on WhatsApp.
    let portal = json!({"name": "Ravi Kumar", "phone_number": "+919876544444", "car_model": "MG Windsor EV"});
    let posted = rig
        .edge
        .post(
            "/admin/mg-digital-leads/source/cardekho",
            &[("X-API-Key", PARTNER_KEY)],
            &portal.to_string(),
        )
        .await;
    assert_eq!(posted.status, 201);
    eventually("the lead written", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM leads WHERE phone = '+919876544444'")
            .await
            == 1
    })
    .await;
    let thread = rig
        .staff
        .get("/ajax/tata-conversations/+919876544444/")
        .await
        .json();
    assert_eq!(thread["window_open"], false);
    assert_eq!(thread["lead"]["vehicle"], "MG Windsor EV");
    let free = rig
        .staff
        .post_json(
            "/ajax/tata-send-reply/",
            &json!({"phone": "+919876544444", "message": "Hello"}),
        )
        .await;
    assert_eq!(
        free.status, 404,
        "free text needs the customer to write first"
    );

    let send = |template: Value| {
        let staff = &rig.staff;
        async move {
            staff
                .post_json(
                    "/ajax/tata-send-reply/",
                    &json!({"phone": "+919876544444", "template": template}),
                )
                .await
        }
    };
    for (template, status, says) in [
        (
            json!({"name": "test_drive_invite", "language": "en", "parameters": ["Ravi"]}),
            400,
            "takes 2 field(s), not 1",
        ),
        (
            json!({"name": "festive_offer", "language": "en", "parameters": []}),
            409,
            "PENDING",
        ),
        (
            json!({"name": "brochure", "language": "en", "parameters": []}),
            400,
            "header",
        ),
        (
            json!({"name": "no_such", "language": "en", "parameters": []}),
            400,
            "no template",
        ),
        (
            json!({"name": "test_drive_invite", "language": "en", "parameters": ["Ravi", "two\nlines"]}),
            400,
            "line break",
        ),
    ] {
        let refused = send(template.clone()).await;
        assert_eq!(refused.status, status, "{template}");
        let error = refused.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(says), "{template}: {error}");
    }
    assert!(
        rig.tata
            .calls()
            .iter()
            .all(|c| c.path != "/v1/whatsapp/messages")
    );

    let accepted = send(json!({"name": "test_drive_invite", "language": "en", "parameters": ["Ravi", "MG Windsor EV"]})).await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.json());
    let id = accepted.json()["reply_id"].as_str().unwrap().to_owned();
    let sent = rig.wait_for_state("+919876544444", &id, "sent").await;
    assert_eq!(
        sent["text"],
        "Hi Ravi, your MG Windsor EV test drive is ready. Reply YES to book."
    );
    let messages: Vec<_> = rig
        .tata
        .calls()
        .into_iter()
        .filter(|c| c.path == "/v1/whatsapp/messages")
        .collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].body,
        json!({"to": "919876544444", "type": "template",
               "template": {"name": "test_drive_invite", "language": {"code": "en"},
                            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ravi"}, {"type": "text", "text": "MG Windsor EV"}]}]}})
    );
    // The same through the template route, with the body the issue's API
    // names: sent the same way; refused the same way.
    let route = |body: Value| {
        let staff = &rig.staff;
        async move { staff.post_json("/ajax/tata-send-template/", &body).await }
    };
    for (body, status) in [
        (
            json!({"phone": "+919876544444", "template": "test_drive_invite", "language": "en", "parameters": ["Ravi"]}),
            400,
        ),
        (
            json!({"phone": "+919876544444", "template": "no_such", "language": "en", "parameters": []}),
            400,
        ),
        (
            json!({"phone": "+919876544444", "template": "festive_offer", "language": "en", "parameters": []}),
            409,
        ),
    ] {
        assert_eq!(route(body.clone()).await.status, status, "{body}");
    }
    let again = route(json!({"phone": "+919876544444", "template": "test_drive_invite", "language": "en", "parameters": ["Ravi", "MG Windsor EV"]})).await;
    assert_eq!(again.status, 202, "{:?}", again.json());
    let again_id = again.json()["reply_id"].as_str().unwrap().to_owned();
    rig.wait_for_state("+919876544444", &again_id, "sent").await;
    let sends: Vec<_> = rig
        .tata
        .calls()
        .into_iter()
        .filter(|c| c.path == "/v1/whatsapp/messages")
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[1].body, sends[0].body);
    // Accepted by Tata: the lead's first response.
    assert_eq!(
        rig.db
            .count("SELECT COUNT(*) FROM leads WHERE phone = '+919876544444' AND first_response_at IS NOT NULL")
            .await,
        1
    );

    // Tata's list changes; a manager asks for it again (a salesperson may not).
    rig.tata.set_templates(KEY, json!([
        {"name": "test_drive_invite", "language": "en", "status": "PAUSED", "category": "MARKETING",
         "components": [{"type": "BODY", "text": "Hi {{1}}, your {{2}} test drive is ready. Reply YES to book."}]},
        {"name": "service_reminder", "language": "hi", "status": "APPROVED", "category": "UTILITY",
         "components": [{"type": "BODY", "text": "Namaste {{1}}"}]},
    ]));
    assert_eq!(
        rig.staff
            .post_json("/ajax/whatsapp/templates/refresh", &json!({}))
            .await
            .status,
        403
    );
    testkit::add_staff(&rig.db.url, "mona", PASSWORD, Role::Manager).await;
    let manager = StaffClient::sign_in(rig.console.addr, "mona", PASSWORD).await;
    assert_eq!(
        manager.get("/ajax/whatsapp/templates").await.json()["can_refresh"],
        true
    );
    assert_eq!(
        manager
            .post_json("/ajax/whatsapp/templates/refresh", &json!({}))
            .await
            .status,
        202
    );
    eventually("the new list stored", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM whatsapp_templates WHERE name IN ('service_reminder') OR (name = 'test_drive_invite' AND status = 'PAUSED')")
            .await
            == 2
            && rig.db.count("SELECT COUNT(*) FROM whatsapp_templates").await == 2
    })
    .await;
    let offered = rig.staff.get("/ajax/whatsapp/templates").await.json();
    assert_eq!(
        offered["templates"][0]["name"], "service_reminder",
        "{offered}"
    );
    assert_eq!(offered["templates"].as_array().unwrap().len(), 1);
    worker.stop().await;
    rig.stop().await;
}

/// Issue 23, a team's inbox: staff set a conversation's status; a new
/// message from the customer reopens a resolved or snoozed one, an older
/// message arriving late does not; bad statuses are refused; the status is
/// in the person's export.
async fn a_resolved_or_snoozed_conversation_reopens_when_the_customer_writes_again(
    backend: Backend,
) {
    let rig = Rig::start(backend, "conversation-status", "5000").await;
    let worker = Worker::start(&rig.env());
    rig.customer_writes("919876566666").await;
    let phone = "+919876566666";
    let path = format!("/ajax/tata-conversations/{phone}/status");
    let future = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    for body in [
        json!({"status": "closed"}),
        json!({"status": "snoozed", "snoozed_until": "tomorrow"}),
        json!({"status": "snoozed", "snoozed_until": past}),
        json!({"status": "open", "snoozed_until": future}),
    ] {
        let refused = rig.staff.post_json(&path, &body).await;
        assert_eq!(refused.status, 400, "{body}");
    }
    let status_of = || async {
        rig.staff
            .get(&format!("/ajax/tata-conversations/{phone}/"))
            .await
            .json()["status"]
            .clone()
    };
    let staff = &rig.staff;
    let listed = |status: &'static str| async move {
        staff
            .get(&format!("/ajax/tata-conversations/?status={status}"))
            .await
            .json()["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["phone"] == phone)
    };
    assert_eq!(status_of().await, "open", "no status set: open");
    assert_eq!(
        rig.staff
            .post_json(&path, &json!({"status": "resolved"}))
            .await
            .status,
        200
    );
    assert_eq!(status_of().await, "resolved");
    assert!(listed("resolved").await && !listed("open").await);
    assert_eq!(
        rig.staff
            .get("/ajax/tata-conversations/?status=closed")
            .await
            .status,
        400
    );

    // A message the customer sent an hour ago, arriving late, changes nothing.
    let late = json!({"messages": [{"from": "919876566666", "id": "wamid.late", "timestamp": (chrono::Utc::now().timestamp() - 3600).to_string(), "type": "text", "text": {"body": "sent earlier"}}]});
    assert_eq!(
        rig.edge
            .post_json("/webhook/", &late.to_string())
            .await
            .status,
        201
    );
    eventually("the late message stored", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM whatsapp_messages WHERE wamid = 'wamid.late'")
            .await
            == 1
    })
    .await;
    assert_eq!(status_of().await, "resolved");

    // A new message reopens it.
    assert_eq!(
        rig.edge
            .post_json("/webhook/", &inbound("919876566666", "wamid.again"))
            .await
            .status,
        201
    );
    eventually("reopened", WAIT, || async { status_of().await == "open" }).await;

    // Snoozed for an hour: listed as snoozed; a new message reopens it too.
    let snoozed = rig
        .staff
        .post_json(
            &path,
            &json!({"status": "snoozed", "snoozed_until": future}),
        )
        .await;
    assert_eq!(snoozed.status, 200);
    assert!(listed("snoozed").await);
    assert_eq!(
        rig.edge
            .post_json("/webhook/", &inbound("919876566666", "wamid.third"))
            .await
            .status,
        201
    );
    eventually("reopened from a snooze", WAIT, || async {
        status_of().await == "open"
    })
    .await;
    let export = console::person::export(&rig.db.conn, phone).await.unwrap();
    assert_eq!(
        export["tables"]["conversation_states"][0]["status"], "open",
        "{export}"
    );
    worker.stop().await;
    rig.stop().await;
}

/// Issue 23, quoted replies: a reply quoting the customer's message goes to
/// Tata with the message as its `context` and shows the quote above it; a
/// quote from outside the conversation is refused.
async fn a_quoted_reply_carries_its_context_and_shows_the_quote(backend: Backend) {
    let rig = Rig::start(backend, "reply-quote", "5000").await;
    let worker = Worker::start(&rig.env());
    rig.customer_writes("919876577777").await;
    rig.customer_writes("919876588888").await;
    let phone = "+919876577777";
    let refused = rig
        .staff
        .post_json(
            "/ajax/tata-send-reply/",
            &json!({"phone": phone, "message": "Yes", "quote": "wamid.in-919876588888"}),
        )
        .await;
    assert_eq!(refused.status, 400, "another conversation's message");
    let accepted = rig
        .staff
        .post_json(
            "/ajax/tata-send-reply/",
            &json!({"phone": phone, "message": "₹25L on road", "quote": "wamid.in-919876577777"}),
        )
        .await;
    assert_eq!(accepted.status, 202);
    let id = accepted.json()["reply_id"].as_str().unwrap().to_owned();
    let sent = rig.wait_for_state(phone, &id, "sent").await;
    assert_eq!(sent["quoted"]["text"], "Price of the Harrier?");
    let calls = rig.tata.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0].body,
        json!({"to": "919876577777", "type": "text", "text": {"body": "₹25L on road", "preview_url": false},
               "context": {"message_id": "wamid.in-919876577777"}})
    );
    worker.stop().await;
    rig.stop().await;
}

/// Issue 23, inbound beyond text: every type the media contract lists is
/// stored and shown as what it is (a location with a map link, a contact
/// card, the button pressed, a photo's caption, a notice for what WhatsApp
/// could not show), a reaction on the message it reacts to, a quote above
/// the quoting message; and a failed receipt's error in plain words on
/// the reply.
async fn messages_beyond_text_show_as_what_they_are_and_a_failed_receipt_says_why(
    backend: Backend,
) {
    let rig = Rig::start(backend, "rich", "5000").await;
    let worker = Worker::start(&rig.env());
    rig.customer_writes("919876522222").await;
    rig.tata.answer([TataAnswer::SentAfter(Duration::ZERO)]);
    let reply = rig.reply("+919876522222", "Which colour?").await;
    rig.wait_for_state("+919876522222", &reply, "sent").await;
    let reply_wamid = rig.tata.calls()[0].wamid.clone().unwrap();
    let at = chrono::Utc::now().timestamp().to_string();
    let from = "919876522222";
    let message = |id: &str, kind: &str, member: Value| {
        let mut m = json!({"from": from, "id": id, "timestamp": at, "type": kind});
        m[kind] = member;
        m
    };
    let mut location = message(
        "wamid.loc",
        "location",
        json!({"latitude": 19.0760, "longitude": 72.8777, "name": "Andheri showroom"}),
    );
    location["context"] = json!({"id": reply_wamid});
    let mut unsupported =
        json!({"from": from, "id": "wamid.uns", "timestamp": at, "type": "unsupported"});
    unsupported["errors"] = json!([{"code": 131051, "title": "Message type unknown"}]);
    let body = json!({"messages": [
        location,
        message("wamid.card", "contacts", json!([{"name": {"formatted_name": "Ravi Kumar"}, "phones": [{"phone": "+919800000001", "type": "CELL"}]}])),
        message("wamid.btn", "button", json!({"text": "Book a test drive", "payload": "TD"})),
        message("wamid.list", "interactive", json!({"type": "list_reply", "list_reply": {"id": "red", "title": "Red"}})),
        message("wamid.img", "image", json!({"id": "media-1", "mime_type": "image/jpeg", "sha256": "x", "caption": "my old car"})),
        message("wamid.rct", "reaction", json!({"message_id": format!("wamid.in-{from}"), "emoji": "👍"})),
        unsupported,
    ]});
    assert_eq!(
        rig.edge
            .post_json("/webhook/", &body.to_string())
            .await
            .status,
        201
    );
    let failed = json!({"statuses": [{"id": reply_wamid, "status": "failed", "timestamp": at, "recipient_id": from,
        "errors": [{"code": 131047, "title": "Re-engagement message"}]}]});
    assert_eq!(
        rig.edge
            .post_json("/webhook/", &failed.to_string())
            .await
            .status,
        201
    );
    let shown = rig.wait_for_state("+919876522222", &reply, "failed").await;
    assert!(
        shown["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("More than 24 hours") && r.contains("131047")),
        "{shown}"
    );
    eventually("every message stored", WAIT, || async {
        rig.db
            .count("SELECT COUNT(*) FROM whatsapp_messages WHERE direction = 'inbound'")
            .await
            == 8
    })
    .await;
    let thread = rig
        .staff
        .get("/ajax/tata-conversations/+919876522222/")
        .await
        .json();
    let messages = thread["messages"].as_array().unwrap();
    let by_id = |id: &str| {
        messages
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {thread}"))
            .clone()
    };
    let first = by_id(&format!("wamid.in-{from}"));
    assert_eq!(first["reaction"], "👍", "the reaction sits on its message");
    assert!(
        messages.iter().all(|m| m["id"] != "wamid.rct"),
        "no line of its own for a reaction shown on its message"
    );
    let location = by_id("wamid.loc");
    assert_eq!(location["content"]["type"], "location");
    assert_eq!(location["text"], "Location: Andheri showroom");
    assert!(
        location["content"]["map_url"]
            .as_str()
            .unwrap()
            .starts_with("https://www.openstreetmap.org/?mlat=19.076&mlon=72.8777")
    );
    assert_eq!(location["quoted"]["id"], reply_wamid.as_str());
    assert_eq!(location["quoted"]["text"], "Which colour?");
    let card = by_id("wamid.card");
    assert_eq!(card["content"]["cards"][0]["name"], "Ravi Kumar");
    assert_eq!(card["content"]["cards"][0]["phones"][0], "+919800000001");
    assert_eq!(by_id("wamid.btn")["text"], "Book a test drive");
    assert_eq!(by_id("wamid.list")["text"], "Red");
    let photo = by_id("wamid.img");
    assert_eq!(photo["text"], "Photo: my old car");
    assert_eq!(photo["content"]["type"], "media");
    assert_eq!(photo["content"]["mime_type"], "image/jpeg");
    let notice = by_id("wamid.uns");
    assert_eq!(notice["content"]["type"], "unsupported");
    assert_eq!(notice["content"]["reason"], "Message type unknown");
    worker.stop().await;
    rig.stop().await;
}

/// A worker dies while Tata holds its call. Whatever Tata did with it, the
/// next worker must not call again by itself: the reply shows "unknown",
/// and sending it again is a person's decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_call_never_sends_twice_without_anyone_knowing() {
    let rig = Rig::start(Backend::Postgres, "reply-sigkill", "30000").await;
    rig.tata.answer([TataAnswer::Hang]);
    let mut doomed = testkit::die_with_test(&mut tokio::process::Command::new(
        testkit::built_binary("worker"),
    ))
    .envs(rig.env_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    .env("AMQP_URL", testkit::amqp_url())
    .env("AMQP_PREFIX", &rig.prefix)
    .env("DATABASE_URL", &rig.db.url)
    .env("ADMIN_ADDR", "off")
    .env("RUST_LOG", "warn")
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    rig.customer_writes("919876544444").await;
    let id = rig.reply("+919876544444", "Your test drive is at 11").await;
    eventually("the worker is calling Tata", WAIT, || async {
        rig.tata.calls().len() == 1
    })
    .await;
    doomed.start_kill().unwrap();
    within("the killed worker to exit", WAIT, doomed.wait())
        .await
        .unwrap();

    let worker = Worker::start(&rig.env());
    let unknown = rig.wait_for_state("+919876544444", &id, "unknown").await;
    assert!(
        unknown["reason"]
            .as_str()
            .unwrap()
            .contains("may or may not")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rig.tata.calls().len(),
        1,
        "no second call without a person deciding"
    );
    // Staff decide to send it again: a new reply, sent once.
    let again = rig.reply("+919876544444", "Your test drive is at 11").await;
    rig.wait_for_state("+919876544444", &again, "sent").await;
    assert_eq!(rig.tata.calls().len(), 2);
    worker.stop().await;
    rig.stop().await;
}
