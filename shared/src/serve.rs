//! The one accept loop behind the three listeners (the edge's partner port,
//! the console, the admin listener): accept until shutdown, at most so many
//! connections at once, back off when accepting fails, then give the open
//! connections a bounded time to finish.
//!
//! What a connection is served with (TLS or not, which hyper service) stays
//! with each listener: it hands the loop a function that turns an accepted
//! stream into the future serving it, wrapped by the [`Watcher`] it is given
//! so that shutdown can wait for it.

use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long accepting pauses after it fails (typically out of file
/// descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A listener's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// After shutdown, how long open connections may take to finish their
    /// requests before the loop returns without them; zero returns at once.
    pub drain: Duration,
}

/// Accepts connections on `listener` until `shutdown`, serving each with
/// the future `serve` makes of it (on a task of its own, holding one of
/// `limits.max_connections` slots), then stops accepting, waits up to
/// `limits.drain` for the connections that `serve` registered with their
/// [`Watcher`], and returns. `name` labels its log lines.
pub async fn accept_loop<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    shutdown: &CancellationToken,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr, Watcher) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // At the connection limit, stop accepting until one closes.
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, listener = name, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let connection = serve(stream, peer, graceful.watcher());
        tokio::spawn(async move {
            connection.await;
            drop(slot);
        });
    }
    drop(listener);
    if limits.drain.is_zero() {
        // Nothing to wait for: open connections end on their own.
        return;
    }
    tracing::info!(listener = name, "draining in-flight requests");
    tokio::select! {
        // Finished requests win a tie with the deadline.
        biased;
        () = graceful.shutdown() => tracing::info!(listener = name, "all requests finished"),
        () = tokio::time::sleep(limits.drain) => {
            tracing::warn!(listener = name, "requests still open after the drain timeout; closing");
        }
    }
}
