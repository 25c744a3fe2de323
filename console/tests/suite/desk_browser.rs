//! The lead desk in a real headless Chromium, at desktop and phone widths,
//! against the real edge, worker, console, broker and database: the desk
//! lists the salesperson's new leads with their source and vehicle, a lead
//! is moved to contacted and noted from its page, and nothing overflows
//! the phone's width. Screenshots land in `target/test-artefacts/`
//! (`desk-desktop`, `desk-phone`, `lead-phone`).

use console::auth::Role;
use fantoccini::Locator;
use serde_json::json;
use std::time::Duration;
use testkit::{Backend, Browser, eventually};

const PASSWORD: &str = "a long enough password";
const KEY: &str = "partner-key-for-tests-0001";
const WAIT: Duration = Duration::from_secs(60);
const HOSTILE_NOTE: &str = "<b>bold</b> call back after 5 @mona";

/// Whether the page is wider than the window (a horizontal scroll bar).
async fn overflows(browser: &Browser) -> bool {
    let wide = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    wide == json!(true)
}

/// The text of the first element `css` finds. The pages redraw parts of
/// themselves as changes arrive, so an element found may be replaced
/// before its text is read: then it is found again.
async fn text_of(browser: &Browser, css: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let found = browser
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        match found.text().await {
            Ok(text) => return text,
            Err(error) if start.elapsed() < WAIT => {
                tracing::debug!(%error, css, "element replaced before it was read; finding it again");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(error) => panic!("{css}: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_desk_works_at_desktop_and_phone_widths() {
    let stack = testkit::Stack::start(
        Backend::Postgres,
        "desk-browser",
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
    let whatsapp = testkit::examples::whatsapp_text("919844400001", "wamid.B1", "Hello");
    assert_eq!(edge.post("/webhook/", &[], &whatsapp).await.status, 201);
    let portal =
        json!({"name": "Rohit Verma", "phone_number": "+919844400002", "car_model": "Hector Plus"});
    let response = edge
        .post(
            "/admin/mg-digital-leads/source/cardekho",
            &[("X-API-Key", KEY)],
            &portal.to_string(),
        )
        .await;
    assert_eq!(response.status, 201);
    eventually("both leads assigned", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE owner_id IS NOT NULL")
            .await
            == 2
    })
    .await;

    let base = format!("http://{}", console.addr);
    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&format!("{base}/leads/")).await.unwrap();
    browser.submit_sign_in("asha", PASSWORD).await;
    page.goto(&format!("{base}/leads/")).await.unwrap();
    page.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#desk li.lead-card"))
        .await
        .unwrap();
    let cards = page
        .find_all(Locator::Css("#desk li.lead-card"))
        .await
        .unwrap();
    assert_eq!(cards.len(), 2, "both of Asha's new leads");
    let desk = text_of(&browser, "#desk").await;
    assert!(
        desk.contains("Rohit Verma") && desk.contains("Hector Plus"),
        "{desk}"
    );
    assert!(
        desk.contains("CarDekho") && desk.contains("WhatsApp"),
        "{desk}"
    );
    assert!(desk.contains("waiting"), "{desk}");
    assert!(text_of(&browser, "#views").await.contains("Mine 2"));
    assert!(text_of(&browser, "#duty-state").await.contains("On duty"));
    browser.screenshot("desk-desktop").await;
    browser.assert_accessible("desk-desktop").await;

    // A phone on the showroom floor.
    page.set_window_size(390, 844).await.unwrap();
    page.refresh().await.unwrap();
    page.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#desk li.lead-card"))
        .await
        .unwrap();
    assert!(!overflows(&browser).await, "the desk fits a phone's width");
    browser.screenshot("desk-phone").await;
    browser.assert_accessible("desk-phone").await;

    // Open Rohit's lead, move it to contacted, write a note.
    page.find(Locator::LinkText("Rohit Verma"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&browser, "#lead-owner").await.contains("asha"));
    assert!(
        text_of(&browser, "#lead-response")
            .await
            .contains("none yet")
    );
    let call = page.find(Locator::Css("#call")).await.unwrap();
    assert_eq!(
        call.attr("href").await.unwrap().as_deref(),
        Some("tel:+919844400002")
    );
    page.find(Locator::Css(
        "#stage-form select[name=stage] option[value=contacted]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    page.find(Locator::Css("#stage-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the stage moved", WAIT, || async {
        text_of(&browser, "#lead-stage").await.contains("Contacted")
    })
    .await;
    assert!(
        text_of(&browser, "#lead-response")
            .await
            .contains("by asha")
    );
    assert!(
        text_of(&browser, "#stage-history")
            .await
            .contains("New → Contacted")
    );
    page.find(Locator::Css("#note-form textarea"))
        .await
        .unwrap()
        .send_keys(HOSTILE_NOTE)
        .await
        .unwrap();
    page.find(Locator::Css("#note-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the note shown", WAIT, || async {
        text_of(&browser, "#lead-notes")
            .await
            .contains("call back after 5")
    })
    .await;
    // Shown as text: the tags are visible, nothing was made bold.
    assert!(
        text_of(&browser, "#lead-notes")
            .await
            .contains("<b>bold</b>")
    );
    assert!(
        page.find_all(Locator::Css("#lead-notes b"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !overflows(&browser).await,
        "the lead page fits a phone's width"
    );
    browser.screenshot("lead-phone").await;
    browser.assert_accessible("lead-phone").await;
    // The other pages a salesperson opens, at phone width.
    for (path, name) in [
        ("/notifications/", "notifications-phone"),
        ("/follow-ups/", "follow-ups-phone"),
    ] {
        page.goto(&format!("{base}{path}")).await.unwrap();
        page.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("header.top"))
            .await
            .unwrap();
        assert!(!overflows(&browser).await, "{path} fits a phone's width");
        browser.screenshot(name).await;
        browser.assert_accessible(name).await;
    }

    // The manager keeps the team's canned replies, on a phone too.
    page.find(Locator::Css("form.signout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("form.login"))
        .await
        .unwrap();
    page.goto(&format!("{base}/desk/canned")).await.unwrap();
    browser.submit_sign_in("mona", PASSWORD).await;
    page.goto(&format!("{base}/desk/canned")).await.unwrap();
    let form = page
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("canned-form"))
        .await
        .unwrap();
    form.find(Locator::Css("input[name=shortcut]"))
        .await
        .unwrap()
        .send_keys("testdrive")
        .await
        .unwrap();
    form.find(Locator::Css("textarea[name=text]"))
        .await
        .unwrap()
        .send_keys("Hi {name}, your {vehicle} test drive is booked.")
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let listed = page
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#canned-replies tbody tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains("/testdrive"), "{listed}");
    assert!(
        !overflows(&browser).await,
        "the canned replies fit a phone's width"
    );
    browser.screenshot("canned-phone").await;
    browser.assert_accessible("canned-phone").await;

    browser.stop().await;
    stack.stop().await;
}
