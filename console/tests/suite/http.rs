//! The console over HTTP, against a real broker and database: who gets in,
//! CSRF on every POST, throttled sign-ins, and every refusal of
//! `POST /ajax/tata-send-reply/`.

use console::auth::Role;
use serde_json::json;
use std::time::Duration;
use testkit::{Backend, Stack, StaffClient, eventually, http};

const PASSWORD: &str = "a long enough password";

/// An inbound WhatsApp message from `from` (digits), sent `age` ago.
fn whatsapp(from: &str, wamid: &str, text: &str, age: chrono::TimeDelta) -> String {
    let at = (chrono::Utc::now() - age).timestamp();
    json!({
        "contacts": [{"profile": {"name": "Rohit"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": at.to_string(), "type": "text", "text": {"body": text}}],
        "businessPhoneNumber": "+919355421616"
    })
    .to_string()
}

/// The whole system with one salesperson, asha.
async fn start(backend: Backend, name: &str) -> Stack {
    let stack = Stack::start(backend, name, &[]).await;
    testkit::add_staff(&stack.db.url, "asha", PASSWORD, Role::Sales).await;
    stack
}

async fn every_route_refuses_without_a_session(backend: Backend) {
    let rig = start(backend, "console-closed").await;
    let addr = rig.console.addr;
    for page in [
        "/",
        "/tata-chat/",
        "/leads/",
        "/leads/0190a4f3-0000-7000-8000-000000000000",
        "/follow-ups/",
    ] {
        let response = http(addr, "GET", page, &[], b"").await;
        assert!(
            matches!(response.status, 303 | 307),
            "{page}: {}",
            response.status
        );
        assert_eq!(response.header("location"), Some("/login"), "{page}");
    }
    for (method, path) in [
        ("GET", "/ajax/tata-conversations/"),
        ("GET", "/ajax/tata-conversations/+919876543210/"),
        ("POST", "/ajax/tata-send-reply/"),
        ("POST", "/ajax/tata-conversations/+919876543210/read"),
        ("GET", "/ajax/whatsapp/templates"),
        ("POST", "/ajax/whatsapp/templates/refresh"),
    ] {
        let response = http(
            addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            b"{}",
        )
        .await;
        assert_eq!(response.status, 401, "{method} {path}");
        assert_eq!(response.json()["error"], "sign in first");
    }
    // A made-up session cookie is no session.
    let forged = http(
        addr,
        "GET",
        "/ajax/tata-conversations/",
        &[("Cookie", "leadpipe_session=0123456789abcdef")],
        b"",
    )
    .await;
    assert_eq!(forged.status, 401);
    rig.stop().await;
}

async fn sign_in_sets_a_strict_http_only_cookie_and_every_post_needs_the_csrf_token(
    backend: Backend,
) {
    let rig = start(backend, "console-csrf").await;
    let addr = rig.console.addr;
    // The login form itself is protected by a double-submit token.
    let forged = testkit::post_login(addr, "asha", PASSWORD, Some("forged")).await;
    assert_eq!(forged.status, 403);
    let signed_in = testkit::post_login(addr, "asha", PASSWORD, None).await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.header("location"), Some("/tata-chat/"));
    let set = signed_in
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("leadpipe_session="))
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");

    let staff = StaffClient::sign_in(addr, "asha", PASSWORD).await;
    let page = staff.get("/tata-chat/").await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains(r#"<meta name="csrf-token""#));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no outside URL in the page"
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    // Without the token, or with another, every POST is refused.
    for token in [None, Some("0000")] {
        let mut headers = vec![
            ("Cookie", staff.cookie.as_str()),
            ("Content-Type", "application/json"),
        ];
        if let Some(token) = token {
            headers.push(("X-CSRF-Token", token));
        }
        let body = json!({"phone": "+919876543210", "message": "hi"}).to_string();
        for path in ["/ajax/tata-send-reply/", "/ajax/whatsapp/templates/refresh"] {
            let refused = http(addr, "POST", path, &headers, body.as_bytes()).await;
            assert_eq!(refused.status, 403, "{path}, token {token:?}");
        }
    }
    let logout = http(
        addr,
        "POST",
        "/logout",
        &[
            ("Cookie", &staff.cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"csrf_token=wrong",
    )
    .await;
    assert_eq!(logout.status, 403);
    let done = http(
        addr,
        "POST",
        "/follow-ups/0190a4f3-0000-7000-8000-000000000000/done",
        &[
            ("Cookie", &staff.cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"",
    )
    .await;
    assert_eq!(done.status, 403);
    // With it, sign-out works and the session is gone.
    let out = staff.post_form("/logout").await;
    assert_eq!(out.status, 303);
    assert_eq!(staff.get("/ajax/tata-conversations/").await.status, 401);
    // Assets are served by the console itself.
    let js = http(addr, "GET", "/assets/console.js", &[], b"").await;
    assert_eq!(js.status, 200);
    assert!(!String::from_utf8_lossy(&js.body).contains("innerHTML"));
    rig.stop().await;
}

async fn wrong_passwords_are_throttled(backend: Backend) {
    let rig = start(backend, "console-throttle").await;
    let addr = rig.console.addr;
    let attempt = |password: &'static str| async move {
        testkit::post_login(addr, "asha", password, None)
            .await
            .status
    };
    for _ in 0..console::throttle::PER_USER {
        assert_eq!(attempt("not the password").await, 401);
    }
    // Now even the right password waits.
    assert_eq!(attempt(PASSWORD).await, 429);
    rig.stop().await;
}

async fn send_reply_refuses_what_tata_would_and_accepts_a_reply_in_the_window(backend: Backend) {
    let rig = start(backend, "console-reply-4xx").await;
    let staff = StaffClient::sign_in(rig.console.addr, "asha", PASSWORD).await;
    let fresh = whatsapp(
        "919876500001",
        "wamid.fresh-1",
        "Is the Nexon available?",
        chrono::TimeDelta::minutes(5),
    );
    let stale = whatsapp(
        "919876500002",
        "wamid.stale-1",
        "hello",
        chrono::TimeDelta::hours(30),
    );
    assert_eq!(rig.edge.post_json("/webhook/", &fresh).await.status, 201);
    assert_eq!(rig.edge.post_json("/webhook/", &stale).await.status, 201);
    eventually(
        "both messages persisted",
        Duration::from_secs(30),
        || async { rig.db.count("SELECT COUNT(*) FROM whatsapp_messages").await == 2 },
    )
    .await;

    let send = |phone: &str, message: serde_json::Value| {
        let body = json!({"phone": phone, "message": message});
        let staff = &staff;
        async move { staff.post_json("/ajax/tata-send-reply/", &body).await }
    };
    let malformed = send("12345", json!("hi")).await;
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.json()["error"]
            .as_str()
            .unwrap()
            .contains("valid phone number")
    );
    let empty = send("+919876500001", json!("   ")).await;
    assert_eq!(empty.status, 400);
    assert_eq!(empty.json()["error"], "message is empty");
    let long = send("+919876500001", json!("x".repeat(4097))).await;
    assert_eq!(long.status, 400);
    assert!(long.json()["error"].as_str().unwrap().contains("4096"));
    let not_json = staff
        .post_json("/ajax/tata-send-reply/", &json!("just a string"))
        .await;
    assert_eq!(not_json.status, 400);
    let unknown = send("+919876500099", json!("hi")).await;
    assert_eq!(unknown.status, 404);
    let outside = send("+919876500002", json!("hi")).await;
    assert_eq!(outside.status, 409);
    assert!(
        outside.json()["error"]
            .as_str()
            .unwrap()
            .contains("24-hour window")
    );
    // Any spelling of the number is the same customer.
    let accepted = send("09876500001", json!("Yes, come by today")).await;
    assert_eq!(
        accepted.status,
        202,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    assert!(accepted.json()["reply_id"].as_str().is_some());

    let list = staff.get("/ajax/tata-conversations/").await.json();
    let conversations = list["conversations"].as_array().unwrap();
    let fresh = conversations
        .iter()
        .find(|c| c["phone"] == "+919876500001")
        .unwrap();
    assert_eq!(fresh["window_open"], true);
    assert_eq!(fresh["name"], "Rohit");
    assert!(fresh["lead_id"].as_str().is_some());
    let stale = conversations
        .iter()
        .find(|c| c["phone"] == "+919876500002")
        .unwrap();
    assert_eq!(stale["window_open"], false);
    assert_eq!(stale["unread"], 1);
    let searched = staff.get("/ajax/tata-conversations/?q=500002").await.json();
    assert_eq!(searched["conversations"].as_array().unwrap().len(), 1);
    // Opening a conversation reads it.
    let read = staff
        .post_json("/ajax/tata-conversations/+919876500002/read", &json!({}))
        .await;
    assert_eq!(read.status, 204);
    let list = staff.get("/ajax/tata-conversations/?q=500002").await.json();
    assert_eq!(list["conversations"][0]["unread"], 0);
    let bad_page = staff
        .get("/ajax/tata-conversations/+919876500002/?before=yesterday")
        .await;
    assert_eq!(bad_page.status, 400);
    rig.stop().await;
}

testkit::on_both_backends!(
    every_route_refuses_without_a_session,
    sign_in_sets_a_strict_http_only_cookie_and_every_post_needs_the_csrf_token,
    wrong_passwords_are_throttled,
    send_reply_refuses_what_tata_would_and_accepts_a_reply_in_the_window,
);

/// A client that trickles its request head is cut off (slowloris), and
/// others are still served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rig = start(Backend::Sqlite, "console-slow").await;
    let mut slow = tokio::net::TcpStream::connect(rig.console.addr)
        .await
        .unwrap();
    slow.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert_eq!(
        http(rig.console.addr, "GET", "/login", &[], b"")
            .await
            .status,
        200
    );
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the slow connection was never closed");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    rig.stop().await;
}
