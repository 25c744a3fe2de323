//! Swagger UI at `/docs` on the partner port (the CRM contract promises
//! it): served with its assets from the binary, rendering every operation
//! of `/openapi.json` in a real headless Chromium, loading nothing from
//! outside; and off when `DOCS=off`.

use fantoccini::Locator;
use std::time::Duration;
use testkit::{Browser, Edge, test_env, unique_prefix, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_is_served_at_docs_from_the_binary() {
    testkit::init_logging();
    let prefix = unique_prefix("docs");
    let edge = Edge::start(&test_env(&prefix, None, &[])).await;
    let page = edge.get("/docs").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8_lossy(&page.body).into_owned();
    assert!(html.contains("/docs/swagger-ui-bundle.js") && html.contains("/docs/init.js"));
    for (path, kind) in [
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
        ("/docs/init.js", "text/javascript"),
    ] {
        let asset = edge.get(path).await;
        assert_eq!(asset.status, 200, "{path}");
        assert!(
            asset.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
    }
    let init = String::from_utf8(edge.get("/docs/init.js").await.body).unwrap();
    for text in [&html, &init] {
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "no outside URL: {text}"
        );
    }
    assert!(
        init.contains("validatorUrl: null"),
        "no validator badge calling out"
    );
    assert_eq!(edge.get("/docs/nothing.js").await.status, 404);

    // In a browser: every operation rendered, every resource from the edge.
    let browser = Browser::start().await;
    let base = format!("http://{}", edge.addr);
    browser.client.goto(&format!("{base}/docs")).await.unwrap();
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(".opblock"))
        .await
        .unwrap();
    let operations = within(
        "counting operations",
        Duration::from_secs(10),
        browser.client.execute(
            "return document.querySelectorAll('.opblock').length",
            vec![],
        ),
    )
    .await
    .unwrap();
    assert_eq!(operations, 22, "every operation of the document");
    let resources = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            vec![],
        )
        .await
        .unwrap();
    let resources: Vec<String> = serde_json::from_value(resources).unwrap();
    assert!(!resources.is_empty());
    for resource in &resources {
        assert!(
            resource.starts_with(&base),
            "loaded from outside: {resource}"
        );
    }
    browser.screenshot("edge-docs").await;
    browser.stop().await;
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;

    let prefix = unique_prefix("docs-off");
    let edge = Edge::start(&test_env(&prefix, None, &[("DOCS", "off")])).await;
    assert_eq!(edge.get("/docs").await.status, 404);
    assert_eq!(
        edge.get("/openapi.json").await.status,
        200,
        "the document stays"
    );
    edge.stop().await;
    testkit::cleanup_prefix(&prefix).await;
}
