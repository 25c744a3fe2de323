//! The manager's reports (issue 27) from leads sent through the real edge
//! and worker and moved through the desk's API: the figures as JSON, who
//! may read them, the refusals, and the page in Chromium at a phone's
//! width, with data and with none (screenshots `reports-phone`,
//! `reports-empty-phone`).

use console::auth::Role;
use fantoccini::Locator;
use serde_json::json;
use std::time::Duration;
use testkit::{Backend, Browser, StaffClient, eventually};

const PASSWORD: &str = "a long enough password";
const KEY: &str = "partner-key-for-tests-0001";
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manager_reads_leads_speed_funnel_and_follow_ups() {
    let stack = testkit::Stack::start(
        Backend::Sqlite,
        "reports",
        &[("LEAD_API_KEY_CARDEKHO", KEY)],
    )
    .await;
    let (db, edge, console) = (&stack.db, &stack.edge, &stack.console);
    testkit::add_team(&db.url, "MG sales", true).await;
    testkit::add_member(&db.url, "asha", PASSWORD, Role::Sales, &["MG sales"], true).await;
    testkit::add_member(
        &db.url,
        "mona",
        PASSWORD,
        Role::Manager,
        &["MG sales"],
        false,
    )
    .await;
    let asha = StaffClient::sign_in(console.addr, "asha", PASSWORD).await;
    let mona = StaffClient::sign_in(console.addr, "mona", PASSWORD).await;
    for (from, wamid) in [("919888800001", "wamid.R1"), ("919888800002", "wamid.R2")] {
        let body = testkit::examples::whatsapp_text(from, wamid, "Hello");
        assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201);
    }
    let portal = json!({"name": "Rohit", "phone_number": "+919888800003", "car_model": "Astor"});
    let response = edge
        .post(
            "/admin/mg-digital-leads/source/cardekho",
            &[("X-API-Key", KEY)],
            &portal.to_string(),
        )
        .await;
    assert_eq!(response.status, 201);
    eventually("three leads assigned", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE owner_id IS NOT NULL")
            .await
            == 3
    })
    .await;
    let mine = asha.get("/ajax/leads/?view=mine").await.json();
    let id_of = |phone: &str| {
        mine["leads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["phone"] == phone)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The CarDekho lead goes all the way; one WhatsApp lead is contacted
    // then lost on price; the other waits.
    let portal_lead = id_of("+919888800003");
    for stage in [
        "contacted",
        "qualified",
        "test_drive_booked",
        "test_drive_done",
        "booking",
        "won",
    ] {
        let moved = asha
            .post_json(
                &format!("/ajax/leads/{portal_lead}/stage"),
                &json!({"stage": stage}),
            )
            .await;
        assert_eq!(moved.status, 200, "{stage}");
    }
    let lost = id_of("+919888800001");
    asha.post_json(
        &format!("/ajax/leads/{lost}/stage"),
        &json!({"stage": "contacted"}),
    )
    .await;
    asha.post_json(
        &format!("/ajax/leads/{lost}/stage"),
        &json!({"stage": "lost", "lost_reason": "price"}),
    )
    .await;

    // Sales staff may not read the reports; bad filters are refused.
    assert_eq!(asha.get("/ajax/reports/").await.status, 403);
    assert_eq!(asha.get("/reports/").await.status, 403);
    assert_eq!(mona.get("/ajax/reports/?from=yesterday").await.status, 400);
    assert_eq!(
        mona.get("/ajax/reports/?from=2026-12-09&to=2026-12-01")
            .await
            .status,
        400
    );
    assert_eq!(
        mona.get("/ajax/reports/?team=Kia%20sales").await.status,
        404
    );

    let report = mona.get("/ajax/reports/?team=MG%20sales").await;
    assert_eq!(report.status, 200);
    let report = report.json();
    assert_eq!(report["total_leads"], 3);
    assert_eq!(
        report["days"].as_array().unwrap().len(),
        7,
        "the last seven days by default"
    );
    assert_eq!(
        report["leads_per_day"]["tata_whatsapp"][6], 2,
        "today is the last day"
    );
    assert_eq!(report["leads_per_day"]["cardekho"][6], 1);
    assert_eq!(report["speed_by_owner"]["asha"]["answered"], 2);
    assert_eq!(report["unanswered"], 1);
    assert_eq!(report["funnel"]["cardekho"], json!([1, 1, 1, 1, 1]));
    assert_eq!(report["funnel"]["tata_whatsapp"], json!([1, 0, 0, 0, 0]));
    assert_eq!(report["lost_reasons"]["price"], 1);
    // Another source only.
    let carwale = mona.get("/ajax/reports/?source=carwale").await.json();
    assert_eq!(carwale["total_leads"], 0);

    // The page, at a phone's width.
    let base = format!("http://{}", console.addr);
    let browser = Browser::start().await;
    let page = &browser.client;
    page.set_window_size(390, 844).await.unwrap();
    page.goto(&format!("{base}/reports/")).await.unwrap();
    browser.submit_sign_in("mona", PASSWORD).await;
    page.goto(&format!("{base}/reports/")).await.unwrap();
    let total = page
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#report-total"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(total.starts_with("3 leads"), "{total}");
    assert!(
        !page
            .find_all(Locator::Css("#leads-per-day rect"))
            .await
            .unwrap()
            .is_empty()
    );
    let wide = page
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    browser.screenshot("reports-phone").await;
    browser.assert_accessible("reports-phone").await;
    assert_eq!(wide, json!(false), "the reports fit a phone's width");

    // With no data: the charts are drawn empty, the tables have no rows.
    page.goto(&format!("{base}/reports/?source=carwale"))
        .await
        .unwrap();
    let total = page
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#report-total"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(total.starts_with("0 leads"), "{total}");
    assert!(
        page.find_all(Locator::Css("#leads-per-day rect"))
            .await
            .unwrap()
            .is_empty(),
        "no bars without leads"
    );
    let empty = page
        .find(Locator::Css("svg#leads-per-day text.chart-empty"))
        .await
        .expect("the chart says it is empty")
        .text()
        .await
        .unwrap();
    assert_eq!(empty, "No leads in this range");
    browser.screenshot("reports-empty-phone").await;
    browser.assert_accessible("reports-empty-phone").await;

    browser.stop().await;
    stack.stop().await;
}
