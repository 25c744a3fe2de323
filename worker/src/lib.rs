//! The worker: consumes every source's queue, turns each message into rows
//! through [`process::process`], and settles the message with the broker
//! only after the transaction holding its effects has committed.

pub mod admin;
pub mod db;
pub mod entities;
pub mod metrics;
mod persist;
pub mod process;

pub use persist::lead_id;

use admin::WorkerAdmin;
use futures_util::{FutureExt, StreamExt};
use metrics::WorkerMetrics;
use process::{Contention, Outcome, Settings, Transient};
use sea_orm::DatabaseConnection;
use shared::broker::{ConsumerSession, Delivery};
use shared::config::WorkerConfig;
use shared::{Envelope, Source};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Exponential backoff for reconnecting and for retrying a delivery while the
/// database is unavailable: 100 ms doubling to 30 s, with jitter, forever
/// (the caller stops on shutdown).
fn backoff() -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps for `delay` unless shutdown comes first; true if it slept.
async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Runs a worker until `shutdown` is cancelled: serves the admin listener
/// (health, readiness, metrics, webhook log) on `admin` if given, connects
/// to the database (waiting for it if it is down), applies migrations, then
/// consumes, reconnecting to the broker whenever the connection drops. On
/// shutdown it stops taking deliveries, finishes and acks those in flight,
/// and returns.
pub async fn run(
    config: WorkerConfig,
    admin: Option<TcpListener>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = WorkerMetrics::register(&mut registry);
    let state = Arc::new(WorkerAdmin::default());
    let admin = shared::admin::AdminServer::start(
        admin,
        config.admin.token.clone(),
        registry,
        state.clone(),
    );
    let result = work(&config, &state, &metrics, &shutdown).await;
    admin.stop().await;
    result
}

async fn work(
    config: &WorkerConfig,
    state: &WorkerAdmin,
    metrics: &WorkerMetrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut delays = backoff();
    let db = loop {
        match db::connect(config).await {
            Ok(db) => break db,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "database unavailable; waiting"
                );
                if !pause(delays.next().unwrap_or(Duration::from_secs(30)), shutdown).await {
                    return Ok(());
                }
            }
        }
    };
    // Workers starting together take turns; a lock held by another, or a
    // connection lost meanwhile, is waited out like an outage.
    let mut delays = backoff();
    loop {
        match db::migrate(&db).await {
            Ok(()) => break,
            Err(error) if db::is_transient(&error) => {
                tracing::warn!(%error, "migrations must wait; retrying");
                if !pause(delays.next().unwrap_or(Duration::from_secs(30)), shutdown).await {
                    return Ok(());
                }
            }
            Err(error) => return Err(anyhow::Error::new(error).context("applying migrations")),
        }
    }
    tracing::info!("database ready");
    let _ = state.db.set(db.clone());

    let mut delays = backoff();
    let mut sessions = 0u64;
    while !shutdown.is_cancelled() {
        let session = consume(config, &db, metrics, state, &mut sessions, shutdown).await;
        state.broker_connected.store(false, Ordering::Relaxed);
        match session {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "broker session ended; reconnecting"
                );
                if !pause(delays.next().unwrap_or(Duration::from_secs(30)), shutdown).await {
                    break;
                }
            }
        }
    }
    db.close().await.ok();
    tracing::info!("worker stopped");
    Ok(())
}

