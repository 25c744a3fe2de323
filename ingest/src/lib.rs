//! The partner-facing edge. Per request it authenticates, validates the body
//! against the partner's contract (statelessly: it never touches the
//! database), publishes the raw body unchanged to RabbitMQ, and answers 201
//! only once the message is safe: confirmed by the broker, or, while the
//! broker cannot confirm, written durably to this edge's spool ([`spool`]).

// Handlers short-circuit with `Result<_, Reply>`: the error is the response
// itself, built once per request, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod access_log;
mod auth;
mod caller;
pub mod config;
mod docs;
mod http;
mod metrics;
mod openapi;
mod partners;
mod pipeline;
mod ratelimit;
mod refusal;
mod routes;
pub mod spool;
mod tls;

pub use routes::partner_routes;

use anyhow::Context as _;
use config::IngestConfig;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
pub use partners::PartnerSecrets;
use shared::Source;
use shared::broker::Publisher;
use shared::serve::{Limits, accept_loop};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Longest a shutdown waits for in-flight requests before closing anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head (request line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long start-up waits for the first broker connection before serving
/// anyway: partners' connections wait in the listen queue meanwhile, so
/// the first requests are neither refused nor needlessly spooled.
const FIRST_CONNECTION_PATIENCE: Duration = Duration::from_secs(5);

/// State every request handler shares.
pub(crate) struct AppState {
    pub(crate) publisher: Publisher,
    /// Where webhooks go when the broker cannot confirm them (`None`:
    /// `SPOOL_MAX_BYTES=0`, answer 503 instead).
    pub(crate) spool: Option<spool::Spool>,
    pub(crate) max_body_bytes: usize,
    pub(crate) body_read_timeout: Duration,
    pub(crate) secrets: PartnerSecrets,
    pub(crate) lead_limits: ratelimit::PerMinute<Source>,
    pub(crate) lead_soft_limits: ratelimit::PerMinute<Source>,
    /// At most one soft-limit warning per partner per minute.
    pub(crate) lead_soft_warnings: ratelimit::PerMinute<Source>,
    pub(crate) lead_soft_limit_per_minute: u32,
    /// `DOCS`: Swagger UI at `/docs`.
    pub(crate) docs: bool,
    /// `/openapi.json`, built once.
    pub(crate) openapi: bytes::Bytes,
    /// The partners' routes.
    pub(crate) routes: partners::RouteTable,
    pub(crate) crm_limits: ratelimit::PerMinute<IpAddr>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    pub(crate) metrics: metrics::EdgeMetrics,
}

/// The sockets the edge serves: partners on one, operators on the other.
pub struct Listeners {
    /// `INGEST_ADDR`: the partner-facing API.
    pub partner: TcpListener,
    /// `ADMIN_ADDR`: health, readiness and metrics (`None`: not served).
    pub admin: Option<TcpListener>,
}

/// The admin listener's view of the edge.
struct AdminView(Arc<AppState>);

impl shared::admin::AdminRoutes for AdminView {
    const METRIC_PREFIX: &'static str = "leadpipe_ingest";

    async fn ready(&self) -> Result<serde_json::Value, serde_json::Value> {
        routes::readiness(&self.0)
    }

    async fn route(
        &self,
        _request: shared::admin::AdminRequest,
    ) -> Option<shared::admin::AdminResponse> {
        None
    }

    fn has_token_routes(&self) -> bool {
        false
    }
}

/// Says, once at start-up, which routes run without a credential, or
/// refuse every request for want of one.
fn warn_about_open_routes(secrets: &PartnerSecrets) {
    for partner in partners::PARTNERS {
        if let Some(warning) = partner.warning(secrets) {
            tracing::warn!("{warning}");
        }
    }
}

/// Serves the edge on `listeners` until `shutdown` is cancelled, then stops
/// accepting, finishes in-flight requests (up to 30 s) and closes the broker
/// connection. Tests call this with listeners on port 0.
pub async fn run(
    config: IngestConfig,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Listeners {
        partner: listener,
        admin,
    } = listeners;
    // Opened before anything is served: a spool that cannot be opened (a
    // second edge on the same SPOOL_DIR, a bad disk) stops the start.
    let spool = if config.spool.enabled() {
        Some(spool::Spool::open(&config.spool)?)
    } else {
        tracing::warn!(
            "SPOOL_MAX_BYTES=0: spooling is off; while the broker cannot confirm, partners get 503"
        );
        None
    };
    let publisher = Publisher::start(config.broker.clone());
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = metrics::EdgeMetrics::register(&mut registry, &publisher);
    metrics.spool.capacity_bytes.set(if spool.is_some() {
        i64::try_from(config.spool.max_bytes).unwrap_or(i64::MAX)
    } else {
        0
    });
    let openapi = openapi::document().context("building /openapi.json")?;
    let drain_stop = CancellationToken::new();
    let drainer = spool.clone().map(|spool| {
        tokio::spawn(
            spool::Drainer::new(spool, publisher.clone(), metrics.spool.clone())
                .run(drain_stop.clone()),
        )
    });
    let state = Arc::new(AppState {
        publisher: publisher.clone(),
        spool,
        max_body_bytes: config.max_body_bytes,
        body_read_timeout: config.body_read_timeout,
        secrets: config.secrets.clone(),
        lead_limits: ratelimit::PerMinute::new(config.lead_rate_limit_per_minute),
        lead_soft_limits: ratelimit::PerMinute::new(config.lead_soft_limit_per_minute),
        lead_soft_warnings: ratelimit::PerMinute::new(1),
        lead_soft_limit_per_minute: config.lead_soft_limit_per_minute,
        docs: config.docs,
        openapi,
        routes: partners::RouteTable::new(),
        crm_limits: ratelimit::PerMinute::new(config.crm_rate_limit_per_minute),
        trusted_proxies: config.trusted_proxies.clone(),
        metrics,
    });
    // The admin listener stops with the process, after the partner port:
    // readiness stays answerable while requests drain.
    let admin = shared::admin::AdminServer::start(
        admin,
        config.admin.token.clone(),
        registry,
        Arc::new(AdminView(state.clone())),
    );
    warn_about_open_routes(&state.secrets);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        // A client that trickles its headers is cut off (slowloris).
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    if !publisher.wait_connected(FIRST_CONNECTION_PATIENCE).await {
        tracing::warn!("the broker is not reachable yet; serving anyway (webhooks are spooled)");
    }
    let tls = match &config.tls {
        Some(tls) => Some(Arc::new(tls::Tls::load(tls)?)),
        None => None,
    };
    let tls_watcher = tls.clone().map(|tls| {
        let stop = drain_stop.clone();
        tokio::spawn(async move { tls.watch(stop).await })
    });
    tracing::info!(
        addr = %listener.local_addr().context("listener address")?,
        scheme = if tls.is_some() { "https" } else { "http" },
        "edge listening"
    );
    let limits = Limits {
        max_connections: config.max_connections,
        drain: DRAIN_TIMEOUT,
    };
    // The connection's own task does the TLS handshake, if any, bounded
    // like the request head, so a slow client holds up no one.
    let handshake_timeout = config.header_read_timeout;
    accept_loop(
        "partner",
        listener,
        limits,
        &shutdown,
        |stream, peer, watcher| {
            let state = state.clone();
            let service = service_fn(move |request| routes::handle(state.clone(), peer, request));
            let acceptor = tls.as_ref().map(|tls| tls.acceptor.clone());
            let http = http.clone();
            async move {
                let served = match acceptor {
                    None => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    Some(acceptor) => {
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                        {
                            Ok(Ok(stream)) => {
                                watcher
                                    .watch(http.serve_connection(TokioIo::new(stream), service))
                                    .await
                            }
                            Ok(Err(error)) => {
                                tracing::debug!(%error, "TLS handshake failed");
                                Ok(())
                            }
                            Err(_) => {
                                tracing::debug!("TLS handshake timed out");
                                Ok(())
                            }
                        }
                    }
                };
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
            }
        },
    )
    .await;
    drain_stop.cancel();
    if let Some(drainer) = drainer {
        drainer.await.ok();
    }
    if let Some(watcher) = tls_watcher {
        watcher.await.ok();
    }
    if let Some(spool) = &state.spool {
        spool.close().await;
    }
    publisher.close().await;
    admin.stop().await;
    Ok(())
}
