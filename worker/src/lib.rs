//! The worker: consumes every source's queue, turns each message into rows
//! through [`process::process`], and settles the message with the broker
//! only after the transaction holding its effects has committed. Replies
//! staff send from the console go out to Tata through [`outbound`].

pub mod admin;
pub mod db;
pub mod entities;
pub mod liveness;
pub mod metrics;
pub mod outbound;
mod persist;
pub mod process;

pub use persist::lead_id;

use admin::WorkerAdmin;
use futures_util::{FutureExt, StreamExt};
use liveness::Liveness;
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
        result = work(&config, &state, &metrics, &shutdown) => result,
        wedged = liveness::watchdog(&state.liveness, config.watchdog_timeout) => {
            tracing::error!(error = %wedged, "watchdog");
            Err(wedged)
        }
    };
    admin.stop().await;
    result
}

/// Waits out `delay` (beating meanwhile); false if shutdown came first.
async fn wait_to_retry(
    liveness: &Liveness,
    delay: Duration,
    stage: &'static str,
    shutdown: &CancellationToken,
) -> bool {
    liveness.beat(stage);
    let slept = pause(delay, shutdown).await;
    liveness.beat(stage);
    slept
}

async fn work(
    config: &WorkerConfig,
    state: &WorkerAdmin,
    metrics: &WorkerMetrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let liveness = &state.liveness;
    let mut delays = backoff();
    let db = loop {
        liveness.beat("connecting to the database");
        match db::connect(config).await {
            Ok(db) => break db,
            Err(error) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(
                    error = format!("{error:#}"),
                    ?delay,
                    "database unavailable; waiting"
                );
                if !wait_to_retry(liveness, delay, "waiting for the database", shutdown).await {
                    return Ok(());
                }
            }
        }
    };
    // Workers starting together take turns; a lock held by another, or a
    // connection lost meanwhile, is waited out like an outage.
    let mut delays = backoff();
    loop {
        liveness.beat("applying migrations");
        let attempt = tokio::time::timeout(config.database_timeout, db::migrate(&db)).await;
        let error = match attempt {
            Ok(Ok(())) => break,
            Ok(Err(error)) if db::is_transient(&error) => error.to_string(),
            Ok(Err(error)) => {
                return Err(anyhow::Error::new(error).context("applying migrations"));
            }
            Err(_) => format!(
                "no answer within DATABASE_TIMEOUT_SECS ({}s)",
                config.database_timeout.as_secs()
            ),
        };
        let delay = delays.next().unwrap_or(Duration::from_secs(30));
        tracing::warn!(%error, ?delay, "migrations must wait; retrying");
        if !wait_to_retry(liveness, delay, "waiting to apply migrations", shutdown).await {
            return Ok(());
        }
    }
    tracing::info!("database ready");
    let _ = state.db.set(db.clone());
    let tata = config
        .tata_whatsapp
        .clone()
        .map(outbound::TataClient::new)
        .transpose()
        .map_err(|error| error.context("setting up the client for Tata's WhatsApp API"))?;

    let mut delays = backoff();
    let mut sessions = 0u64;
    while !shutdown.is_cancelled() {
        liveness.beat("connecting to the broker");
        let sessions_before = sessions;
        let session = consume(
            config,
            &db,
            tata.as_ref(),
            metrics,
            state,
            &mut sessions,
            shutdown,
        )
        .await;
        state.broker_connected.store(false, Ordering::Relaxed);
        match session {
            Ok(()) => break,
            Err(error) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(
                    error = format!("{error:#}"),
                    ?delay,
                    "broker session ended; reconnecting"
                );
                if !wait_to_retry(
                    liveness,
                    delay,
                    "waiting to reconnect to the broker",
                    shutdown,
                )
                .await
                {
                    break;
                }
            }
        }
        // A session that consumed resets the backoff: the next loss is a new outage.
        if sessions != sessions_before {
            delays = backoff();
        }
    }
    liveness.beat("closing the database pool");
    if tokio::time::timeout(Duration::from_secs(5), db.close())
        .await
        .is_err()
    {
        tracing::warn!("the database pool did not close within 5 s; leaving it");
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// How often the consume loop checks its connection and its queues.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// At most how often it asks the broker how many messages wait in its
/// queues (a cheap probe that also proves the connection still answers):
/// every 5 s, or twice per `WORKER_STALL_SECS` when that is shorter.
fn look_every(stall_timeout: Duration) -> Duration {
    (stall_timeout / 2).clamp(CHECK_EVERY, Duration::from_secs(5))
}

/// One broker session: consume until shutdown (`Ok`) or until the
/// connection is lost or the session stalls (`Err`), then drain the
/// deliveries in flight.
async fn consume(
    config: &WorkerConfig,
    db: &DatabaseConnection,
    tata: Option<&outbound::TataClient>,
    metrics: &WorkerMetrics,
    state: &WorkerAdmin,
    sessions: &mut u64,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let liveness = &state.liveness;
    let mut session = ConsumerSession::open(&config.broker).await?;
    let mut deliveries = session.consume(Source::ALL, config.prefetch).await?;
    if *sessions > 0 {
        metrics.broker_reconnects.inc();
    }
    *sessions += 1;
    state.broker_connected.store(true, Ordering::Relaxed);
    liveness.progressed();
    liveness.broker_answered(None);
    liveness.beat("consuming");
    tracing::info!(prefetch = config.prefetch, "consuming");
    // Cancelled when this session ends, so deliveries waiting out a database
    // outage stop waiting: their channel is gone and they cannot be acked.
    let session_over = shutdown.child_token();
    let settings = Settings {
        duplicate_window: config.duplicate_window,
        retry_max_attempts: config.retry_max_attempts,
        dealer_numbers: std::sync::Arc::new(config.dealer_numbers.iter().cloned().collect()),
    };
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_queued_look = tokio::time::Instant::now();
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
                    database_timeout: config.database_timeout,
                    tata: tata.cloned(),
                },
                batch,
            ));
        }
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    liveness.progressed();
                    liveness.broker_answered(None);
                    pending.push(delivery);
                }
                Some(Err(error)) => break Err(error),
                None => break Err(anyhow::anyhow!("the broker closed the consumer")),
            },
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                liveness.progressed();
                if let Err(error) = joined {
                    tracing::error!(%error, "delivery task failed");
                }
            }
            _ = check.tick() => {
                liveness.beat("consuming");
                // A connection can die without the consumer stream ending
                // (no frame ever arrives to say so): look, every second.
                if !session.is_connected() {
                    break Err(anyhow::anyhow!("the broker connection was lost"));
                }
                if last_queued_look.elapsed() >= look_every(config.stall_timeout) {
                    last_queued_look = tokio::time::Instant::now();
                    // Bounded by the adapter: a silent connection fails it.
                    let look = tokio::select! {
                        _ = shutdown.cancelled() => break Ok(()),
                        look = session.ready_messages(Source::ALL) => look,
                    };
                    match look {
                        Ok(queued) => liveness.broker_answered(Some(queued)),
                        Err(error) => break Err(error.context("reading the work queues' depth")),
                    }
                    liveness.beat("consuming");
                    // Work waits, nothing arrives and nothing is in hand:
                    // this session is not delivering. A new one might.
                    if in_flight.is_empty() && pending.is_empty()
                        && let Some((queued, idle)) = liveness.starved(2 * config.stall_timeout)
                    {
                        break Err(anyhow::anyhow!(
                            "{queued} messages are waiting but none was delivered for {}s",
                            idle.as_secs()
                        ));
                    }
                }
            }
        }
    };
    state.broker_connected.store(false, Ordering::Relaxed);
    liveness.beat("draining deliveries in flight");
    // Received but not started: unacked, so the broker gives them to
    // another worker (or to this one after a reconnect).
    drop(pending);
    // No new deliveries; the ones in flight finish and are acked (or, while
    // the database is down, given back to the queue).
    // On shutdown, a polite cancel; after a failure the connection may be
    // silent, so nothing waits on it and deliveries waiting out a database
    // outage give up at once.
    if result.is_ok() && session.is_connected() {
        session.cancel_consumers().await;
    } else {
        session_over.cancel();
    }
    let drained = tokio::time::timeout(config.drain_timeout(), async {
        while let Some(joined) = in_flight.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "delivery task failed");
            }
        }
    })
    .await;
    if drained.is_err() {
        // Unacked, they return to the queue when the connection closes;
        // whatever they had committed makes the redelivery a no-op.
        tracing::warn!(
            batches = in_flight.len(),
            timeout = ?config.drain_timeout(),
            "batches still in flight after the drain timeout; abandoning them to be redelivered"
        );
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
    }
    liveness.beat("closing the broker session");
    session.close().await;
    result
}

