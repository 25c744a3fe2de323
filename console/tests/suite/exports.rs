//! CSV downloads (issue 27) against the real edge, worker, console and
//! database: the lead list with the filters in force, each report's table,
//! cells a spreadsheet would run as formulas made text, and the refusals
//! (a view or report the role may not open, a bad filter, an unknown
//! table).

use console::auth::Role;
use serde_json::json;
use std::time::Duration;
use testkit::{Backend, StaffClient, eventually};

const PASSWORD: &str = "a long enough password";
const WAIT: Duration = Duration::from_secs(60);
const FORMULA_NAME: &str = "=HYPERLINK(\"http://evil.example\",\"Click\")";

testkit::on_both_backends!(the_lead_list_and_the_reports_download_as_safe_csv,);

fn whatsapp_from(from: &str, name: &str, wamid: &str) -> String {
    json!({
        "contacts": [{"profile": {"name": name}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": "Hello"}}],
        "businessPhoneNumber": "+919355421616"
    })
    .to_string()
}

/// The rows of a CSV answer, header first.
fn rows(response: &testkit::HttpResponse) -> Vec<Vec<String>> {
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(
        response.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert!(
        response
            .header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "offered as a download"
    );
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(response.body.as_slice())
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}

async fn the_lead_list_and_the_reports_download_as_safe_csv(backend: Backend) {
    let stack = testkit::Stack::start(backend, "exports", &[]).await;
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
    for (from, name, wamid) in [
        ("919833300011", FORMULA_NAME, "wamid.X1"),
        ("919833300012", "Kavya Nair", "wamid.X2"),
    ] {
        let body = whatsapp_from(from, name, wamid);
        assert_eq!(edge.post("/webhook/", &[], &body).await.status, 201);
    }
    eventually("both leads assigned", WAIT, || async {
        db.count("SELECT COUNT(*) FROM leads WHERE owner_id IS NOT NULL")
            .await
            == 2
    })
    .await;
    let mona = StaffClient::sign_in(console.addr, "mona", PASSWORD).await;
    let asha = StaffClient::sign_in(console.addr, "asha", PASSWORD).await;

    // Every lead, one row each; the formula and the phone numbers are text.
    let all = rows(&mona.get("/leads/export.csv?view=all").await);
    assert_eq!(all[0][0], "Name");
    assert_eq!(all[0][1], "Phone");
    assert_eq!(all.len(), 3, "{all:?}");
    let hostile = all
        .iter()
        .find(|r| r[0].contains("HYPERLINK"))
        .expect("the lead named like a formula");
    assert_eq!(hostile[0], format!("'{FORMULA_NAME}"));
    assert_eq!(hostile[1], "'+919833300011");
    assert_eq!(hostile[2], "asha");
    assert_eq!(hostile[4], "new");
    assert!(hostile[5].contains("WhatsApp"), "{hostile:?}");
    // The filters in force: one number.
    let one = rows(
        &mona
            .get("/leads/export.csv?view=all&q=%2B919833300012")
            .await,
    );
    assert_eq!(one.len(), 2, "{one:?}");
    assert_eq!(one[1][0], "Kavya Nair");
    // A salesperson exports her own view, and may not open All.
    let mine = rows(&asha.get("/leads/export.csv?view=mine").await);
    assert_eq!(mine.len(), 3, "both are hers: {mine:?}");
    assert_eq!(asha.get("/leads/export.csv?view=all").await.status, 403);
    let bad = mona.get("/leads/export.csv?view=all&stage=sold").await;
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("stage is"));
    // The page links to the export with its filters.
    let page = mona.get("/leads/?view=all&stage=any").await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("/leads/export.csv?view=all&amp;stage=any"),
        "the list links to its export"
    );

    // Reports: each table, for the page's range.
    let today = shared::time::ist_today().format("%Y-%m-%d").to_string();
    let per_day = rows(
        &mona
            .get(&format!(
                "/reports/leads-per-day.csv?from={today}&to={today}"
            ))
            .await,
    );
    assert_eq!(per_day[0].first().map(String::as_str), Some("Day (IST)"));
    assert_eq!(per_day[0].last().map(String::as_str), Some("Total"));
    assert_eq!(per_day.len(), 2, "one day: {per_day:?}");
    assert_eq!(per_day[1][0], today);
    assert_eq!(per_day[1].last().map(String::as_str), Some("2"));
    let funnel = rows(&mona.get("/reports/funnel.csv").await);
    assert_eq!(funnel[0][..2], ["Source".to_owned(), "Leads".to_owned()]);
    assert!(
        funnel.iter().any(|r| r[0] == "WhatsApp" && r[1] == "2"),
        "{funnel:?}"
    );
    let times = rows(&mona.get("/reports/response-times.csv").await);
    assert_eq!(
        times.last().unwrap(),
        &["unanswered".to_owned(), "2".to_owned()]
    );
    for table in console::reports::export::TABLES {
        assert_eq!(
            mona.get(&format!("/reports/{table}")).await.status,
            200,
            "{table}"
        );
    }
    assert_eq!(mona.get("/reports/secrets.csv").await.status, 404);
    assert_eq!(asha.get("/reports/funnel.csv").await.status, 403);
    let report = mona.get("/reports/").await;
    assert!(String::from_utf8_lossy(&report.body).contains("href=\"/reports/funnel.csv?"));

    stack.stop().await;
}
