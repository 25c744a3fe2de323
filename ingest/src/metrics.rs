//! The edge's Prometheus metrics, served on the admin listener.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use shared::broker::Publisher;
use std::sync::atomic::AtomicU64;

/// Labels of a partner request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// The partner route's source (`tata_calls`, …), or `other`.
    pub(crate) source: &'static str,
    /// The HTTP status answered.
    pub(crate) status: u16,
}

/// What an operator watches on the edge.
pub(crate) struct EdgeMetrics {
    /// Requests answered, by source and status: 201s are messages safely
    /// queued; 503s are partners told to retry.
    pub(crate) requests: Family<RequestLabels, Counter>,
    /// Time from publish to the broker's confirm: the edge's latency floor.
    pub(crate) confirm_seconds: Histogram,
    /// Publishes waiting for their confirm.
    pub(crate) publishes_in_flight: Gauge,
    /// Lead-portal requests accepted above the contract's soft limit.
    pub(crate) lead_soft_limit_exceeded: Family<SourceLabels, Counter>,
    /// When each source last had a webhook accepted (Unix seconds): the
    /// partner-silence alert's input. Starts at the edge's start time, so a
    /// source silent since a restart is still seen.
    pub(crate) last_accepted: Family<SourceLabels, Gauge<f64, AtomicU64>>,
    /// The spool.
    pub(crate) spool: SpoolMetrics,
}

/// The spool's state: how much waits on this edge's disk for the broker.
#[derive(Clone, Default)]
pub(crate) struct SpoolMetrics {
    /// Webhooks answered 201 from the spool (the broker could not confirm).
    pub(crate) spooled: Counter,
    /// Spooled webhooks since published with a confirm and deleted.
    pub(crate) drained: Counter,
    /// Webhooks waiting in the spool.
    pub(crate) messages: Gauge,
    /// Bytes they take.
    pub(crate) bytes: Gauge,
    /// Age of the oldest (0 when empty).
    pub(crate) oldest_age_seconds: Gauge<f64, AtomicU64>,
    /// `SPOOL_MAX_BYTES` (0: spooling off), so alerts can tell how full.
    pub(crate) capacity_bytes: Gauge,
}

impl SpoolMetrics {
    /// Shows what `spool` holds now (messages and bytes).
    pub(crate) fn show_counts(&self, spool: &crate::spool::Spool) {
        self.messages.set(spool.len() as i64);
        self.bytes.set(spool.bytes() as i64);
    }
}

/// A source, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SourceLabels {
    /// The source's name.
    pub(crate) source: &'static str,
}

impl EdgeMetrics {
    /// Counts a partner request by its answer; a success is an accepted
    /// webhook and moves the source's last-accepted time.
    pub(crate) fn answered(&self, source: &'static str, status: hyper::StatusCode) {
        self.requests
            .get_or_create(&RequestLabels {
                source,
                status: status.as_u16(),
            })
            .inc();
        if status.is_success() && source != OTHER {
            self.last_accepted
                .get_or_create(&SourceLabels { source })
                .set(shared::time::unix_seconds_now());
        }
    }

    /// Counts a lead-portal request accepted above the soft limit.
    pub(crate) fn soft_limit_exceeded(&self, source: shared::Source) {
        self.lead_soft_limit_exceeded
            .get_or_create(&SourceLabels {
                source: source.name(),
            })
            .inc();
    }

    /// Creates the metrics and registers them, with the publisher's
    /// reconnect counter, in `registry`.
    pub(crate) fn register(registry: &mut Registry, publisher: &Publisher) -> Self {
        let metrics = Self {
            requests: Family::default(),
            // 0.25 ms to about 4 s.
            confirm_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            publishes_in_flight: Gauge::default(),
            lead_soft_limit_exceeded: Family::default(),
            last_accepted: Family::default(),
            spool: SpoolMetrics::default(),
        };
        let started = shared::time::unix_seconds_now();
        for source in shared::Source::ALL {
            if *source != shared::Source::WhatsappReplies {
                metrics
                    .last_accepted
                    .get_or_create(&SourceLabels {
                        source: source.name(),
                    })
                    .set(started);
            }
        }
        let registry = registry.sub_registry_with_prefix("leadpipe_ingest");
        registry.register(
            "requests",
            "Partner requests answered, by source and HTTP status",
            metrics.requests.clone(),
        );
        registry.register(
            "publish_confirm_seconds",
            "Time from publishing a message to the broker's confirm",
            metrics.confirm_seconds.clone(),
        );
        registry.register(
            "lead_soft_limit_exceeded",
            "Lead-portal requests accepted above the contract's soft limit, by partner",
            metrics.lead_soft_limit_exceeded.clone(),
        );
        registry.register(
            "last_accepted_timestamp_seconds",
            "When each source last had a webhook accepted (Unix time; the edge's start until the first)",
            metrics.last_accepted.clone(),
        );
        registry.register(
            "publishes_in_flight",
            "Publishes waiting for the broker's confirm",
            metrics.publishes_in_flight.clone(),
        );
        registry.register(
            "spooled",
            "Webhooks answered 201 from the spool because the broker could not confirm them",
            metrics.spool.spooled.clone(),
        );
        registry.register(
            "spool_drained",
            "Spooled webhooks since published with the broker's confirm and deleted from the spool",
            metrics.spool.drained.clone(),
        );
        registry.register(
            "spool_messages",
            "Webhooks waiting in the spool for the broker",
            metrics.spool.messages.clone(),
        );
        registry.register(
            "spool_bytes",
            "Bytes the spooled webhooks take (SPOOL_MAX_BYTES bounds it)",
            metrics.spool.bytes.clone(),
        );
        registry.register(
            "spool_capacity_bytes",
            "SPOOL_MAX_BYTES: the spool's bound (0: spooling is off)",
            metrics.spool.capacity_bytes.clone(),
        );
        registry.register(
            "spool_oldest_age_seconds",
            "Age of the oldest webhook waiting in the spool (0 when it is empty)",
            metrics.spool.oldest_age_seconds.clone(),
        );
        registry.register(
            "broker_reconnects",
            "Broker connections re-established after a loss",
            publisher.reconnects(),
        );
        metrics
    }
}

/// The label of requests to no partner route.
const OTHER: &str = "other";

/// The source a partner request went to, as a metric label; [`OTHER`]
/// for paths of no partner.
pub(crate) fn source_label(found: Option<&crate::partners::Found>) -> &'static str {
    match found {
        Some(crate::partners::Found::Route(partner) | crate::partners::Found::Unknown(partner)) => {
            partner.source.name()
        }
        None => OTHER,
    }
}
