//! Waiting out outages: the backoff between attempts, and sleeps that end
//! early on shutdown.

use crate::liveness::Liveness;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Exponential backoff for reconnecting and for retrying a delivery while the
/// database is unavailable: 100 ms doubling to 30 s, with jitter, forever
/// (the caller stops on shutdown).
pub(crate) fn backoff() -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps for `delay` unless shutdown comes first; true if it slept.
pub(crate) async fn pause(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Waits out `delay` (beating meanwhile); false if shutdown came first.
pub(crate) async fn wait_to_retry(
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
