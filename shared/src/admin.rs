//! The operators' listener both binaries serve on `ADMIN_ADDR`, away from
//! the partner-facing port: `GET /healthz` (the process is up), `GET /readyz`
//! (it can do its work), `GET /metrics` (Prometheus), and, behind a bearer
//! token, whatever the binary adds (the worker's webhook log).
//!
//! Health and metrics are open on purpose: container health checks and
//! Prometheus scrapers reach them without credentials, and they carry no
//! personal data. Everything else needs `Authorization: Bearer <ADMIN_TOKEN>`.

// Helpers short-circuit with `Result<_, AdminResponse>`: the error is the
// response itself, built once per request, so boxing it would only add an
// allocation.
#![allow(clippy::result_large_err)]

use crate::secret::SecretList;
use crate::serve::{Limits, accept_loop};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Every admin response: a small, fully built body.
pub type AdminResponse = Response<Full<Bytes>>;

/// Connections the admin listener serves at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// A client that has not sent its request head by then is cut off.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest an admin request may take (a slow database query included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head accepted.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A parsed admin request: what the routes of a binary need to answer it.
#[derive(Debug)]
pub struct AdminRequest {
    /// `GET`, …
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// Query parameters, percent-decoded; a repeated name keeps the last value.
    pub query: HashMap<String, String>,
}

/// What a binary adds to the admin listener.
pub trait AdminRoutes: Send + Sync + 'static {
    /// The binary's metric prefix (`leadpipe_ingest`, `leadpipe_worker`):
    /// the listener exports `<prefix>_ready` under it.
    const METRIC_PREFIX: &'static str;

    /// Whether the process can do its work now: `Ok(details)` answers 200,
    /// `Err(details)` 503.
    fn ready(&self) -> impl Future<Output = Result<serde_json::Value, serde_json::Value>> + Send;

    /// Answers an authenticated request, or `None` for an unknown path (404).
    fn route(&self, request: AdminRequest) -> impl Future<Output = Option<AdminResponse>> + Send;

    /// Whether this listener serves anything beyond health, readiness and
    /// metrics. When it does not (the edge), every other path is a plain
    /// 404 saying so, not a request for a token it would never use.
    fn has_token_routes(&self) -> bool {
        true
    }
}

