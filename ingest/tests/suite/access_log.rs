//! The access log of the real `ingest` binary (JSON lines on stdout): one
//! line per request with its source, route, status, latency, client and the
//! position of the key that let it in; refusals flagged; no key, signature
//! or full phone number anywhere in the output.

use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use testkit::examples::CARDEKHO;
use testkit::{amqp_url, eventually, http, unique_prefix};
use tokio::io::AsyncReadExt;

const OLD_KEY: &str = "cardekho-key-old-0000000001";
const NEW_KEY: &str = "cardekho-key-new-0000000002";
const CARDEKHO_PATH: &str = "/admin/mg-digital-leads/source/cardekho";

#[tokio::test]
async fn every_request_leaves_one_masked_line_and_refusals_are_flagged() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let prefix = unique_prefix("access-log");
    let spool = testkit::TempDir::new();
    let mut child = testkit::die_with_test(&mut tokio::process::Command::new(env!(
        "CARGO_BIN_EXE_ingest"
    )))
    .env("INGEST_ADDR", addr.to_string())
    .env("ADMIN_ADDR", "127.0.0.1:0")
    .env("AMQP_URL", amqp_url())
    .env("AMQP_PREFIX", &prefix)
    .env("SPOOL_DIR", &spool.path)
    .env("LEAD_API_KEY_CARDEKHO", format!("{OLD_KEY},{NEW_KEY}"))
    .env("TRUSTED_PROXIES", "127.0.0.1")
    .env("LOG_FORMAT", "json")
    .env("RUST_LOG", "warn,access=info")
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    eventually("edge ready", Duration::from_secs(20), || async {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => http(addr, "GET", "/readyz", &[], b"").await.status == 200,
            Err(_) => false,
        }
    })
    .await;

    let post = async |headers: &[(&str, &str)], body: &str| {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        http(addr, "POST", CARDEKHO_PATH, &all, body.as_bytes())
            .await
            .status
    };
    // Accepted with the rotated (second) key, through a proxy.
    assert_eq!(
        post(
            &[("X-API-Key", NEW_KEY), ("X-Forwarded-For", "203.0.113.7")],
            CARDEKHO
        )
        .await,
        201
    );
    // Refused: no key, a wrong key, a body without its required fields
    // (which carries a phone number).
    assert_eq!(post(&[], CARDEKHO).await, 401);
    assert_eq!(
        post(&[("X-API-Key", "not-the-key-000000000")], CARDEKHO).await,
        403
    );
    assert_eq!(
        post(
            &[("X-API-Key", OLD_KEY)],
            r#"{"phone_number": "9876543210"}"#
        )
        .await,
        400
    );

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let mut output = String::new();
    let mut stdout = child.stdout.take().unwrap();
    tokio::time::timeout(Duration::from_secs(30), stdout.read_to_string(&mut output))
        .await
        .expect("the edge exits on SIGTERM")
        .unwrap();
    let _ = child.wait().await;

    let lines: Vec<Value> = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "access")
        .collect();
    let partner: Vec<&Value> = lines
        .iter()
        .filter(|line| line["route"] == CARDEKHO_PATH)
        .collect();
    assert_eq!(partner.len(), 4, "one line per request:\n{output}");
    let accepted = partner[0];
    assert_eq!(accepted["status"], 201);
    assert_eq!(accepted["source"], "cardekho");
    assert_eq!(accepted["method"], "POST");
    assert_eq!(accepted["key"], "key 2", "the rotated key, by position");
    assert_eq!(
        accepted["client"], "203.0.113.7",
        "the trusted proxy's client"
    );
    assert_eq!(accepted["via"], "127.0.0.1");
    assert_eq!(accepted["refused"], false);
    let ingest_id = accepted["ingest_id"]
        .as_str()
        .expect("the accepted webhook's ingest id");
    assert!(uuid::Uuid::parse_str(ingest_id).is_ok(), "{ingest_id}");
    assert_eq!(accepted["level"], "INFO");
    assert!(accepted["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(accepted["timestamp"].is_string());
    for (line, status, key) in [
        (partner[1], 401, "-"),
        (partner[2], 403, "-"),
        (partner[3], 400, "key 1"),
    ] {
        assert_eq!(line["status"], status, "{line}");
        assert_eq!(line["refused"], true, "{line}");
        assert_eq!(line["level"], "WARN", "{line}");
        assert_eq!(line["key"], key, "{line}");
        assert_eq!(line["client"], "127.0.0.1", "{line}");
        assert!(
            line.get("ingest_id").is_none(),
            "refused, so no webhook: {line}"
        );
    }
    for secret in [OLD_KEY, NEW_KEY, "not-the-key-000000000", "9876543210"] {
        assert!(
            !output.contains(secret),
            "{secret} in the output:\n{output}"
        );
    }
    testkit::cleanup_prefix(&prefix).await;
}
