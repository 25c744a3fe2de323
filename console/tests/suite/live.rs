//! Pushed updates (issue 27) against the real edge, worker, two console
//! processes, broker and database: each open page's event stream hears of
//! what its user may see (a salesperson their own leads and their team's
//! unassigned ones, a manager everything, a notification only its
//! addressee), every console process hears of every change, and a page
//! that lost its connection resumes from the last id it saw.

use console::auth::Role;
use std::time::Duration;
use testkit::{
    Backend, Console, Edge, SseEvent, StaffClient, TestDb, Worker, eventually, http, test_env,
    unique_prefix,
};

const PASSWORD: &str = "a long enough password";
const WAIT: Duration = Duration::from_secs(60);

testkit::on_both_backends!(open_pages_hear_what_their_user_may_see_and_resume_after_a_drop,);

fn about(event: &SseEvent, kind: &str, lead: &str) -> bool {
    event.event == kind && event.data["lead"] == lead
}

async fn open_pages_hear_what_their_user_may_see_and_resume_after_a_drop(backend: Backend) {
    testkit::init_logging();
    let db = TestDb::create(backend).await;
    let prefix = unique_prefix("live");
    // A lead unanswered for 4 s is overdue, whatever the hour.
    let env = test_env(
        &prefix,
        Some(&db.url),
        &[
            ("DESK_RESPONSE_TARGET_SECS", "1"),
            ("DESK_ESCALATE_AFTER_SECS", "4"),
            ("DESK_BUSINESS_HOURS", "00:00-24:00"),
            ("DESK_SWEEP_MILLIS", "200"),
        ],
    );
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    let front = Console::start(&env).await;
    let back = Console::start(&env).await;
    testkit::add_team(&db.url, "MG sales", true).await;
    testkit::add_member(&db.url, "asha", PASSWORD, Role::Sales, &["MG sales"], true).await;
    testkit::add_member(&db.url, "ravi", PASSWORD, Role::Sales, &["MG sales"], false).await;
    testkit::add_member(
        &db.url,
        "mona",
        PASSWORD,
        Role::Manager,
        &["MG sales"],
        false,
    )
    .await;
    let asha = StaffClient::sign_in(front.addr, "asha", PASSWORD).await;
    let ravi = StaffClient::sign_in(front.addr, "ravi", PASSWORD).await;
    // Another team's salesperson.
    testkit::add_team(&db.url, "Tata sales", false).await;
    testkit::add_member(
        &db.url,
        "kiran",
        PASSWORD,
        Role::Sales,
        &["Tata sales"],
        true,
    )
    .await;
    let kiran = StaffClient::sign_in(front.addr, "kiran", PASSWORD).await;
    // The manager's page is served by the other console process.
    let mona = StaffClient::sign_in(back.addr, "mona", PASSWORD).await;

    // Signed out: no stream.
    let refused = http(front.addr, "GET", "/ajax/events", &[], b"").await;
    assert_eq!(refused.status, 401);

    let mut asha_page = asha.events(None).await;
    let mut ravi_page = ravi.events(None).await;
    let mut kiran_page = kiran.events(None).await;
    let mut mona_page = mona.events(None).await;
    let write = |wamid: &'static str, text: &'static str| {
        let edge = &edge;
        async move {
            let body = testkit::examples::whatsapp_text("919833300001", wamid, text);
            assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201);
        }
    };

    // A new lead: created and given to Asha (the only member on duty), who
    // is told; the manager's page, on the other process, hears of it too.
    write("wamid.L1", "Is the Hector available?").await;
    eventually("the lead assigned", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE owner_id IS NOT NULL")
            .await
            == 1
    })
    .await;
    let lead = db
        .uuid("SELECT id FROM leads WHERE phone = '+919833300001'")
        .await
        .to_string();
    asha_page
        .until("Asha's assignment notice", WAIT, |e| {
            e.event == "notification"
        })
        .await;
    // The event says she has news; her notifications say which.
    let notices = asha.get("/ajax/notifications/").await.json();
    assert_eq!(notices["notifications"][0]["lead_id"], lead.as_str());
    asha_page
        .heard("the lead's change", WAIT, |e| about(e, "lead", &lead))
        .await;
    mona_page
        .until("the lead's change on the other process", WAIT, |e| {
            about(e, "lead", &lead)
        })
        .await;

    // Now Asha's: her page hears the customer's next message (as hers),
    // the manager's too, with the same id; Ravi's does not.
    write("wamid.L2", "And its price?").await;
    let message = asha_page
        .until("the second message", WAIT, |e| {
            about(e, "message", &lead) && e.data["mine"] == true
        })
        .await;
    assert_eq!(message.data["phone"], "+919833300001", "{message:?}");
    let on_back = mona_page
        .until("the second message on the other process", WAIT, |e| {
            about(e, "message", &lead) && e.id == message.id
        })
        .await;
    assert_eq!(on_back.data["mine"], false);
    // Both processes read the same feed: what Ravi's could have heard of
    // it has come by now.
    let ravi_heard = ravi_page.drain_for(Duration::from_secs(1)).await;
    assert!(
        !ravi_heard.iter().any(|e| e.id == message.id),
        "Ravi heard of Asha's lead: {ravi_heard:?}"
    );
    assert!(
        !ravi_page.seen.iter().any(|e| e.event == "notification"),
        "Ravi heard Asha's notification: {:?}",
        ravi_page.seen
    );
    let kiran_heard = kiran_page.drain_for(Duration::from_millis(200)).await;
    assert!(
        !kiran_heard.iter().any(|e| e.id == message.id)
            && !kiran_page.seen.iter().any(|e| e.event == "notification"),
        "Kiran, of another team, heard of MG's lead: {:?}",
        kiran_page.seen
    );

    // Asha's connection drops; a message comes meanwhile; her page
    // reconnects with the last id it saw and hears of it first.
    let last = message.id.clone();
    drop(asha_page);
    write("wamid.L3", "Call me after 6.").await;
    eventually("the third message stored", WAIT, || async {
        db.count("SELECT COUNT(*) FROM whatsapp_messages").await == 3
    })
    .await;
    let mut asha_page = asha.events(Some(&last)).await;
    let missed = asha_page
        .until("the message missed while away", WAIT, |e| {
            about(e, "message", &lead)
        })
        .await;
    assert!(
        missed.id.parse::<i64>().unwrap() > last.parse::<i64>().unwrap(),
        "{missed:?} after {last}"
    );

    // Her customer wrote twice after she owned the lead: one notice while
    // unread. Unanswered past its deadline: she is told it is overdue.
    // Each notice reaches her page as it is raised.
    eventually("Asha told her lead is overdue", WAIT, || async {
        asha.get("/ajax/notifications/").await.json()["notifications"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n["kind"] == "overdue"))
    })
    .await;
    let alerts = asha.get("/ajax/notifications/").await.json();
    let mut kinds: Vec<&str> = alerts["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["assigned", "message", "overdue"], "{alerts}");
    assert_eq!(alerts["unread"], 3, "{alerts}");
    for kind in ["message", "overdue"] {
        let id = alerts["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["kind"] == kind)
            .unwrap()["lead_id"]
            .clone();
        assert_eq!(id, lead.as_str());
    }
    // (This stream began after the second message: the lead's change on
    // it is the escalation's.)
    asha_page
        .heard("the overdue lead's change", WAIT, |e| {
            about(e, "lead", &lead)
        })
        .await;
    // Reading the conversation reads its "customer wrote" notice.
    let read = asha
        .post_json(
            "/ajax/tata-conversations/+919833300001/read",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(read.status, 204);
    assert_eq!(asha.get("/ajax/notifications/").await.json()["unread"], 2);

    // A follow-up she gives herself is announced to her when it comes
    // due, once.
    let due = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let created = asha
        .post_json(
            &format!("/ajax/leads/{lead}/follow-ups"),
            &serde_json::json!({"due_at": due, "note": "call back"}),
        )
        .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    eventually("the follow-up announced", WAIT, || async {
        asha.get("/ajax/notifications/").await.json()["notifications"][0]["kind"] == "follow_up_due"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alerts = asha.get("/ajax/notifications/").await.json();
    let announced = alerts["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "follow_up_due")
        .count();
    assert_eq!(announced, 1, "announced once: {alerts}");
    // This stream began after the second message: the notices it carried
    // are the message's, the overdue one and the follow-up's.
    asha_page.drain_for(Duration::from_millis(500)).await;
    let pushed = asha_page
        .seen
        .iter()
        .filter(|e| e.event == "notification")
        .count();
    assert_eq!(pushed, 3, "{:?}", asha_page.seen);

    // Staff's own changes are pushed too: the manager moves the lead, and
    // Asha's page hears of it.
    let moved = mona
        .post_json(
            &format!("/ajax/leads/{lead}/stage"),
            &serde_json::json!({"stage": "contacted"}),
        )
        .await;
    assert_eq!(
        moved.status,
        200,
        "{}",
        String::from_utf8_lossy(&moved.body)
    );
    asha_page
        .until("the stage change", WAIT, |e| about(e, "lead", &lead))
        .await;

    drop((asha_page, ravi_page, kiran_page, mona_page));
    front.stop().await;
    back.stop().await;
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}

/// In Chromium: a salesperson's open lead list makes no request while
/// idle, then hears of a new lead assigned to her: the unread count in the
/// header and the tab's title go up, one browser notification shows (the
/// tab in the background), and the list offers a reload (it is not redrawn
/// under her).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_page_counts_a_new_assignment_and_offers_a_reload() {
    use fantoccini::Locator;
    testkit::init_logging();
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_prefix("live-browser");
    let env = test_env(&prefix, Some(&db.url), &[]);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    let console = Console::start(&env).await;
    testkit::add_team(&db.url, "MG sales", true).await;
    testkit::add_member(&db.url, "asha", PASSWORD, Role::Sales, &["MG sales"], true).await;
    let browser = testkit::Browser::start().await;
    let page = &browser.client;
    page.set_window_size(390, 844).await.unwrap();
    page.goto(&format!("http://{}/leads/", console.addr))
        .await
        .unwrap();
    browser.submit_sign_in("asha", PASSWORD).await;
    page.goto(&format!("http://{}/leads/", console.addr))
        .await
        .unwrap();
    page.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("live-leads"))
        .await
        .unwrap();
    assert_eq!(page.title().await.unwrap(), "Leads · leadpipe");
    let marker = "window.__loaded = window.__loaded || Date.now(); return window.__loaded;";
    let loaded = page.execute(marker, vec![]).await.unwrap();
    // The stream is open before the lead comes.
    eventually("the page's event stream", WAIT, || async {
        page.execute(
            "return window.leadpipeLive && window.leadpipeLive.source.readyState === 1",
            vec![],
        )
        .await
        .unwrap()
            == true
    })
    .await;
    // Nothing polls: an idle page makes no request (the browser's own
    // record of its requests).
    let requests = "return performance.getEntriesByType('resource').length";
    let before = page.execute(requests, vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        page.execute(requests, vec![]).await.unwrap(),
        before,
        "an idle page asked the server for something"
    );
    // Browser notifications on, the tab in the background; the browser's
    // Notification is replaced by a recorder (headless Chromium shows none).
    page.execute(
        "window.__shown = []; window.Notification = function (title, options) { window.__shown.push(options.body); }; window.Notification.permission = 'granted'; localStorage.setItem('leadpipe.notifications', 'on'); Object.defineProperty(document, 'hidden', {get: () => true, configurable: true}); return true;",
        vec![],
    )
    .await
    .unwrap();

    let body = testkit::examples::whatsapp_text("919833300002", "wamid.B1", "Hello");
    assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201);
    eventually("the title counts the assignment", WAIT, || async {
        page.title().await.unwrap() == "(1) Leads · leadpipe"
    })
    .await;
    let badge = page.find(Locator::Id("unread-count")).await.unwrap();
    assert_eq!(badge.text().await.unwrap(), "1");
    page.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#live-changed button"))
        .await
        .unwrap();
    assert_eq!(
        page.execute(marker, vec![]).await.unwrap(),
        loaded,
        "no reload happened by itself"
    );
    browser.screenshot("console-live-phone").await;
    browser.assert_accessible("console-live-phone").await;
    // One browser notification for the assignment, not one per page
    // element or per event replayed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let shown = page.execute("return window.__shown", vec![]).await.unwrap();
    let assigned = shown
        .as_array()
        .unwrap()
        .iter()
        .filter(|text| *text == "A new lead was assigned to you.")
        .count();
    assert_eq!(assigned, 1, "{shown}");
    // Reloading shows the new lead.
    page.find(Locator::Css("#live-changed button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the list shows the lead", WAIT, || async {
        page.source()
            .await
            .is_ok_and(|html| html.contains("+919833300002") && !html.contains("live-changed"))
    })
    .await;

    browser.stop().await;
    console.stop().await;
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
    db.drop().await;
}