/// A JSON response.
pub fn json(status: StatusCode, body: &serde_json::Value) -> AdminResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A JSON error: `{"status": "error", "message": …}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> AdminResponse {
    json(
        status,
        &serde_json::json!({"status": "error", "message": message.into()}),
    )
}

/// Why the admin listener could not start, naming the variable, its value
/// and the fix (several processes on one host need one address each).
pub fn bind_refusal(addr: Option<std::net::SocketAddr>, error: &std::io::Error) -> String {
    let shown = addr.map_or_else(|| "off".to_owned(), |a| a.to_string());
    format!(
        "cannot listen on ADMIN_ADDR={shown}: {error}; free that port, give each process its own ADMIN_ADDR, or set ADMIN_ADDR=off"
    )
}

/// Binds `ADMIN_ADDR`, if set, so a binary fails at start-up (not later)
/// when the address is taken.
pub async fn bind(addr: Option<std::net::SocketAddr>) -> std::io::Result<Option<TcpListener>> {
    match addr {
        None => Ok(None),
        Some(addr) => TcpListener::bind(addr).await.map(Some),
    }
}

/// A running admin listener, stopped by its owner when the process is done.
pub struct AdminServer {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl AdminServer {
    /// Serves `listener` (if any) in the background until [`AdminServer::stop`].
    pub fn start<R: AdminRoutes>(
        listener: Option<TcpListener>,
        token: Option<SecretList>,
        registry: Registry,
        routes: Arc<R>,
    ) -> Self {
        let stop = CancellationToken::new();
        let task = listener
            .map(|listener| tokio::spawn(serve(listener, token, registry, routes, stop.clone())));
        Self { stop, task }
    }

    /// Stops serving and waits for the listener to close.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

/// Serves the admin listener until `shutdown`. Requests in flight when it
/// comes are dropped: nothing here changes state, so nothing is lost.
pub async fn serve<R: AdminRoutes>(
    listener: TcpListener,
    token: Option<SecretList>,
    mut registry: Registry,
    routes: Arc<R>,
    shutdown: CancellationToken,
) {
    // Readiness as a metric, so an alert can see a process that is up but
    // cannot work (broker or database away, a stalled consumer) without
    // probing /readyz itself.
    let ready = Gauge::default();
    registry
        .sub_registry_with_prefix(R::METRIC_PREFIX)
        .register(
            "ready",
            "1 while /readyz answers 200, 0 while it answers 503 (evaluated at each scrape)",
            ready.clone(),
        );
    let state = Arc::new(State {
        token,
        registry,
        ready,
        routes,
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin listener up");
    }
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    // Nothing here changes state: on shutdown, open requests are dropped.
    let limits = Limits {
        max_connections: MAX_CONNECTIONS,
        drain: Duration::ZERO,
    };
    accept_loop(
        "admin",
        listener,
        limits,
        &shutdown,
        |stream, _, watcher| {
            let state = state.clone();
            let connection = http.serve_connection(
                TokioIo::new(stream),
                service_fn(move |request| {
                    let state = state.clone();
                    async move {
                        let response = tokio::time::timeout(REQUEST_TIMEOUT, state.handle(request))
                            .await
                            .unwrap_or_else(|_| {
                                error(StatusCode::SERVICE_UNAVAILABLE, "request timed out")
                            });
                        Ok::<_, Infallible>(response)
                    }
                }),
            );
            let connection = watcher.watch(connection);
            let shutdown = shutdown.clone();
            async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    result = connection => if let Err(error) = result {
                        tracing::debug!(%error, "admin connection ended with an error");
                    },
                }
            }
        },
    )
    .await;
}

struct State<R> {
    token: Option<SecretList>,
    registry: Registry,
    /// `<prefix>_ready`, set from [`AdminRoutes::ready`] before each scrape.
    ready: Gauge,
    routes: Arc<R>,
}

impl<R: AdminRoutes> State<R> {
    async fn handle(&self, request: Request<Incoming>) -> AdminResponse {
        let path = request.uri().path().to_owned();
        let get = request.method() == Method::GET;
        match path.as_str() {
            "/healthz" if get => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
            "/readyz" if get => match self.routes.ready().await {
                Ok(details) => json(StatusCode::OK, &details),
                Err(details) => json(StatusCode::SERVICE_UNAVAILABLE, &details),
            },
            "/metrics" if get => {
                let ready = self.routes.ready().await.is_ok();
                self.ready.set(i64::from(ready));
                self.metrics()
            }
            "/healthz" | "/readyz" | "/metrics" => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed; use GET",
            ),
            _ if !self.routes.has_token_routes() => error(
                StatusCode::NOT_FOUND,
                format!(
                    "no such endpoint: {path}; this admin listener serves /healthz, /readyz and /metrics (the webhook log is on the workers' admin listeners)"
                ),
            ),
            _ => {
                if let Err(refusal) = self.authorize(&request) {
                    return refusal;
                }
                let admin_request = AdminRequest {
                    method: request.method().clone(),
                    query: parse_query(request.uri().query().unwrap_or("")),
                    path,
                };
                let path = admin_request.path.clone();
                self.routes.route(admin_request).await.unwrap_or_else(|| {
                    error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"))
                })
            }
        }
    }

    fn metrics(&self) -> AdminResponse {
        let mut text = String::new();
        if let Err(failure) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%failure, "encoding metrics");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not encode metrics",
            );
        }
        let mut response = Response::new(Full::new(Bytes::from(text)));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        response
    }

    /// Checks the bearer token in constant time.
    fn authorize(&self, request: &Request<Incoming>) -> Result<(), AdminResponse> {
        let Some(token) = &self.token else {
            return Err(error(
                StatusCode::FORBIDDEN,
                "the admin API is disabled: set ADMIN_TOKEN to enable it",
            ));
        };
        let presented = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        match presented {
            Some(value) if token.matches(value.as_bytes()) => Ok(()),
            _ => {
                let mut refusal = error(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong bearer token (Authorization: Bearer <ADMIN_TOKEN>)",
                );
                refusal
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                Err(refusal)
            }
        }
    }
}

/// Splits and percent-decodes a query string (`+` is a space).
fn parse_query(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_and_decoded() {
        let q = parse_query(
            "source=tata_calls&since=2026-01-01T00%3A00%3A00Z&x=a+b&flag&bad=%zz%4&utf=%C3%A9%",
        );
        assert_eq!(q["source"], "tata_calls");
        assert_eq!(q["since"], "2026-01-01T00:00:00Z");
        assert_eq!(q["x"], "a b");
        assert_eq!(q["flag"], "");
        assert_eq!(q["bad"], "%zz%4");
        assert_eq!(q["utf"], "é%");
    }
}
