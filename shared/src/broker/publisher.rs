//! The edge's publisher: one connection kept up by a supervisor, several
//! confirm-mode channels, publishes spread over them.

use super::connection::{bounded, close_channel, close_connection, connect, open_channel};
use super::declare::declare;
use super::publish::{PublishError, publish_confirmed};
use super::wire::envelope_properties;
use crate::config::BrokerConfig;
use crate::envelope::Envelope;
use crate::topology::Topology;
use backon::BackoffBuilder;
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection};
use prometheus_client::metrics::counter::Counter;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long every publish on a connection may be nacked before the
/// connection is replaced. RabbitMQ 3.10 can leave a channel opened while a
/// quorum queue elects a new leader (a node just died) nacking every
/// publish for good, while a new connection publishes normally; a full
/// queue (reject-publish) also nacks, and a reconnect costs it nothing.
const NACK_RUN_LIMIT: Duration = Duration::from_secs(3);

/// An open connection with its confirm-mode publishing channels.
struct Link {
    connection: Connection,
    channels: Vec<Channel>,
    /// When it was opened: the clock for `nacked_since`.
    opened: Instant,
    /// Milliseconds after `opened` at which the current run of nacks
    /// began, plus one (0: the last publish was confirmed). An atomic, not
    /// a lock: every publish updates it.
    nacked_since: AtomicU64,
    /// Set once nacks have run past [`NACK_RUN_LIMIT`]: the supervisor
    /// replaces the connection.
    worn_out: AtomicBool,
}

impl Link {
    fn healthy(&self) -> bool {
        !self.worn_out.load(Ordering::Relaxed)
            && self.connection.status().connected()
            && self.channels.iter().all(|c| c.status().connected())
    }

    /// Notes a publish's verdict: a long enough run of nacks wears the
    /// link out.
    fn observe(&self, result: &Result<(), PublishError>) {
        match result {
            Ok(()) => {
                if self.nacked_since.load(Ordering::Relaxed) != 0 {
                    self.nacked_since.store(0, Ordering::Relaxed);
                }
            }
            Err(PublishError::Nacked) => {
                let now = self.opened.elapsed().as_millis() as u64 + 1;
                let began = match self.nacked_since.compare_exchange(
                    0,
                    now,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => now,
                    Err(began) => began,
                };
                if Duration::from_millis(now.saturating_sub(began)) >= NACK_RUN_LIMIT
                    && !self.worn_out.swap(true, Ordering::Relaxed)
                {
                    tracing::warn!(
                        "every publish nacked for {NACK_RUN_LIMIT:?}: replacing the broker connection"
                    );
                }
            }
            Err(_) => {}
        }
    }
}

/// The edge's publisher: keeps a connection to the broker (reconnecting by
/// itself with backoff), and publishes persistent, mandatory messages with
/// confirms. Cheap to clone; many publishes are in flight at once, spread
/// over several channels, none waiting behind another's confirm.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<PublisherInner>,
}

struct PublisherInner {
    config: BrokerConfig,
    topology: Topology,
    link: RwLock<Option<Arc<Link>>>,
    next_channel: AtomicUsize,
    stop: CancellationToken,
    reconnects: Counter,
}

impl Publisher {
    /// Starts the publisher and its reconnecting supervisor. Returns at once;
    /// until the first connection is up, publishes fail with
    /// [`PublishError::Unavailable`] (see [`Publisher::wait_connected`]).
    pub fn start(config: BrokerConfig) -> Self {
        let topology = Topology::for_broker(&config);
        let inner = Arc::new(PublisherInner {
            config,
            topology,
            link: RwLock::new(None),
            next_channel: AtomicUsize::new(0),
            stop: CancellationToken::new(),
            reconnects: Counter::default(),
        });
        tokio::spawn(supervise(inner.clone()));
        Self { inner }
    }

    /// Connections re-established after a loss, for the metrics registry
    /// (the counter is shared: register the returned handle).
    pub fn reconnects(&self) -> Counter {
        self.inner.reconnects.clone()
    }

    /// True while a healthy connection is available for publishing.
    pub fn is_connected(&self) -> bool {
        self.current().is_some()
    }

    /// Waits up to `timeout` for the first connection; true if connected.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.is_connected() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.is_connected()
    }

    fn current(&self) -> Option<Arc<Link>> {
        let guard = self.inner.link.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().filter(|link| link.healthy()).cloned()
    }

    /// Publishes `body` unchanged to the source's work queue and waits for
    /// the broker's confirm (bounded by `PUBLISH_CONFIRM_TIMEOUT_MS`).
    pub async fn publish(&self, envelope: &Envelope, body: &[u8]) -> Result<(), PublishError> {
        let link = self.current().ok_or(PublishError::Unavailable)?;
        let index = self.inner.next_channel.fetch_add(1, Ordering::Relaxed) % link.channels.len();
        let result = publish_confirmed(
            &link.channels[index],
            &self.inner.topology.ingest_exchange(),
            envelope.source.name(),
            body,
            envelope_properties(envelope),
            self.inner.config.confirm_timeout,
        )
        .await;
        link.observe(&result);
        result
    }

    /// Stops reconnecting and closes the connection. Call after in-flight
    /// publishes have finished.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        let link = self
            .inner
            .link
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(link) = link {
            close_connection(&link.connection, "shutdown").await;
        }
    }
}

/// Keeps `inner.link` pointing at a healthy connection, reconnecting with
/// exponential backoff (50 ms up to 5 s) whenever it is lost.
async fn supervise(inner: Arc<PublisherInner>) {
    let backoff = || {
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times()
            .build()
    };
    let mut delays = backoff();
    let mut connected_before = false;
    while !inner.stop.is_cancelled() {
        match open_link(&inner.config, &inner.topology).await {
            Ok(link) => {
                tracing::info!(channels = link.channels.len(), "connected to the broker");
                if connected_before {
                    inner.reconnects.inc();
                }
                connected_before = true;
                let link = Arc::new(link);
                *inner.link.write().unwrap_or_else(|e| e.into_inner()) = Some(link.clone());
                delays = backoff();
                while link.healthy() {
                    tokio::select! {
                        _ = inner.stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
                if inner.stop.is_cancelled() {
                    return;
                }
                tracing::warn!(
                    "broker connection lost; spooling (or answering 503 without a spool) until it is back"
                );
                inner.link.write().unwrap_or_else(|e| e.into_inner()).take();
                if link.connection.status().connected() {
                    // Worn out by nacks, not lost: close it ourselves.
                    close_connection(&link.connection, "replaced").await;
                }
            }
            Err(error) => tracing::warn!(error = format!("{error:#}"), "broker unreachable"),
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
        tokio::select! {
            _ = inner.stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn open_link(config: &BrokerConfig, topology: &Topology) -> anyhow::Result<Link> {
    let connection = connect(config, "leadpipe-ingest").await?;
    let setup = open_channel(&connection).await?;
    declare(&setup, topology).await?;
    close_channel(&setup, "declared").await;
    let mut channels = Vec::with_capacity(config.publish_channels);
    for _ in 0..config.publish_channels {
        let channel = open_channel(&connection).await?;
        // Confirm mode: the broker acks each message once it has stored it
        // (for quorum queues: on a majority of nodes, fsynced).
        bounded(
            "enabling publisher confirms",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        channels.push(channel);
    }
    Ok(Link {
        connection,
        channels,
        opened: Instant::now(),
        nacked_since: AtomicU64::new(0),
        worn_out: AtomicBool::new(false),
    })
}
