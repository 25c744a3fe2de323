//! The worker: consumes every source's queue, turns each message into rows,
//! and settles the message with the broker only after the transaction
//! holding its effects has committed. Replies staff send from the console
//! go out to Tata through [`outbound`].
//!
//! Consume → normalise → upsert → ack, in the order to read it:
//! - `consume`: the consume loop. Connects to the database and migrates,
//!   holds a broker session, gathers deliveries into batches, reconnects
//!   when the session is lost or stalls, drains on shutdown.
//! - `batch`: a batch to its end, in one transaction, retried in place
//!   while the database is away.
//! - [`process`]: each body read by its partner's `persist` file (one
//!   dispatch from the source; the partner's contract in
//!   `shared::contracts`: E.164, UTC, aliases) into a `message::Message`,
//!   claimed in the webhook log (`claim`, on `store::delivery_log`), staged
//!   (`staging`) and upserted (`persist`), in multi-row statements where
//!   the source allows.
//! - `settle`: ack, retry later or dead-letter, each only after the commit.

pub mod admin;
mod batch;
mod claim;
pub mod config;
mod consume;
mod dead_letter_retention;
mod desk;
mod erase;
mod lead_retention;
pub mod liveness;
mod media;
mod message;
pub mod metrics;
pub mod outbound;
mod persist;
pub mod process;
mod retention;
mod retry;
mod settle;
mod staging;
pub mod tata;
mod templates;

pub use persist::lead_id;

use admin::WorkerAdmin;
use config::WorkerConfig;
use metrics::WorkerMetrics;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runs a worker until `shutdown` is cancelled: serves the admin listener
/// (health, readiness, metrics, webhook log) on `admin` if given, connects
/// to the database (waiting for it if it is down), applies migrations, then
/// consumes, reconnecting to the broker whenever the connection drops. On
/// shutdown it stops taking deliveries, finishes and acks those in flight
/// (for at most [`WorkerConfig::drain_timeout`]), and returns.
///
/// Every wait on the network is bounded, and a watchdog checks that the
/// worker's loop keeps moving: should it ever wedge anyway, `run` returns an
/// error saying where, instead of leaving a process that consumes nothing
/// and says nothing.
pub async fn run(
    config: WorkerConfig,
    admin: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = WorkerMetrics::register(&mut registry);
    let state = Arc::new(WorkerAdmin::new(config.stall_timeout));
    let admin = shared::admin::AdminServer::start(
        admin,
        config.admin.token.clone(),
        registry,
        state.clone(),
    );
    state.liveness.beat("starting");
    let result = tokio::select! {
        result = consume::work(&config, &state, &metrics, &shutdown) => result,
        wedged = liveness::watchdog(&state.liveness, config.watchdog_timeout) => {
            tracing::error!(error = %wedged, "watchdog");
            Err(wedged)
        }
    };
    admin.stop().await;
    result
}
