//! What `deploy/` ships for monitoring, against the real edge and worker:
//! every metric the alert rules and the Grafana dashboard name is one the
//! code exports, and the partner-silence input moves when a webhook is
//! accepted. (The rules' logic is tested by `promtool test rules` in
//! `scripts/check-monitoring.sh`.)

use shared::broker::QueueInspector;
use shared::config::{BrokerConfig, Env};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testkit::{
    Backend, Edge, TATA_MINIMAL, TestDb, Worker, eventually, http, test_env, unique_prefix,
};

/// Every sample name a `/metrics` page can carry: its samples, and the
/// names its `# TYPE` lines promise (counters end in `_total`, histograms
/// have `_bucket`, `_sum` and `_count`) even before a first sample.
fn exported_names(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            match kind {
                "counter" => {
                    names.insert(format!("{name}_total"));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    names.insert(name.to_owned());
                }
            }
        } else if !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

/// The metric names (`leadpipe_…`) a rules file or dashboard refers to;
/// recording rules (`leadpipe:…`) are its own.
fn referenced_names(text: &str) -> BTreeSet<String> {
    text.match_indices("leadpipe_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect::<String>()
        })
        .collect()
}

fn deploy_file(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

use testkit::metric_sample as sample;

#[tokio::test(flavor = "multi_thread")]
async fn alert_rules_and_the_dashboard_name_only_exported_metrics() {
    testkit::init_logging();
    let db = TestDb::create(Backend::Sqlite).await;
    let env: Env = test_env(&unique_prefix("monitoring"), Some(&db.url), &[]);
    let inspector = QueueInspector::connect(&BrokerConfig::from_env(&env).unwrap())
        .await
        .unwrap();
    let edge = Edge::start(&env).await;
    let worker = Worker::start(&env);
    worker.wait_ready().await;
    let edge_page = || async {
        String::from_utf8(
            http(edge.admin_addr, "GET", "/metrics", &[], b"")
                .await
                .body,
        )
        .unwrap()
    };
    let silent_since = "leadpipe_ingest_last_accepted_timestamp_seconds{source=\"tata_calls\"}";
    let started = sample(&edge_page().await, silent_since)
        .expect("every source's last-accepted time is exported from the start");
    let posted_at = unix_now();
    assert!(started <= posted_at, "{started} is the edge's start");
    assert_eq!(
        edge.post_json("/api/webhook/", TATA_MINIMAL).await.status,
        201
    );
    let accepted = sample(&edge_page().await, silent_since).unwrap();
    assert!(
        accepted >= posted_at.floor(),
        "an accepted webhook moves the time: {accepted} < {posted_at}"
    );
    let persisted = "leadpipe_worker_last_persisted_timestamp_seconds{source=\"tata_calls\"}";
    eventually(
        "the worker persists it",
        Duration::from_secs(40),
        || async {
            let page = String::from_utf8(worker.admin_get("/metrics", None).await.body).unwrap();
            sample(&page, persisted).is_some_and(|at| at >= posted_at.floor())
        },
    )
    .await;

    let worker_page = String::from_utf8(worker.admin_get("/metrics", None).await.body).unwrap();
    let exported: BTreeSet<String> = exported_names(&edge_page().await)
        .into_iter()
        .chain(exported_names(&worker_page))
        .collect();
    let dashboard = deploy_file("grafana/leadpipe.json");
    serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
    for (file, text) in [
        (
            "prometheus/alerts.yml",
            deploy_file("prometheus/alerts.yml"),
        ),
        ("grafana/leadpipe.json", dashboard),
    ] {
        let referenced = referenced_names(&text);
        assert!(!referenced.is_empty(), "{file} names no metric");
        let unknown: Vec<&String> = referenced.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} names metrics nothing exports: {unknown:?}"
        );
    }
    worker.stop().await;
    edge.stop().await;
    testkit::cleanup(inspector).await;
}