/// One broker session: consume until shutdown (`Ok`) or until the
/// connection is lost (`Err`), then drain the deliveries in flight.
async fn consume(
    config: &WorkerConfig,
    db: &DatabaseConnection,
    metrics: &WorkerMetrics,
    state: &WorkerAdmin,
    sessions: &mut u64,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut session = ConsumerSession::open(&config.broker).await?;
    let mut deliveries = session.consume(Source::ALL, config.prefetch).await?;
    if *sessions > 0 {
        metrics.broker_reconnects.inc();
    }
    *sessions += 1;
    state.broker_connected.store(true, Ordering::Relaxed);
    tracing::info!(prefetch = config.prefetch, "consuming");
    // Cancelled when this session ends, so deliveries waiting out a database
    // outage stop waiting: their channel is gone and they cannot be acked.
    let session_over = shutdown.child_token();
    let settings = Settings {
        duplicate_window: config.duplicate_window,
        retry_max_attempts: config.retry_max_attempts,
    };
    // Up to `batches_in_flight` batches at a time; deliveries that arrive
    // meanwhile (at most the prefetch) form the next ones.
    let mut pending: Vec<Delivery> = Vec::new();
    let mut in_flight = JoinSet::new();
    let result = loop {
        while in_flight.len() < config.batches_in_flight && !pending.is_empty() {
            let take = pending.len().min(config.batch_size);
            let batch: Vec<Delivery> = pending.drain(..take).collect();
            in_flight.spawn(handle_batch(
                Context {
                    db: db.clone(),
                    settings: settings.clone(),
                    metrics: metrics.clone(),
                    stop: session_over.clone(),
                },
                batch,
            ));
        }
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => pending.push(delivery),
                Some(Err(error)) => break Err(error),
                None => break Err(anyhow::anyhow!("the broker closed the consumer")),
            },
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Err(error) = joined {
                    tracing::error!(%error, "delivery task failed");
                }
            }
        }
    };
    // Received but not started: unacked, so the broker gives them to
    // another worker (or to this one after a reconnect).
    drop(pending);
    // No new deliveries; the ones in flight finish and are acked (or, while
    // the database is down, given back to the queue).
    if session.is_connected() {
        session.cancel_consumers().await;
    } else {
        session_over.cancel();
    }
    while let Some(joined) = in_flight.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "delivery task failed");
        }
    }
    session.close().await;
    result
}

/// Dead-letters a delivery whose envelope cannot be read (it has no ingest
/// id to process or log it under).
async fn reject_unreadable(delivery: Delivery) {
    let reason = match &delivery.envelope {
        Err(error) => format!("unreadable envelope: {error:#}"),
        Ok(_) => return,
    };
    tracing::warn!(source = %delivery.source, %reason, "dead-lettering");
    if let Err(error) = delivery.dead_letter(&reason).await {
        tracing::warn!(
            error = format!("{error:#}"),
            "could not dead-letter; the broker will redeliver"
        );
    }
}

/// Gives deliveries back to their queue (shutdown while the database is down).
async fn requeue_all(deliveries: Vec<(Envelope, Delivery)>) {
    for (envelope, delivery) in deliveries {
        tracing::info!(ingest_id = %envelope.ingest_id, source = %envelope.source, "stopping; returning message to its queue");
        if let Err(error) = delivery.requeue().await {
            tracing::warn!(ingest_id = %envelope.ingest_id, error = format!("{error:#}"), "requeue failed; the broker will redeliver");
        }
    }
}

/// What a delivery task needs besides its deliveries.
#[derive(Clone)]
struct Context {
    db: DatabaseConnection,
    settings: Settings,
    metrics: WorkerMetrics,
    /// Cancelled when the session ends: stop waiting out a database outage.
    stop: CancellationToken,
}

/// Keeps the in-flight gauge true whichever way a task ends.
struct InFlight(WorkerMetrics, i64);

impl InFlight {
    fn new(metrics: &WorkerMetrics, count: usize) -> Self {
        let count = count as i64;
        metrics.in_flight.inc_by(count);
        Self(metrics.clone(), count)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec_by(self.1);
    }
}

