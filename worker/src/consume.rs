//! The consume loop: connect to the database (waiting for it), migrate,
//! then hold a broker session, gathering deliveries into batches and
//! handing them to [`crate::batch`], reconnecting whenever the session is
//! lost or stalls, and draining what is in flight on shutdown.

use crate::admin::WorkerAdmin;
use crate::batch::{Context, handle_batch};
use crate::config::WorkerConfig;
use crate::metrics::WorkerMetrics;
use crate::process::Settings;
use crate::retry::{backoff, wait_to_retry};
use futures_util::StreamExt;
use sea_orm::DatabaseConnection;
use shared::Source;
use shared::broker::{ConsumerSession, Delivery};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Connects, migrates, and consumes until `shutdown`, one broker session
/// after another.
pub(crate) async fn work(
    config: &WorkerConfig,
    state: &WorkerAdmin,
    metrics: &WorkerMetrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let liveness = &state.liveness;
    let mut delays = backoff();
    let db = loop {
        liveness.beat("connecting to the database");
        let connecting = store::connect(
            config.database_url.expose(),
            config.database_max_connections,
            config.database_timeout,
        );
        match connecting.await {
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
        let attempt = tokio::time::timeout(config.database_timeout, store::migrate(&db)).await;
        let error = match attempt {
            Ok(Ok(())) => break,
            Ok(Err(error)) if store::is_transient(&error) => error.to_string(),
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
    // The lead desk's timers (routing, escalation) and retention: stopped with the worker
    // (or on any early return, by the guard), before the pool closes.
    let sweeper_stop = shutdown.child_token();
    let _stop_sweeper_on_return = sweeper_stop.clone().drop_guard();
    let sweeper = tokio::spawn(crate::desk::timers::run(
        db.clone(),
        config.desk.clone(),
        crate::desk::timers::Cadence {
            route: config.desk_route_every,
            sweep: config.desk_sweep_every,
        },
        sweeper_stop.clone(),
    ));
    // Retention of the webhook log: stopped the same way.
    let retention = tokio::spawn(crate::retention::run(
        db.clone(),
        config.broker.clone(),
        config.retention,
        metrics.clone(),
        sweeper_stop.clone(),
    ));
    let tata = config
        .tata_whatsapp
        .clone()
        .map(crate::tata::TataClient::new)
        .transpose()
        .map_err(|error| error.context("setting up the client for Tata's WhatsApp API"))?;
    // Tata's template list, at start and on a schedule: stopped the same way.
    let templates = tata
        .clone()
        .zip(config.tata_whatsapp.as_ref())
        .map(|(client, api)| {
            tokio::spawn(crate::templates::run(
                db.clone(),
                client,
                api.templates_refresh,
                sweeper_stop.clone(),
            ))
        });

    // Inbound media from Tata's media API: stopped the same way.
    let media = tata.clone().map(|client| {
        tokio::spawn(crate::media::run(
            db.clone(),
            client,
            config.retry_max_attempts,
            sweeper_stop.clone(),
        ))
    });

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
    sweeper_stop.cancel();
    if let Err(error) = sweeper.await {
        tracing::warn!(%error, "the lead desk's timers ended abnormally");
    }
    if let Err(error) = retention.await {
        tracing::warn!(%error, "the retention task ended abnormally");
    }
    if let Some(task) = templates
        && let Err(error) = task.await
    {
        tracing::warn!(%error, "the template refresh ended abnormally");
    }
    if let Some(task) = media
        && let Err(error) = task.await
    {
        tracing::warn!(%error, "the media fetcher ended abnormally");
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
    tata: Option<&crate::tata::TataClient>,
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
        desk: crate::desk::Desk {
            config: config.desk.clone(),
            turns: crate::desk::Turns::for_pool(db),
        },
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
                    broker: config.broker.clone(),
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
