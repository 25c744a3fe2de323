//! A batch of deliveries to its end: webhooks processed in one transaction
//! (retried in place while the database is away), replies sent one by one
//! beside it, then each delivery settled with the broker.

use crate::metrics::WorkerMetrics;
use crate::outbound;
use crate::process::{self, Contention, Outcome, Settings, Transient};
use crate::retry::{backoff, pause};
use crate::settle::settle;
use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use shared::Envelope;
use shared::broker::Delivery;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
pub(crate) struct Context {
    pub(crate) db: DatabaseConnection,
    pub(crate) settings: Settings,
    pub(crate) metrics: WorkerMetrics,
    /// Cancelled when the session ends: stop waiting out a database outage.
    pub(crate) stop: CancellationToken,
    /// `DATABASE_TIMEOUT_SECS`: one processing attempt's limit.
    pub(crate) database_timeout: Duration,
    /// Tata's WhatsApp API, for replies (unset: replies wait).
    pub(crate) tata: Option<crate::tata::TataClient>,
    /// The broker, for an erasure's purge of dead letters.
    pub(crate) broker: shared::config::BrokerConfig,
}

/// Longest an erasure may take: one transaction, and a walk of every
/// dead-letter queue.
const ERASURE_LIMIT: Duration = Duration::from_secs(300);

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
pub(crate) async fn handle_batch(cx: Context, batch: Vec<Delivery>) {
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
    if crate::templates::is_refresh_request(&envelope) {
        let refresh =
            crate::templates::requested(&cx.db, cx.tata.as_ref(), &cx.settings, &envelope);
        // Bounded: one call to Tata and one database write.
        let call = cx
            .tata
            .as_ref()
            .map_or(Duration::ZERO, crate::tata::TataClient::timeout);
        let outcome = tokio::time::timeout(cx.database_timeout + call, refresh)
            .await
            .unwrap_or_else(|_| {
                Outcome::RetryLater("fetching Tata's template list took too long".into())
            });
        return settle(&cx.metrics, envelope, delivery, outcome).await;
    }
    if crate::erase::is_erase_request(&envelope) {
        let erase =
            crate::erase::requested(&cx.db, &cx.broker, &cx.settings, &envelope, &delivery.body);
        let outcome = tokio::time::timeout(ERASURE_LIMIT, erase)
            .await
            .unwrap_or_else(|_| {
                Outcome::RetryLater(format!("the erasure took over {ERASURE_LIMIT:?}"))
            });
        return settle(&cx.metrics, envelope, delivery, outcome).await;
    }
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
            .map_or(Duration::ZERO, crate::tata::TataClient::timeout);
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