/// Drives a batch to its end: processes it in one transaction (retrying in
/// place while the database is unavailable, until `stop`), then settles
/// each delivery with the broker. Should processing panic, the batch is
/// processed again one message at a time, so only the culprit is
/// dead-lettered.
async fn handle_batch(cx: Context, batch: Vec<Delivery>) {
    let _in_flight = InFlight::new(&cx.metrics, batch.len());
    let mut readable = Vec::with_capacity(batch.len());
    for delivery in batch {
        match &delivery.envelope {
            Ok(envelope) => readable.push((envelope.clone(), delivery)),
            Err(_) => reject_unreadable(delivery).await,
        }
    }
    if readable.is_empty() {
        return;
    }
    let mut delays = backoff();
    let mut waited = false;
    let outcomes = loop {
        let items: Vec<(&Envelope, &[u8])> = readable
            .iter()
            .map(|(e, d)| (e, d.body.as_slice()))
            .collect();
        let attempt = AssertUnwindSafe(process::process_batch(&cx.db, &cx.settings, &items))
            .catch_unwind()
            .await;
        match attempt {
            Ok(Ok(outcomes)) => break outcomes,
            Ok(Err(Transient(error, Contention::Yes))) if readable.len() > 1 => {
                // Another worker's batch holds rows this one needs, in
                // another order: one message per transaction cannot deadlock
                // the same way.
                tracing::info!(messages = readable.len(), %error, "contention; processing the batch one by one");
                for (_, delivery) in readable {
                    handle(&cx, delivery).await;
                }
                return;
            }
            Ok(Err(Transient(error, _))) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(messages = readable.len(), %error, ?delay, "database unavailable; will retry");
                waited = true;
                if !pause(delay, &cx.stop).await {
                    requeue_all(readable).await;
                    return;
                }
            }
            Err(_) => {
                tracing::error!(
                    messages = readable.len(),
                    "processing panicked; retrying the batch one by one"
                );
                for (_, delivery) in readable {
                    handle(&cx, delivery).await;
                }
                return;
            }
        }
    };
    if waited {
        cx.metrics.database_reconnects.inc();
    }
    futures_util::future::join_all(
        readable
            .into_iter()
            .zip(outcomes)
            .map(|((envelope, delivery), outcome)| {
                settle(&cx.metrics, envelope, delivery, outcome)
            }),
    )
    .await;
}

/// Drives one delivery to its end: processes it (retrying in place while the
/// database is unavailable, until `stop`) and settles it with the broker.
async fn handle(cx: &Context, delivery: Delivery) {
    let envelope = match &delivery.envelope {
        Ok(envelope) => envelope.clone(),
        Err(_) => {
            reject_unreadable(delivery).await;
            return;
        }
    };
    let mut delays = backoff();
    let mut waited = false;
    let outcome = loop {
        let attempt = AssertUnwindSafe(process::process(
            &cx.db,
            &cx.settings,
            &envelope,
            &delivery.body,
        ))
        .catch_unwind()
        .await;
        match attempt {
            Ok(Ok(outcome)) => break outcome,
            Ok(Err(Transient(error, _))) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(ingest_id = %envelope.ingest_id, source = %envelope.source, %error, ?delay, "database unavailable; will retry");
                waited = true;
                if !pause(delay, &cx.stop).await {
                    requeue_all(vec![(envelope, delivery)]).await;
                    return;
                }
            }
            Err(_) => {
                break Outcome::DeadLetter("the worker panicked processing this message".into());
            }
        }
    };
    if waited {
        cx.metrics.database_reconnects.inc();
    }
    settle(&cx.metrics, envelope, delivery, outcome).await;
}

/// Tells the broker what became of a delivery, after its effects (if any)
/// are committed.
async fn settle(metrics: &WorkerMetrics, envelope: Envelope, delivery: Delivery, outcome: Outcome) {
    let (ingest_id, source) = (envelope.ingest_id, envelope.source);
    let arrived = delivery.arrived;
    // Reasons can quote the body (a contract error names a bad value):
    // logs get them masked.
    let masked = |reason: &str| shared::redact::mask_text(reason);
    let (label, settled) = match &outcome {
        Outcome::Persisted => {
            tracing::debug!(%ingest_id, %source, "persisted");
            ("persisted", delivery.ack().await)
        }
        Outcome::Duplicate(reason) => {
            tracing::info!(%ingest_id, %source, reason = masked(reason), "duplicate; nothing changed");
            ("duplicate", delivery.ack().await)
        }
        // `process` already turned a retry past the last attempt into a dead letter.
        Outcome::RetryLater(reason) => {
            tracing::info!(%ingest_id, %source, reason = masked(reason), attempt = envelope.retry_attempt + 1, "retrying later");
            ("retried", delivery.retry_later(reason).await)
        }
        Outcome::DeadLetter(reason) => {
            tracing::warn!(%ingest_id, %source, reason = masked(reason), "dead-lettering");
            ("dead_lettered", delivery.dead_letter(reason).await)
        }
    };
    match settled {
        Ok(()) => {
            let lag = matches!(outcome, Outcome::Persisted)
                .then(|| (chrono::Utc::now() - envelope.received_at).to_std().ok())
                .flatten();
            metrics.settled(source, label, arrived.elapsed(), lag);
        }
        // Not acked: the broker redelivers it, and the log makes that harmless.
        Err(error) => {
            tracing::warn!(%ingest_id, %source, error = format!("{error:#}"), "could not settle message");
        }
    }
}
