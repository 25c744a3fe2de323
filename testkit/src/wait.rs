//! Bounded waits: a condition that must come true, a future that must finish.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it holds, panicking with `what` after `timeout`.
/// The deadline holds even when one check never returns (a query on a dead
/// connection, say): each check gets only the time that is left.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, check()).await {
            Ok(true) => return,
            Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(_) => panic!(
                "timed out after {timeout:?} waiting for: {what} (the last check itself never answered)"
            ),
        }
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}

/// Awaits `future` for at most `timeout`, panicking with `what` after it:
/// no test waits forever on anything.
pub async fn within<T>(what: &str, timeout: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {timeout:?} waiting for: {what}"))
}
