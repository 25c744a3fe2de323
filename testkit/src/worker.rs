//! The real worker, started in the test's process.

use ::worker::config::WorkerConfig;
use shared::config::Env;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::*;

/// The real worker, run in this process.
pub struct Worker {
    /// Where its admin listener (health, readiness, metrics, webhook log) listens.
    pub admin_addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Worker {
    /// Starts a worker (it connects, migrates and consumes in the background).
    pub fn start(env: &Env) -> Self {
        let config = WorkerConfig::from_env(env).expect("test worker config");
        let admin = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        admin.set_nonblocking(true).expect("nonblocking");
        let admin_addr = admin.local_addr().expect("addr");
        let admin = tokio::net::TcpListener::from_std(admin).expect("tokio listener");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(::worker::run(config, Some(admin), shutdown.clone()));
        Self {
            admin_addr,
            shutdown,
            task,
        }
    }

    /// GETs a path on the admin listener, with a bearer token if given.
    pub async fn admin_get(&self, path: &str, token: Option<&str>) -> HttpResponse {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| vec![("Authorization", b)])
            .unwrap_or_default();
        http(self.admin_addr, "GET", path, &headers, b"").await
    }

    /// Waits until the worker reports ready (broker and database reachable).
    pub async fn wait_ready(&self) {
        eventually("worker ready", Duration::from_secs(60), || async {
            self.admin_get("/readyz", None).await.status == 200
        })
        .await;
    }

    /// Shuts the worker down gracefully and waits for it (at most a minute).
    pub async fn stop(self) {
        self.shutdown.cancel();
        within("the worker to stop", Duration::from_secs(60), self.task)
            .await
            .expect("worker task")
            .expect("worker run");
    }
}
