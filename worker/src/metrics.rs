//! The worker's Prometheus metrics, served on the admin listener.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use shared::Source;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Labels of a settled message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// Its source.
    pub source: &'static str,
    /// `persisted`, `duplicate`, `retried` or `dead_lettered`.
    pub outcome: &'static str,
}

/// Labels of what retention removed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetentionLabels {
    /// `webhook_bodies`, `webhook_log_entries`, `dead_letters` or `leads`.
    pub removed: &'static str,
}

/// Labels by source alone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// The message's source.
    pub source: &'static str,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// What an operator watches on a worker. Cheap to clone: every handle
/// shares its value with the registered metric.
#[derive(Clone)]
pub struct WorkerMetrics {
    /// Messages settled, by source and outcome.
    pub messages: Family<MessageLabels, Counter>,
    /// From a delivery reaching this worker to its settling with the broker.
    pub processing_seconds: Family<SourceLabels, Histogram, fn() -> Histogram>,
    /// From the edge accepting a webhook to its effects being committed:
    /// how far behind the workers are.
    pub end_to_end_seconds: Family<SourceLabels, Histogram, fn() -> Histogram>,
    /// Deliveries held (received, not yet settled).
    pub in_flight: Gauge,
    /// Times processing resumed after the database was unavailable.
    pub database_reconnects: Counter,
    /// Broker sessions re-established after a loss.
    pub broker_reconnects: Counter,
    /// Batches whose multi-row statements were refused and were done again
    /// one message at a time: should stay at zero; if it climbs, a
    /// message's rows break a constraint, and the log names the error.
    pub batch_fallbacks: Counter,
    /// When each source last had a message's effects committed (Unix
    /// seconds): with the edge's last-accepted time, tells a silent partner
    /// from workers that stopped.
    pub last_persisted: Family<SourceLabels, Gauge<f64, AtomicU64>>,
    /// What retention removed, by kind: shows it runs, and how much a
    /// change of the limits removes.
    pub retention_removed: Family<RetentionLabels, Counter>,
}

impl WorkerMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            messages: Family::default(),
            processing_seconds: Family::new_with_constructor(latency_histogram),
            end_to_end_seconds: Family::new_with_constructor(latency_histogram),
            in_flight: Gauge::default(),
            database_reconnects: Counter::default(),
            broker_reconnects: Counter::default(),
            batch_fallbacks: Counter::default(),
            last_persisted: Family::default(),
            retention_removed: Family::default(),
        };
        let registry = registry.sub_registry_with_prefix("leadpipe_worker");
        registry.register(
            "messages",
            "Messages settled, by source and outcome (persisted, duplicate, retried, dead_lettered)",
            metrics.messages.clone(),
        );
        registry.register(
            "processing_seconds",
            "Time from a delivery reaching the worker to its settling with the broker",
            metrics.processing_seconds.clone(),
        );
        registry.register(
            "end_to_end_seconds",
            "Time from the edge accepting a webhook to its effects being committed",
            metrics.end_to_end_seconds.clone(),
        );
        registry.register(
            "messages_in_flight",
            "Deliveries received and not yet settled",
            metrics.in_flight.clone(),
        );
        registry.register(
            "database_reconnects",
            "Times processing resumed after the database was unavailable",
            metrics.database_reconnects.clone(),
        );
        registry.register(
            "broker_reconnects",
            "Broker sessions re-established after a loss",
            metrics.broker_reconnects.clone(),
        );
        registry.register(
            "last_persisted_timestamp_seconds",
            "When each source last had a message's effects committed (Unix time)",
            metrics.last_persisted.clone(),
        );
        registry.register(
            "batch_fallbacks",
            "Batches whose multi-row statements were refused and were done again one message at a time",
            metrics.batch_fallbacks.clone(),
        );
        registry.register(
            "retention_removed",
            "What retention removed: webhook_bodies (older than RAW_BODY_RETENTION_DAYS), webhook_log_entries (older than LOG_RETENTION_DAYS)",
            metrics.retention_removed.clone(),
        );
        metrics
    }

    /// Counts a settled message and its latencies.
    pub fn settled(
        &self,
        source: Source,
        outcome: &'static str,
        held: Duration,
        lag: Option<Duration>,
    ) {
        let source = source.name();
        self.messages
            .get_or_create(&MessageLabels { source, outcome })
            .inc();
        if outcome == "persisted" {
            self.last_persisted
                .get_or_create(&SourceLabels { source })
                .set(shared::time::unix_seconds_now());
        }
        self.processing_seconds
            .get_or_create(&SourceLabels { source })
            .observe(held.as_secs_f64());
        if let Some(lag) = lag {
            self.end_to_end_seconds
                .get_or_create(&SourceLabels { source })
                .observe(lag.as_secs_f64());
        }
    }
}
