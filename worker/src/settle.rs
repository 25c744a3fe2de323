//! Settling a delivery with the broker (ack, retry later, dead-letter),
//! always after the commit that holds its effects.

use crate::metrics::WorkerMetrics;
use crate::process::Outcome;
use shared::Envelope;
use shared::broker::Delivery;

/// Tells the broker what became of a delivery, after its effects (if any)
/// are committed.
pub(crate) async fn settle(
    metrics: &WorkerMetrics,
    envelope: Envelope,
    delivery: Delivery,
    outcome: Outcome,
) {
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