/// One processing attempt, bounded by `DATABASE_TIMEOUT_SECS`: past it the
/// attempt is dropped (its transaction rolls back) and counts as a transient
/// failure, so a database connection that hangs is retried like one that
/// broke. A panic stays an `Err` for the caller to handle.
async fn bounded<T>(
    limit: Duration,
    attempt: impl std::future::Future<Output = std::thread::Result<Result<T, Transient>>>,
) -> std::thread::Result<Result<T, Transient>> {
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Ok(Err(Transient(
            format!(
                "the database did not answer within DATABASE_TIMEOUT_SECS ({}s)",
                limit.as_secs()
            ),
            Contention::No,
        ))),
    }
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
    /// `DATABASE_TIMEOUT_SECS`: one processing attempt's limit.
    database_timeout: Duration,
    /// Tata's WhatsApp API, for replies (unset: replies wait).
    tata: Option<outbound::TataClient>,
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
    let mut replies = Vec::new();
    for delivery in batch {
        match &delivery.envelope {
            Ok(envelope) if envelope.source.is_outgoing() => replies.push(delivery),
            Ok(envelope) => readable.push((envelope.clone(), delivery)),
            Err(_) => reject_unreadable(delivery).await,
        }
    }
    // Replies call Tata's API: one at a time each, never inside a batch's
    // transaction, all of them alongside the batch.
    let replies = futures_util::future::join_all(replies.into_iter().map(|d| handle_reply(&cx, d)));
    let (_, ()) = tokio::join!(replies, handle_webhooks(&cx, readable));
}

