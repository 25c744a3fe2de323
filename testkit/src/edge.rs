//! The real edge, started in the test's process on port 0.

use ingest::config::IngestConfig;
use shared::config::Env;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::*;

/// The real edge, served in this process on a free port.
pub struct Edge {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its admin listener (health, readiness, metrics) listens.
    pub admin_addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
    /// Its own spool, unless the test gave `SPOOL_DIR`.
    _spool_dir: Option<TempDir>,
}

impl Edge {
    /// Starts the edge and waits until it is connected to the broker.
    pub async fn start(env: &Env) -> Self {
        let edge = Self::start_serving(env).await;
        // Generous: right after the broker-outage test the broker is busy
        // recovering, and many tests declare their topology at once.
        eventually(
            "edge connected to the broker",
            Duration::from_secs(60),
            || async {
                let ready = edge.get("/readyz").await;
                ready.status == 200 && ready.json()["broker"] == "connected"
            },
        )
        .await;
        edge
    }

    /// Starts the edge and waits only until it serves (its broker may be
    /// unreachable: it spools).
    pub async fn start_serving(env: &Env) -> Self {
        let mut config = IngestConfig::from_env(env).expect("test ingest config");
        let spool_dir = if env.get("SPOOL_DIR").is_none() {
            let dir = TempDir::new();
            config.spool.dir = dir.path.clone();
            Some(dir)
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let admin_addr = admin.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let listeners = ingest::Listeners {
            partner: listener,
            admin: Some(admin),
        };
        let task = tokio::spawn(ingest::run(config, listeners, shutdown.clone()));
        let edge = Self {
            addr,
            admin_addr,
            shutdown,
            task,
            _spool_dir: spool_dir,
        };
        eventually("edge serving", Duration::from_secs(60), || async {
            edge.task.is_finished() || try_http(edge.addr, "/healthz").await.is_some()
        })
        .await;
        if edge.task.is_finished() {
            panic!("the edge stopped while starting: {:?}", edge.task.await);
        }
        edge
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, path: &str, body: &str) -> HttpResponse {
        http(
            self.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    /// POSTs a JSON body with extra headers.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        http(self.addr, "POST", path, &all, body.as_bytes()).await
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, &[], b"").await
    }

    /// One sample's value on the edge's `/metrics` (admin listener).
    pub async fn metric(&self, series: &str) -> f64 {
        let page = http(self.admin_addr, "GET", "/metrics", &[], b"").await;
        metric_sample(&String::from_utf8_lossy(&page.body), series)
            .unwrap_or_else(|| panic!("{series} is not on the edge's /metrics page"))
    }

    /// Shuts the edge down gracefully and waits for it (at most a minute).
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the edge to stop", Duration::from_secs(60), self.task)
            .await
            .expect("edge task")
            .expect("edge run");
    }
}
