//! The drainer: publishes spooled webhooks, oldest first, as soon as the
//! broker confirms again, and deletes each only after its confirm.

use super::Spool;
use crate::metrics::SpoolMetrics;
use futures_util::future::join_all;
use shared::broker::Publisher;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Webhooks read and published at once (their confirms are awaited
/// together, so a batch costs about one round trip to the broker).
const BATCH: usize = 256;
/// How often the drainer looks again while the broker is away, and how
/// often the spool's gauges move while it holds anything.
const POLL: Duration = Duration::from_millis(250);
/// The pause after a batch the broker did not wholly confirm.
const BACKOFF: Duration = Duration::from_secs(1);

/// Publishes what the spool holds; one per edge.
pub struct Drainer {
    spool: Spool,
    publisher: Publisher,
    metrics: SpoolMetrics,
}

impl Drainer {
    /// A drainer of `spool` through `publisher`.
    pub(crate) fn new(spool: Spool, publisher: Publisher, metrics: SpoolMetrics) -> Self {
        Self {
            spool,
            publisher,
            metrics,
        }
    }

    /// Runs until `stop`; a batch in flight is finished first, so its
    /// confirms are not wasted (and nothing is lost either way: an entry is
    /// deleted only after its confirm).
    pub async fn run(self, stop: CancellationToken) {
        let mut spooling = !self.spool.is_empty();
        if spooling {
            tracing::warn!(
                messages = self.spool.len(),
                "the spool holds webhooks from before this start; publishing them once the broker confirms"
            );
        }
        loop {
            self.update_gauges().await;
            if self.spool.is_empty() {
                if spooling {
                    spooling = false;
                    tracing::warn!("spooling ended: every spooled webhook is with the broker");
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = self.spool.appended() => continue,
                }
            }
            if !spooling {
                spooling = true;
                tracing::warn!(
                    "spooling: the broker cannot confirm webhooks, so they are kept on this edge's disk (SPOOL_DIR) until it can"
                );
            }
            let pause = if !self.publisher.is_connected() {
                POLL
            } else {
                match self.publish_batch().await {
                    Ok(true) => Duration::ZERO,
                    Ok(false) => BACKOFF,
                    Err(error) => {
                        tracing::error!(error = format!("{error:#}"), "draining the spool");
                        BACKOFF
                    }
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Publishes the oldest batch and deletes what the broker confirmed.
    /// True when all of it was confirmed.
    async fn publish_batch(&self) -> anyhow::Result<bool> {
        let batch = self.spool.oldest(BATCH).await?;
        let results = join_all(
            batch
                .iter()
                .map(|webhook| self.publisher.publish(&webhook.envelope, &webhook.body)),
        )
        .await;
        let mut confirmed = Vec::with_capacity(batch.len());
        let mut refused = None;
        for (webhook, result) in batch.iter().zip(results) {
            match result {
                Ok(()) => confirmed.push(webhook.key),
                Err(error) => {
                    refused.get_or_insert(error);
                }
            }
        }
        let published = confirmed.len() as u64;
        self.spool.remove(confirmed).await?;
        self.metrics.drained.inc_by(published);
        if let Some(error) = &refused {
            tracing::debug!(%error, published, "the broker did not confirm every spooled webhook; trying again");
        }
        Ok(refused.is_none())
    }

    async fn update_gauges(&self) {
        self.metrics.show_counts(&self.spool);
        let age = match self.spool.oldest_key().await {
            Ok(Some(key)) => age_seconds(key),
            _ => 0.0,
        };
        self.metrics.oldest_age_seconds.set(age);
    }
}

/// How long ago a webhook with this key (a UUID v7 ingest id) arrived.
fn age_seconds(key: u128) -> f64 {
    Uuid::from_u128(key)
        .get_timestamp()
        .map(|timestamp| {
            let (seconds, nanos) = timestamp.to_unix();
            let arrived = seconds as f64 + f64::from(nanos) / 1e9;
            (shared::time::unix_seconds_now() - arrived).max(0.0)
        })
        .unwrap_or(0.0)
}
