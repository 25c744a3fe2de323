//! HTTPS on the partner port (`TLS_CERT_FILE`, `TLS_KEY_FILE`) with test
//! certificates generated here: a webhook over TLS is answered 201, plain
//! HTTP gets no answer, a renewed certificate is presented without a
//! restart, a broken renewal leaves the working one in place, and bad
//! configuration stops the edge naming the variable.

use ingest::config::IngestConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use shared::config::Env;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use testkit::{HttpResponse, TATA_MINIMAL, TempDir, eventually, http, test_env, unique_prefix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// A self-signed certificate for 127.0.0.1 and localhost: (cert PEM, key
/// PEM, cert DER).
fn certificate() -> (String, String, CertificateDer<'static>) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    (
        generated.cert.pem(),
        generated.key_pair.serialize_pem(),
        generated.cert.der().clone(),
    )
}

/// One HTTPS request trusting `roots`; the answer and the certificate the
/// server presented.
async fn https(
    addr: SocketAddr,
    roots: &[CertificateDer<'static>],
    path: &str,
    body: &str,
) -> (HttpResponse, CertificateDer<'static>) {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .expect("the handshake in time")
        .expect("a TLS handshake with a trusted certificate");
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut raw))
        .await
        .expect("an answer in time")
        .ok();
    (testkit::parse_response(&raw), presented)
}

struct TlsEdge {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _spool: TempDir,
}

async fn start(env: &Env) -> TlsEdge {
    let spool = TempDir::new();
    let mut config = IngestConfig::from_env(env).unwrap();
    config.spool.dir = spool.path.clone();
    let partner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = partner.local_addr().unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let listeners = ingest::Listeners {
        partner,
        admin: Some(admin),
    };
    let task = tokio::spawn(ingest::run(config, listeners, shutdown.clone()));
    eventually("the edge ready", Duration::from_secs(60), || async {
        task.is_finished() || http(admin_addr, "GET", "/readyz", &[], b"").await.status == 200
    })
    .await;
    assert!(!task.is_finished(), "the edge stopped while starting");
    TlsEdge {
        addr,
        shutdown,
        task,
        _spool: spool,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_arrive_over_tls_and_a_renewed_certificate_is_picked_up() {
    testkit::init_logging();
    let files = TempDir::new();
    let cert_file = files.path.join("cert.pem");
    let key_file = files.path.join("key.pem");
    let (cert_a, key_a, der_a) = certificate();
    std::fs::write(&cert_file, &cert_a).unwrap();
    std::fs::write(&key_file, &key_a).unwrap();
    let prefix = unique_prefix("tls");
    let env = test_env(
        &prefix,
        None,
        &[
            ("TLS_CERT_FILE", cert_file.to_str().unwrap()),
            ("TLS_KEY_FILE", key_file.to_str().unwrap()),
        ],
    );
    let edge = start(&env).await;

    let (answer, presented) = https(
        edge.addr,
        std::slice::from_ref(&der_a),
        "/api/webhook/",
        TATA_MINIMAL,
    )
    .await;
    assert_eq!(answer.status, 201, "{:?}", answer.json());
    assert_eq!(presented, der_a);
    // Plain HTTP on the TLS port gets no HTTP answer (a TLS alert at most).
    let mut plain = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut raw)).await;
    assert!(
        !raw.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );

    // Renewed: the key, then the certificate, as a renewal tool writes them.
    let (cert_b, key_b, der_b) = certificate();
    std::fs::write(&key_file, &key_b).unwrap();
    std::fs::write(&cert_file, &cert_b).unwrap();
    let both = [der_a.clone(), der_b.clone()];
    eventually(
        "the renewed certificate presented",
        Duration::from_secs(20),
        || async {
            https(edge.addr, &both, "/api/webhook/", TATA_MINIMAL)
                .await
                .1
                == der_b
        },
    )
    .await;

    // A broken renewal (a certificate without its key) changes nothing.
    let (cert_c, _, _) = certificate();
    std::fs::write(&cert_file, &cert_c).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (answer, presented) = https(edge.addr, &both, "/api/webhook/", TATA_MINIMAL).await;
    assert_eq!(answer.status, 201);
    assert_eq!(presented, der_b, "still the last certificate that loaded");

    edge.shutdown.cancel();
    edge.task.await.unwrap().unwrap();
    testkit::cleanup_prefix(&prefix).await;
}

#[tokio::test]
async fn tls_configuration_errors_name_the_variable_or_the_file() {
    let one_only = test_env("tls-config", None, &[("TLS_CERT_FILE", "/tmp/cert.pem")]);
    let error = IngestConfig::from_env(&one_only).unwrap_err();
    assert_eq!(error.name, "TLS_KEY_FILE");

    let files = TempDir::new();
    let (cert, _, _) = certificate();
    let (_, other_key, _) = certificate();
    let cert_file = files.path.join("cert.pem");
    let key_file = files.path.join("key.pem");
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, other_key).unwrap();
    for (cert, key, expected) in [
        (
            files.path.join("missing.pem"),
            key_file.clone(),
            "TLS_CERT_FILE",
        ),
        (cert_file.clone(), key_file.clone(), "does not fit"),
    ] {
        let env = test_env(
            &unique_prefix("tls-config"),
            None,
            &[
                ("TLS_CERT_FILE", cert.to_str().unwrap()),
                ("TLS_KEY_FILE", key.to_str().unwrap()),
            ],
        );
        let mut config = IngestConfig::from_env(&env).unwrap();
        let spool = TempDir::new();
        config.spool.dir = spool.path.clone();
        let listeners = ingest::Listeners {
            partner: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: None,
        };
        let stopped = tokio::time::timeout(
            Duration::from_secs(30),
            ingest::run(config, listeners, CancellationToken::new()),
        )
        .await
        .expect("the edge refuses to start");
        let message = format!("{:#}", stopped.unwrap_err());
        assert!(message.contains(expected), "{message}");
    }
}
