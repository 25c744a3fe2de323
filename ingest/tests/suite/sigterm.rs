//! The `ingest` binary on SIGTERM: stops accepting, finishes the request in
//! flight (answering it 201), and exits 0.

use std::process::Stdio;
use std::time::Duration;
use testkit::{amqp_url, eventually, http, parse_response, unique_prefix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let prefix = unique_prefix("sigterm");
    // Its own spool, not `data/spool` under the crate's directory.
    let spool = testkit::TempDir::new();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("INGEST_ADDR", addr.to_string())
        .env("AMQP_URL", amqp_url())
        .env("AMQP_PREFIX", &prefix)
        .env("SPOOL_DIR", &spool.path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    eventually("edge ready", Duration::from_secs(20), || async {
        match TcpStream::connect(addr).await {
            Ok(_) => http(addr, "GET", "/readyz", &[], b"").await.status == 200,
            Err(_) => false,
        }
    })
    .await;

    // A request whose body is still on its way when SIGTERM arrives.
    let body = testkit::TATA_MINIMAL.as_bytes();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/webhook/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New connections are refused while the old request finishes.
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after SIGTERM"
    );
    stream.write_all(&body[10..]).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse_response(&raw).status, 201);

    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    testkit::cleanup_prefix(&prefix).await;
}