/// The webhooks of a batch, in one transaction (see [`handle_batch`]).
async fn handle_webhooks(cx: &Context, readable: Vec<(Envelope, Delivery)>) {
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
        let attempt = bounded(
            cx.database_timeout,
            AssertUnwindSafe(process::process_batch(&cx.db, &cx.settings, &items)).catch_unwind(),
        )
        .await;
        match attempt {
            Ok(Ok(batch)) => {
                if batch.one_by_one {
                    cx.metrics.batch_fallbacks.inc();
                }
                break batch.outcomes;
            }
            Ok(Err(Transient(error, Contention::Yes))) if readable.len() > 1 => {
                // Another worker's batch holds rows this one needs, in
                // another order: one message per transaction cannot deadlock
                // the same way.
                tracing::info!(messages = readable.len(), %error, "contention; processing the batch one by one");
                for (_, delivery) in readable {
                    handle(cx, delivery).await;
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
                    handle(cx, delivery).await;
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

/// Drives one reply send request to its end: sends it (see [`outbound`]),
/// retrying in place while the database is unavailable, and settles it.
async fn handle_reply(cx: &Context, delivery: Delivery) {
    let Ok(envelope) = delivery.envelope.as_ref().map(Envelope::clone) else {
        return reject_unreadable(delivery).await;
    };
    let mut delays = backoff();
    let outcome = loop {
        let attempt = outbound::handle(
            &cx.db,
            cx.tata.as_ref(),
            &cx.settings,
            &envelope,
            &delivery.body,
            &cx.stop,
        );
        // Bounded: the database steps, plus one call to Tata.
        let call = cx
            .tata
            .as_ref()
            .map_or(Duration::ZERO, outbound::TataClient::timeout);
        match tokio::time::timeout(cx.database_timeout * 2 + call, attempt).await {
            Ok(Ok(outcome)) => break outcome,
            Ok(Err(Transient(error, _))) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(30));
                tracing::warn!(ingest_id = %envelope.ingest_id, %error, ?delay, "database unavailable; will retry the reply");
                if !pause(delay, &cx.stop).await {
                    requeue_all(vec![(envelope, delivery)]).await;
                    return;
                }
            }
            Err(_) => {
                // The reply row says where it stood (`sending` becomes
                // `unknown` on redelivery); the broker redelivers it.
                tracing::warn!(ingest_id = %envelope.ingest_id, "sending a reply took too long; returning it to its queue");
                requeue_all(vec![(envelope, delivery)]).await;
                return;
            }
        }
    };
    settle(&cx.metrics, envelope, delivery, outcome).await;
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
        let attempt = bounded(
            cx.database_timeout,
            AssertUnwindSafe(process::process(
                &cx.db,
                &cx.settings,
                &envelope,
                &delivery.body,
            ))
            .catch_unwind(),
        )
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
