//! The operator's view in a real headless Chromium, against the real edge,
//! worker, console, broker and PostgreSQL: an operator finds a
//! dead-lettered webhook, sees why it failed, replays it (dry run, then
//! confirmation) once the cause is fixed, and sees it processed.
//! Screenshots land in `target/test-artefacts/operator-*.png`.

use console::auth::Role;
use fantoccini::Locator;
use serde_json::json;
use shared::Source;
use shared::broker::QueueInspector;
use shared::config::BrokerConfig;
use std::time::{Duration, Instant};
use testkit::{
    Backend, Browser, Console, Edge, TestDb, Worker, eventually, test_env, unique_prefix,
};

const PASSWORD: &str = "a long enough password";
const WAIT: Duration = Duration::from_secs(60);

/// The text of the first element `css` selects, once there is one. A page
/// being replaced under the query (a stale element) is waited out.
async fn text_of(browser: &Browser, css: &str) -> String {
    let started = Instant::now();
    loop {
        let found = browser.client.find(Locator::Css(css)).await;
        let text = match found {
            Ok(element) => element.text().await,
            Err(error) => Err(error),
        };
        match text {
            Ok(text) => return text,
            Err(error) => {
                assert!(started.elapsed() < WAIT, "{css}: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Clicks the first element `css` selects, once there is one.
async fn click(browser: &Browser, css: &str) {
    let started = Instant::now();
    loop {
        let clicked = match browser.client.find(Locator::Css(css)).await {
            Ok(element) => element.click().await,
            Err(error) => Err(error),
        };
        match clicked {
            Ok(()) => return,
            Err(error) => {
                assert!(started.elapsed() < WAIT, "{css}: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Waits until the page's address contains `part` (a navigation finished).
async fn until_url(browser: &Browser, part: &str) {
    let started = Instant::now();
    while !browser
        .client
        .current_url()
        .await
        .is_ok_and(|url| url.as_str().contains(part))
    {
        assert!(started.elapsed() < WAIT, "never reached {part}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_replays_a_dead_letter_in_the_browser_once_its_cause_is_fixed() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Postgres).await;
    let prefix = unique_prefix("operator-browser");
    let env = test_env(&prefix, Some(&db.url), &[("RETRY_MAX_ATTEMPTS", "1")]);
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let dead = || testkit::dead_letter_count(&inspector, Source::CrmEvents);
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    let console = Console::start(&env).await;
    testkit::add_staff(&db.url, "omar", PASSWORD, Role::Operator).await;

    // A status change for a lead the CRM has not sent yet: dead-lettered.
    let status =
        json!({"event": "lead_status_update", "source": "crm", "data": {"lead_status": "won"}});
    let answer = edge
        .post_json(
            "/api/v1/webhooks/incoming/lead/L-77/status/update",
            &status.to_string(),
        )
        .await;
    assert_eq!(answer.status, 201);
    eventually("dead-lettered", WAIT, || async { dead().await == 1 }).await;

    let browser = Browser::start().await;
    let page = &browser.client;
    page.goto(&format!("http://{}/operator/", console.addr))
        .await
        .unwrap();
    browser.submit_sign_in("omar", PASSWORD).await;
    click(&browser, "#nav-operator").await;
    until_url(&browser, "/operator/").await;
    let waiting = text_of(
        &browser,
        "#dead-letter-counts tr[data-source=crm_events] td:last-child",
    )
    .await;
    assert_eq!(waiting, "1");
    assert_eq!(
        text_of(
            &browser,
            "#last-hour tr[data-source=crm_events] td[data-outcome=dead_lettered]"
        )
        .await,
        "1"
    );
    browser.screenshot("operator-overview").await;
    browser.assert_accessible("operator-overview").await;

    // Find it: the dead letters of the CRM, by reason.
    click(&browser, "#dead-letter-counts tr[data-source=crm_events] a").await;
    until_url(&browser, "/dead-letters?source=crm_events").await;
    let reasons = text_of(&browser, "#by-reason").await;
    assert!(reasons.contains("lead L-77 not found"), "{reasons}");
    browser.screenshot("operator-dead-letters").await;
    browser.assert_accessible("operator-dead-letters").await;
    click(&browser, "#dead-letters tbody a").await;
    until_url(&browser, "/operator/log/").await;
    assert_eq!(text_of(&browser, "#outcome").await, "dead lettered");
    let history = text_of(&browser, "#history").await;
    assert!(
        history.contains("retrying") && history.contains("dead lettered"),
        "{history}"
    );
    let id = page.current_url().await.unwrap();
    let id = id.path().rsplit('/').next().unwrap().to_owned();
    browser.screenshot("operator-delivery-dead-lettered").await;
    browser
        .assert_accessible("operator-delivery-dead-lettered")
        .await;

    // The cause is fixed: the CRM sends the lead.
    testkit::crm_lead_arrives(&inspector, "L-77").await;
    eventually("the lead exists", WAIT, || async {
        db.count("SELECT COUNT(*) FROM crm_leads WHERE id = 'L-77'")
            .await
            == 1
    })
    .await;

    // Replay: the dry run first, which changes nothing, then confirmed.
    click(&browser, "#replay").await;
    until_url(&browser, "/confirm?").await;
    let dry_run = text_of(&browser, "#dry-run").await;
    assert!(dry_run.starts_with("Dry run"), "{dry_run}");
    assert!(text_of(&browser, "#dead-letters").await.contains(&id));
    browser.screenshot("operator-replay-dry-run").await;
    browser.assert_accessible("operator-replay-dry-run").await;
    assert_eq!(dead().await, 1, "the dry run moved nothing");
    click(&browser, "#confirm button[type=submit]").await;
    until_url(&browser, "/apply").await;
    assert_eq!(text_of(&browser, "#result").await, "Replayed 1.");
    browser.screenshot("operator-replayed").await;
    browser.assert_accessible("operator-replayed").await;

    // See it processed: the webhook log, found by its id.
    click(&browser, "#result ~ p a[href='/operator/log']").await;
    until_url(&browser, "/operator/log").await;
    page.find(Locator::Css("#log-filters input[name=id]"))
        .await
        .unwrap()
        .send_keys(&id)
        .await
        .unwrap();
    click(&browser, "#log-filters button[type=submit]").await;
    until_url(&browser, &format!("id={id}")).await;
    click(&browser, &format!("#log tr[data-id='{id}'] a")).await;
    let started = Instant::now();
    loop {
        let outcome = text_of(&browser, "#outcome").await;
        if outcome == "processed" {
            break;
        }
        assert!(started.elapsed() < WAIT, "still {outcome}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        page.refresh().await.unwrap();
    }
    // Its reason history outlives the dead letter.
    let history = text_of(&browser, "#history").await;
    assert!(
        history.contains("lead L-77 not found") && history.contains("after 3 attempts"),
        "{history}"
    );
    browser.screenshot("operator-delivery-processed").await;
    browser
        .assert_accessible("operator-delivery-processed")
        .await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM crm_leads WHERE id = 'L-77' AND status = 'won'")
            .await,
        1
    );
    assert_eq!(dead().await, 0);
    // The access audit and the person's data page, at phone width.
    page.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/operator/access", "operator-access-phone"),
        ("/operator/person", "operator-person-phone"),
    ] {
        page.goto(&format!("http://{}{path}", console.addr))
            .await
            .unwrap();
        page.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("header.top"))
            .await
            .unwrap();
        browser.screenshot(name).await;
        browser.assert_accessible(name).await;
    }

    // Erasing a person from the browser, at phone width: the dry run, then
    // the confirmation, then what went.
    let message = json!({"messages": [{"from": "919876512399", "id": "wamid.OB-erase", "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": "Please forget me"}}]});
    assert_eq!(
        edge.post_json("/webhook/", &message.to_string())
            .await
            .status,
        201
    );
    eventually("her lead", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE phone = '+919876512399'")
            .await
            == 1
    })
    .await;
    page.goto(&format!(
        "http://{}/operator/person/erase?phone=09876512399",
        console.addr
    ))
    .await
    .unwrap();
    page.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("button.danger"))
        .await
        .unwrap();
    browser.screenshot("operator-erase-dry-run-phone").await;
    browser
        .assert_accessible("operator-erase-dry-run-phone")
        .await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads WHERE phone = '+919876512399'")
            .await,
        1,
        "a dry run erases nothing"
    );
    click(&browser, "button.danger").await;
    until_url(&browser, "/operator/person/erasures/").await;
    eventually("the erasure done", WAIT, || async {
        page.refresh().await.unwrap();
        page.source().await.is_ok_and(|html| html.contains("Done"))
    })
    .await;
    browser.screenshot("operator-erased-phone").await;
    browser.assert_accessible("operator-erased-phone").await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM leads WHERE phone = '+919876512399'")
            .await,
        0
    );

    browser.stop().await;
    console.stop().await;
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup(inspector).await;
    db.drop().await;
}
